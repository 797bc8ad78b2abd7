"""Index-mask PNG reading (P/L only, clear errors), atomic paletted writing and the DAVIS palette."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.io.errors import MaskFileNotFoundError, MaskFormatError
from s3.io.palette import DAVIS_PALETTE, palette_colours, read_index_mask, read_palette, voc_palette, write_index_mask


def test_round_trip_keeps_ids_and_uses_the_davis_palette(tmp_path: Path) -> None:
    mask = np.array([[0, 1, 2], [3, 255, 7]], dtype=np.uint8)
    path = write_index_mask(tmp_path / "a" / "00000.png", mask)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.getpalette()[3:6] == [128, 0, 0]  # id 1 of the VOC palette
    np.testing.assert_array_equal(read_index_mask(path), mask)
    assert read_palette(path)[: len(DAVIS_PALETTE)] == DAVIS_PALETTE
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["00000.png"]


def test_grayscale_is_accepted_and_rgb_rejected(tmp_path: Path) -> None:
    Image.fromarray(np.full((2, 2), 3, dtype=np.uint8), mode="L").save(tmp_path / "gray.png")
    assert read_index_mask(tmp_path / "gray.png").max() == 3
    Image.fromarray(np.zeros((2, 2, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(MaskFormatError, match=r"rgb\.png: expected a single-channel index PNG.*got mode RGB"):
        read_index_mask(tmp_path / "rgb.png")


def test_missing_unreadable_and_wrong_size(tmp_path: Path) -> None:
    with pytest.raises(MaskFileNotFoundError, match="nope.png: file not found"):
        read_index_mask(tmp_path / "nope.png")
    assert issubclass(MaskFileNotFoundError, FileNotFoundError) and issubclass(MaskFileNotFoundError, ValueError)
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(MaskFormatError, match="junk.png: not a readable image"):
        read_index_mask(tmp_path / "junk.png")
    write_index_mask(tmp_path / "m.png", np.zeros((4, 5), dtype=np.uint8))
    with pytest.raises(MaskFormatError, match=r"m\.png: size 5x4 \(WxH\) differs from the expected 6x4"):
        read_index_mask(tmp_path / "m.png", expected_hw=(4, 6))


def test_bad_masks_are_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(MaskFormatError, match="0..255"):
        write_index_mask(tmp_path / "x.png", np.array([[300]]))
    with pytest.raises(MaskFormatError, match="H W"):
        write_index_mask(tmp_path / "x.png", np.zeros((2, 2, 3), dtype=np.uint8))
    assert not (tmp_path / "x.png").exists()


def test_failed_write_leaves_neither_target_nor_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "00000.png"
    write_index_mask(target, np.ones((3, 3), dtype=np.uint8))
    before = target.read_bytes()

    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        Path(str(fp)).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_index_mask(target, np.zeros((3, 3), dtype=np.uint8))
    assert target.read_bytes() == before  # the old complete file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["00000.png"]


def test_davis_palette_colours_and_short_palettes() -> None:
    colours = voc_palette(8)
    assert colours.tolist() == [
        [0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128], [128, 128, 128]
    ]  # fmt: skip
    assert voc_palette()[255].tolist() == [224, 224, 192] and len(DAVIS_PALETTE) == 768
    np.testing.assert_array_equal(palette_colours(), voc_palette())
    short = palette_colours(bytes([1, 2, 3, 4, 5, 6]))  # a 2-colour palette from some input PNG
    assert short.shape == (256, 3) and short[1].tolist() == [4, 5, 6] and not short[2:].any()


def test_custom_palette_round_trip(tmp_path: Path) -> None:
    palette = bytes(range(256)) * 3
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = write_index_mask(tmp_path / "m.png", mask, palette)
    assert read_palette(path)[:768] == palette
    np.testing.assert_array_equal(read_index_mask(path, expected_hw=(3, 4)), mask)
    Image.fromarray(mask, mode="L").save(tmp_path / "gray.png")
    assert read_palette(tmp_path / "gray.png") is None
