"""A fast path for the only PNGs S3 reads in bulk: 8-bit, non-interlaced palette or grayscale index masks.

Decoding a 480p mask with PIL costs about a millisecond, nearly all of it zlib inflating ~400 KB of
highly repetitive rows; libdeflate (the `deflate` package) inflates the same stream about 9x faster when
the output size is known, which the PNG header gives. Rows must use filter type None or Sub (the only
ones that unfilter without a dependency between rows); anything else -- other bit depths or colour
types, interlacing, other filters, a damaged stream -- returns None so the caller falls back to PIL,
which then also produces the error message. For the PNGs it accepts, the result is exactly PIL's array.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

try:  # optional accelerator; the standard zlib gives the same bytes, only slower
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - depends on the environment
    _libdeflate = None

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GRAY, _PALETTE = 0, 3
_FILTER_NONE, _FILTER_SUB = 0, 1
_DECODE_ERRORS: tuple[type[Exception], ...] = (struct.error, zlib.error, ValueError) + (
    (_libdeflate.DeflateError,) if _libdeflate is not None else ()
)


def _inflate(data: bytes, size: int) -> bytes:
    if _libdeflate is not None:
        return _libdeflate.zlib_decompress(data, size)
    return zlib.decompress(data, bufsize=size)


def decode_index_png(data: bytes) -> np.ndarray | None:
    """H W uint8 pixel values of an 8-bit palette/grayscale PNG, or None when the fast path does not apply."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    position = len(PNG_SIGNATURE)
    header: tuple[int, ...] | None = None
    compressed: list[bytes] = []
    try:
        while position + 8 <= len(data):
            (length,) = struct.unpack_from(">I", data, position)
            kind = data[position + 4 : position + 8]
            body_end = position + 8 + length
            if body_end + 4 > len(data):
                return None
            body = data[position + 8 : body_end]
            if kind in (b"IHDR", b"IDAT"):
                (crc,) = struct.unpack_from(">I", data, body_end)
                if zlib.crc32(body, zlib.crc32(kind)) != crc:
                    return None
            if kind == b"IHDR":
                header = struct.unpack(">IIBBBBB", body)
            elif kind == b"IDAT":
                compressed.append(body)
            elif kind == b"IEND":
                break
            position = body_end + 4
        if header is None or not compressed:
            return None
        width, height, bit_depth, colour_type, compression, filter_method, interlace = header
        if bit_depth != 8 or colour_type not in (_GRAY, _PALETTE) or compression or filter_method or interlace:
            return None
        stride = width + 1  # one filter byte per row
        raw = _inflate(b"".join(compressed), height * stride)
    except _DECODE_ERRORS:
        return None
    if len(raw) != height * stride:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride)
    filters = rows[:, 0]
    pixels = rows[:, 1:].copy()
    sub_rows = filters == _FILTER_SUB
    if not np.all(sub_rows | (filters == _FILTER_NONE)):
        return None
    if sub_rows.any():
        # Sub: each byte adds the reconstructed byte to its left (mod 256), i.e. a uint8 running sum.
        pixels[sub_rows] = np.cumsum(pixels[sub_rows], axis=1, dtype=np.uint8)
    return pixels
