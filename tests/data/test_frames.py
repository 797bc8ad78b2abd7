"""The data layer reads index masks through `s3.io.palette` and reports faults in its own one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.frames import load_index_mask
from s3.io.palette import write_index_mask


def test_missing_and_undecodable_masks_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError, match=r"gone\.png: mask file not found"):
        load_index_mask(tmp_path / "gone.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"junk\.png: cannot decode mask \(") as caught:
        load_index_mask(tmp_path / "junk.png")
    assert "\n" not in str(caught.value)
    Image.new("RGBA", (4, 4)).save(tmp_path / "rgba.png")
    with pytest.raises(DataError, match=r"rgba\.png: mask mode 'RGBA', expected a paletted \('P'\) or 'L' index PNG"):
        load_index_mask(tmp_path / "rgba.png")


def test_paletted_masks_give_ids_and_resize_nearest_like_pil(tmp_path: Path, fixtures_dir: Path) -> None:
    mask = np.arange(20, dtype=np.uint8).reshape(4, 5)
    write_index_mask(tmp_path / "p.png", mask, palette=bytes(range(256)) * 3)  # colours unrelated to ids
    np.testing.assert_array_equal(load_index_mask(tmp_path / "p.png"), mask)
    narrow = fixtures_dir / "cutie_examples" / "masks" / "judo" / "00005.png"  # 853 px wide, frames are 854
    with Image.open(narrow) as image:
        expected = np.asarray(image.resize((854, 480), Image.Resampling.NEAREST))
    resized = load_index_mask(narrow, (480, 854))
    assert resized.dtype == np.uint8 and resized.shape == (480, 854)
    np.testing.assert_array_equal(resized, expected)
