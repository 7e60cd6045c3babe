"""Checks that bytes are a readable image of sane size, and shrinking for the endpoint.

Pillow is used because it is the format-aware decoder the model side uses too; the checks
decode the pixels so that a truncated file fails here, with the image's name, and not
later inside the model container.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from handlers.common.errors import (
    CorruptImageError,
    DecompressionBombError,
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
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
        raise ImageTooLargeError(f"{name} is {len(data):,} bytes, above the limit of {max_bytes:,} bytes")
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
        raise DecompressionBombError(f"{name}: {exc}") from None
    with image:
        if image.format not in CONTENT_TYPES:
            raise NotAnImageError(f"{name} is a {image.format} image; accepted: {', '.join(CONTENT_TYPES)}")
        width, height = image.size
        if width * height > max_pixels:
            raise DecompressionBombError(
                f"{name} declares {width}x{height} = {width * height:,} pixels, above the limit of "
                f"{max_pixels:,} (a decompression bomb or an unreasonably large image)"
            )
        info = ImageInfo(image.format, CONTENT_TYPES[image.format], width, height, len(data))
        try:
            _check_complete(image)
        except Image.DecompressionBombError as exc:
            raise DecompressionBombError(f"{name}: {exc}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptImageError(f"{name} is truncated or corrupt: {exc}") from None
        return info


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
