"""Image checks: readable, complete, of sane size."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from handlers.common.errors import (
    CorruptImageError,
    DecompressionBombError,
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
)
from handlers.common.images import inspect_image, shrink_for_endpoint
from tests.helpers import make_image, make_noise_image, png_header_only

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 10_000_000}


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_a_readable_image_is_described(fmt: str, content_type: str) -> None:
    data = make_image(fmt, (40, 30))
    info = inspect_image(data, **LIMITS)
    assert (info.format, info.content_type, info.width, info.height, info.size_bytes) == (
        fmt,
        content_type,
        40,
        30,
        len(data),
    )


def test_empty_bytes() -> None:
    with pytest.raises(EmptyImageError, match="s3://b/k is empty"):
        inspect_image(b"", name="s3://b/k", **LIMITS)


def test_text_is_not_an_image() -> None:
    with pytest.raises(NotAnImageError, match="not an image"):
        inspect_image(b"hello, this is a text file\n", **LIMITS)


def test_an_image_format_the_endpoint_does_not_take_is_rejected() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="ICO")
    with pytest.raises(NotAnImageError, match="ICO"):
        inspect_image(out.getvalue(), **LIMITS)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_image_is_corrupt(fmt: str) -> None:
    data = make_noise_image(fmt, (64, 64))
    with pytest.raises(CorruptImageError, match="truncated or corrupt"):
        inspect_image(data[: len(data) // 2], **LIMITS)


def test_bytes_over_the_limit() -> None:
    with pytest.raises(ImageTooLargeError, match="above the limit of 100 bytes"):
        inspect_image(make_image("PNG"), max_bytes=100, max_pixels=10_000)


# 12,000 px square is under Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS), 30,000 is above it: Pillow
# then refuses at open, and the message must still name the project's limit, not Pillow's.
@pytest.mark.parametrize("side", [4_000, 12_000, 30_000, 100_000])
def test_a_decompression_bomb_is_rejected_with_the_configured_limit(side: int) -> None:
    bomb = png_header_only(side, side)
    assert len(bomb) < 2_000
    with pytest.raises(DecompressionBombError) as raised:
        inspect_image(bomb, name="s3://b/bomb.png", **LIMITS)
    message = str(raised.value)
    assert message.startswith(f"s3://b/bomb.png declares {side}x{side} = " if side < 13_000 else "s3://b/bomb.png")
    assert f"{side * side:,} pixels, above the limit of 10,000,000 set by MAX_IMAGE_PIXELS" in message
    assert f"{Image.MAX_IMAGE_PIXELS * 2:,}" not in message and str(Image.MAX_IMAGE_PIXELS * 2) not in message


def test_bytes_over_the_limit_name_the_setting() -> None:
    with pytest.raises(ImageTooLargeError, match="above the limit of 100 bytes set by MAX_IMAGE_BYTES"):
        inspect_image(make_image("PNG"), max_bytes=100, max_pixels=10_000)


def test_shrinking_for_the_endpoint_fits_the_limit_and_keeps_an_image() -> None:
    big = make_noise_image("PNG", (1500, 1200))
    small, content_type = shrink_for_endpoint(big, max_bytes=300_000)
    assert content_type == "image/jpeg"
    assert len(small) <= 300_000 < len(big)
    with Image.open(io.BytesIO(small)) as image:
        assert max(image.size) <= 1024


def test_a_png_with_a_damaged_chunk_is_corrupt() -> None:
    data = bytearray(make_noise_image("PNG", (64, 64)))
    data[len(data) // 2] ^= 0xFF  # inside the pixel data: its chunk's CRC no longer matches
    with pytest.raises(CorruptImageError, match="truncated or corrupt"):
        inspect_image(bytes(data), **LIMITS)


@pytest.mark.parametrize("keep", [300, 2000])
def test_an_image_cut_off_inside_its_header_is_corrupt_not_an_os_error(keep: int) -> None:
    # a real photo's first bytes: Pillow identifies a PNG, then fails reading its header ("Truncated File Read")
    from imageflow.paths import SAMPLES_DIR

    data = (SAMPLES_DIR / "chelsea.png").read_bytes()[:keep]
    with pytest.raises(CorruptImageError, match="truncated or corrupt"):
        inspect_image(data, max_bytes=10**7, max_pixels=10**8, name="cut.png")
