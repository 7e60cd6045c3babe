"""Checks that bytes are a readable image of sane size, and shrinking for the endpoint.

Pillow is used because it is the format-aware decoder the model side uses too; the checks
decode the pixels so that a truncated file fails here, with the image's name, and not
later inside the model container.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from handlers.common.errors import (
    CorruptImageError,
    DecompressionBombError,
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    too_many_bytes_message,
    too_many_pixels_message,
)

# Formats a classification endpoint is expected to decode (content types SageMaker sees).
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int
    size_bytes: int


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int, name: str = "the image") -> ImageInfo:
    """Validate ``data`` as a complete image within the limits and describe it.

    Raises EmptyImageError, ImageTooLargeError, NotAnImageError, DecompressionBombError or
    CorruptImageError, each naming ``name``.
    """
    if not data:
        raise EmptyImageError(f"{name} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLargeError(too_many_bytes_message(name, len(data), max_bytes))
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below decides; Pillow's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise NotAnImageError(
            f"{name} is not an image Pillow can identify (accepted: {', '.join(CONTENT_TYPES)})"
        ) from None
    except Image.DecompressionBombError as exc:
        # Pillow refuses images above twice ITS limit before we see the size: report ours instead
        raise DecompressionBombError(too_many_pixels_message(name, pillow_pixel_count(exc), max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # identified, but cut off inside its header (e.g. "Truncated File Read" in a PNG's first chunks)
        raise CorruptImageError(f"{name} is truncated or corrupt: {exc}") from None
    with image:
        if image.format not in CONTENT_TYPES:
            raise NotAnImageError(f"{name} is a {image.format} image; accepted: {', '.join(CONTENT_TYPES)}")
        width, height = image.size
        if width * height > max_pixels:
            raise DecompressionBombError(too_many_pixels_message(name, width * height, max_pixels, f"{width}x{height}"))
        info = ImageInfo(image.format, CONTENT_TYPES[image.format], width, height, len(data))
        try:
            _check_complete(image)
        except Image.DecompressionBombError as exc:
            # a frame (GIF, TIFF page) larger than the declared size
            raise DecompressionBombError(too_many_pixels_message(name, pillow_pixel_count(exc), max_pixels)) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptImageError(f"{name} is truncated or corrupt: {exc}") from None
        return info


_PILLOW_PIXELS = re.compile(r"Image size \((\d+) pixels\)")


def pillow_pixel_count(exc: Exception) -> int | None:
    """The pixel count in Pillow's DecompressionBombError message, when it has one.

    Pillow refuses an image above twice its own limit before the caller sees the size; the caller reports
    its configured limit instead, with the size Pillow read.
    """
    match = _PILLOW_PIXELS.search(str(exc))
    return int(match.group(1)) if match else None


def _check_complete(image: Image.Image) -> None:
    """Read the whole image stream, as cheaply as the format allows.

    The model decodes the pixels anyway; this only has to prove the file is complete and
    undamaged. PNG: every chunk's CRC up to IEND, without inflating the pixels. JPEG: a
    decode at 1/8 scale (libjpeg still reads every scan). Other formats: a full decode.
    """
    if image.format == "PNG":
        image.verify()
        return
    if image.format == "JPEG":
        image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
    image.load()


def shrink_for_endpoint(data: bytes, max_bytes: int, longest_side: int = 1024) -> tuple[bytes, str]:
    """Re-encode an image as JPEG no larger than ``longest_side`` so it fits ``max_bytes``.

    Used only when the original exceeds the endpoint's request limit: classification
    models look at a few hundred pixels, so the prediction is unaffected in practice.
    """
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    side = longest_side
    while True:
        copy = rgb.copy()
        copy.thumbnail((side, side))
        out = io.BytesIO()
        copy.save(out, format="JPEG", quality=90)
        if out.tell() <= max_bytes or side <= 64:
            return out.getvalue(), "image/jpeg"
        side //= 2
