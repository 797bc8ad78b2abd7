from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.frames import load_index_mask, load_rgb
from s3.data.readers.davis import read_davis
from s3.data.readers.folder import read_vos_folder
from s3.data.registry import DatasetSpec, read_train_dataset
from tests.data.conftest import write_vos_video


def test_corrupt_jpeg_and_rgb_mask_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DataError, match=r"bad\.jpg: cannot decode image"):
        load_rgb(tmp_path / "bad.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match=r"rgb\.png: mask mode 'RGB'"):
        load_index_mask(tmp_path / "rgb.png")
    with pytest.raises(DataFileNotFoundError, match=r"gone\.jpg: frame file not found"):
        load_rgb(tmp_path / "gone.jpg")


def test_mask_size_mismatch_is_resized_nearest(tmp_path: Path) -> None:
    mask = np.zeros((4, 5), np.uint8)
    mask[:, 3:] = 2
    Image.fromarray(mask, mode="L").save(tmp_path / "m.png")
    resized = load_index_mask(tmp_path / "m.png", (4, 6))
    assert resized.shape == (4, 6) and set(np.unique(resized).tolist()) == {0, 2}


def test_mask_without_frame_and_missing_listed_video(tmp_path: Path) -> None:
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    masks = np.zeros((2, 8, 8), np.uint8)
    write_vos_video(tmp_path / "JPEGImages", tmp_path / "Annotations", "v", frames, masks)
    (tmp_path / "JPEGImages/v/00001.jpg").unlink()
    with pytest.raises(DataError, match=r"Annotations/v/00001\.png: mask has no frame"):
        read_vos_folder("x", tmp_path / "JPEGImages", tmp_path / "Annotations")
    (tmp_path / "JPEGImages/480p").mkdir()
    (tmp_path / "ImageSets/2017").mkdir(parents=True)
    (tmp_path / "ImageSets/2017/val.txt").write_text("absent\n")
    with pytest.raises(DataFileNotFoundError, match="absent: video folder listed"):
        read_davis(tmp_path, image_set="val", resolution="480p")


def test_malformed_empty_mask_json(tmp_path: Path) -> None:
    frames = np.zeros((1, 8, 8, 3), np.uint8)
    write_vos_video(
        tmp_path / "MOSE/train/JPEGImages", tmp_path / "MOSE/train/Annotations", "v", frames, frames[..., 0]
    )
    (tmp_path / "empty.json").write_text("")
    spec = DatasetSpec(name="mose", empty_masks=str(tmp_path / "empty.json"))
    with pytest.raises(DataError, match=r"empty\.json: empty-frame list is not valid JSON"):
        read_train_dataset(tmp_path, spec)
