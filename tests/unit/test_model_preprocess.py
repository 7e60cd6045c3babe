"""Preprocessing: any decodable image -> (1, 3, 224, 224) float32 normalised like torchvision; junk -> typed error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imageflow.endpoint.model import (
    CROP,
    ImageClassifier,
    ImageDecodeError,
    ModelLoadError,
    max_image_pixels,
    preprocess,
    softmax,
)
from tests.helpers import png_header_only


def encode(img: Image.Image, fmt: str = "PNG", **save_args: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **save_args)
    return buf.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1), "RGB")


@pytest.mark.parametrize(
    ("mode", "fmt", "size"),
    [
        ("RGB", "PNG", (640, 480)),
        ("RGB", "JPEG", (480, 640)),
        ("RGBA", "PNG", (300, 300)),
        ("L", "PNG", (256, 400)),
        ("P", "GIF", (500, 260)),
        ("RGB", "PNG", (40, 30)),  # smaller than the crop: upsampled, never an error
    ],
)
def test_preprocess_shape_and_dtype(mode: str, fmt: str, size: tuple[int, int]) -> None:
    data = encode(gradient(*size).convert(mode), fmt)
    x = preprocess(data)
    assert x.shape == (1, 3, CROP, CROP)
    assert x.dtype == np.float32
    assert x.flags["C_CONTIGUOUS"]
    assert np.isfinite(x).all()


def test_preprocess_applies_imagenet_mean_and_std() -> None:
    # a uniform mid-grey image normalises to (0.5 - mean) / std in each channel
    data = encode(Image.new("RGB", (300, 300), (128, 128, 128)))
    x = preprocess(data)
    expected = (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x[0].mean(axis=(1, 2)), expected, atol=1e-5)


def test_preprocess_follows_exif_orientation() -> None:
    upright = gradient(300, 400)
    # the same pixels stored rotated, with EXIF Orientation=6 ("rotate 90 CW to display")
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = preprocess(encode(stored, "PNG", exif=exif))
    np.testing.assert_allclose(rotated, preprocess(encode(upright)), atol=1e-5)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", encode(gradient(64, 64))[:60], b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["empty", "text", "truncated-png", "png-signature-only"],
)
def test_undecodable_bytes_raise_typed_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError) as info:
        preprocess(data)
    assert "BytesIO" not in str(info.value)  # messages speak about the body, not Python internals


def test_softmax_rows_sum_to_one_and_keep_order() -> None:
    p = softmax(np.array([[1000.0, 1001.0, 999.0]], dtype=np.float32))  # large logits must not overflow
    assert p.shape == (1, 3)
    assert p.sum() == pytest.approx(1.0)
    assert list(np.argsort(-p[0])) == [1, 0, 2]


@pytest.mark.parametrize("side", [8_000, 30_000])  # under and over Pillow's own hard limit (about 179 M pixels)
def test_an_image_over_the_pixel_limit_names_the_configured_limit(side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "1000000")
    max_image_pixels.cache_clear()
    try:
        with pytest.raises(ImageDecodeError) as raised:
            preprocess(png_header_only(side, side))
    finally:
        max_image_pixels.cache_clear()
    message = str(raised.value)
    assert f"{side * side:,} pixels, above the limit of 1,000,000 set by MAX_IMAGE_PIXELS" in message
    assert "178956970" not in message and "178,956,970" not in message


def test_a_bad_pixel_limit_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "lots")
    max_image_pixels.cache_clear()
    try:
        with pytest.raises(ModelLoadError, match="MAX_IMAGE_PIXELS must be a positive whole number"):
            ImageClassifier.from_files()
    finally:
        max_image_pixels.cache_clear()
