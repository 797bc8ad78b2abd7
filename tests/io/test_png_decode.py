"""The fast index-PNG decoder gives exactly PIL's pixels, or declines (None) so PIL takes over."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.io import png_decode
from s3.io.palette import read_index_mask, write_index_mask
from s3.io.png_decode import decode_index_png


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def _png(pixels: np.ndarray, filters: list[int], colour_type: int = 3, bit_depth: int = 8) -> bytes:
    """A PNG whose rows are stored with the given filter types (0 None, 1 Sub, 2 Up)."""
    height, width = pixels.shape
    rows = []
    for y, kind in enumerate(filters):
        row = pixels[y].astype(np.int64)
        if kind == 1:
            row = (row - np.concatenate([[0], row[:-1]])) % 256
        elif kind == 2:
            row = (row - (pixels[y - 1].astype(np.int64) if y else 0)) % 256
        rows.append(bytes([kind]) + row.astype(np.uint8).tobytes())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    palette = _chunk(b"PLTE", bytes(range(256)) * 3) if colour_type == 3 else b""
    return (
        png_decode.PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + palette
        + _chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + _chunk(b"IEND", b"")
    )


@pytest.fixture(params=["libdeflate", "zlib"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "zlib":
        monkeypatch.setattr(png_decode, "_libdeflate", None)
    elif png_decode._libdeflate is None:
        pytest.fail("the `deflate` package (libdeflate) is expected in the environment")
    return request.param


def test_fixture_masks_decode_exactly_like_pil(fixtures_dir: Path, inflater: str) -> None:
    files = sorted((fixtures_dir / "davis_osvos").glob("*/*.png"))[::7] + sorted(
        (fixtures_dir / "cutie_examples" / "masks").glob("*/*.png")
    )
    for path in files:
        decoded = decode_index_png(path.read_bytes())
        assert decoded is not None, path
        np.testing.assert_array_equal(decoded, np.array(Image.open(path)))


def test_written_masks_round_trip(tmp_path: Path, inflater: str) -> None:
    mask = np.random.default_rng(1).integers(0, 7, size=(37, 53)).astype(np.uint8)
    write_index_mask(tmp_path / "p.png", mask)  # full palette: 8-bit
    np.testing.assert_array_equal(decode_index_png((tmp_path / "p.png").read_bytes()), mask)
    Image.fromarray(mask, mode="L").save(tmp_path / "l.png")  # PIL may pick Paeth/Up filters for grayscale
    decoded = decode_index_png((tmp_path / "l.png").read_bytes())
    assert decoded is None or np.array_equal(decoded, mask)
    np.testing.assert_array_equal(read_index_mask(tmp_path / "l.png"), mask)


def test_low_bit_depth_palette_goes_through_pil(tmp_path: Path) -> None:
    mask = np.random.default_rng(3).integers(0, 7, size=(9, 11)).astype(np.uint8)
    image = Image.fromarray(mask, mode="P")
    image.putpalette(bytes(range(48)))  # 16 colours: PIL stores 4 bits per pixel
    image.save(tmp_path / "four_bit.png")
    assert decode_index_png((tmp_path / "four_bit.png").read_bytes()) is None
    np.testing.assert_array_equal(read_index_mask(tmp_path / "four_bit.png"), mask)


def test_sub_filtered_rows_are_unfiltered(inflater: str) -> None:
    pixels = np.random.default_rng(2).integers(0, 256, size=(5, 9)).astype(np.uint8)
    np.testing.assert_array_equal(decode_index_png(_png(pixels, [1, 0, 1, 1, 0])), pixels)
    np.testing.assert_array_equal(decode_index_png(_png(pixels, [0] * 5, colour_type=0)), pixels)


def test_declines_what_it_does_not_handle(tmp_path: Path) -> None:
    pixels = np.arange(20, dtype=np.uint8).reshape(4, 5)
    assert decode_index_png(_png(pixels, [0, 2, 0, 0])) is None  # Up filter
    assert decode_index_png(_png(pixels, [0] * 4, colour_type=2)) is None  # RGB
    assert decode_index_png(b"GIF89a...") is None
    broken = bytearray(_png(pixels, [0] * 4))
    broken[-20] ^= 0xFF  # corrupt the IDAT payload or its CRC
    assert decode_index_png(bytes(broken)) is None
    assert decode_index_png(_png(pixels, [0] * 4)[:-30]) is None  # truncated


def test_reader_falls_back_to_pil_for_other_filters(tmp_path: Path) -> None:
    pixels = np.arange(20, dtype=np.uint8).reshape(4, 5)
    (tmp_path / "up.png").write_bytes(_png(pixels, [0, 2, 2, 0]))
    np.testing.assert_array_equal(read_index_mask(tmp_path / "up.png"), pixels)
