"""Helpers shared by the tests (import from here, never from another test module or from conftest)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "samples"


def make_image(
    fmt: str = "PNG", size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    """A small real image in ``fmt``."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def make_noise_image(fmt: str, size: tuple[int, int]) -> bytes:
    """An incompressible image, to reach a given byte size with few pixels."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, format=fmt)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares huge dimensions in a few bytes: the shape of a decompression bomb."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
