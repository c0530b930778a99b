"""Byte-level image fixtures shared by the tests: valid, truncated, bomb-like, not-an-image."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from swordnet.demo.samples import artwork


def jpeg_bytes(seed: int = 1, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    artwork(seed).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg_bytes()
    return data[: len(data) // 2]


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` pixels (a decompression bomb)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


NOT_AN_IMAGE = b"%PDF-1.4\nthis is a text document, not a picture\n"


def animated(format_name: str, frames: list[Image.Image]) -> bytes:
    """An animated GIF or WebP of ``frames``."""
    buffer = io.BytesIO()
    frames[0].save(buffer, format_name, save_all=True, append_images=frames[1:], duration=100,
                   loop=0)
    return buffer.getvalue()


def encoded(image: Image.Image, format_name: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name)
    return buffer.getvalue()
