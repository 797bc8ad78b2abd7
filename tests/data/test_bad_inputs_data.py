"""Bad data inputs that used to give silent wrong results: frame order, stray masks, lossy masks, size
mismatches, empty splits, impossible sizes, worker errors and what `--verify` checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from s3.data.datamodule import CropOptions, VOSDataModule
from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.frames import load_index_mask
from s3.data.inspect import verify_videos
from s3.data.naming import frame_order
from s3.data.readers.davis import read_image_set
from s3.data.readers.folder import read_vos_folder
from s3.errors import S3Error
from tests.data.conftest import write_vos_video


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message, message
    assert isinstance(error, S3Error)
    return message


def test_frames_numbered_without_padding_are_read_in_time_order(tmp_path: Path) -> None:
    frames = np.zeros((12, 8, 8, 3), np.uint8)
    masks = np.zeros((12, 8, 8), np.uint8)
    stems = [str(t + 1) for t in range(12)]  # 1 .. 12
    write_vos_video(tmp_path / "JPEGImages", tmp_path / "Annotations", "v", frames, masks, stems=stems)
    (record,) = read_vos_folder("mine", tmp_path / "JPEGImages", tmp_path / "Annotations")
    assert record.frame_files == [f"{t}.jpg" for t in range(1, 13)]
    assert [record.mask_files[p] for p in range(12)] == [f"{t}.png" for t in range(1, 13)]


def test_mask_inside_the_frame_folder_and_double_numbers_are_refused(tmp_path: Path) -> None:
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    write_vos_video(tmp_path / "JPEGImages", None, "v", frames, None)
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(tmp_path / "JPEGImages/v/00000.png")
    with pytest.raises(DataError) as caught:
        read_vos_folder("mine", tmp_path / "JPEGImages", None)
    message = one_line(caught.value)
    assert message.startswith(f"{tmp_path / 'JPEGImages/v'}: frame files of more than one kind (3 .jpg, 1 .png")
    assert "00000.png" in message
    with pytest.raises(DataError, match=r": 01\.jpg and 1\.jpg number the same frame; rename one of them$"):
        frame_order(tmp_path, ["1.jpg", "01.jpg", "2.jpg"])
    assert frame_order(tmp_path, ["b10.JPG", "b9.jpeg", "b100.jpg"]) == ["b9.jpeg", "b10.JPG", "b100.jpg"]


def test_lossy_and_noisy_masks_are_refused(tmp_path: Path) -> None:
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    Image.fromarray(mask, mode="L").save(tmp_path / "mask.jpg", quality=60)
    with pytest.raises(DataError) as caught:
        load_index_mask(tmp_path / "mask.jpg")
    assert one_line(caught.value).startswith(f"{tmp_path / 'mask.jpg'}: mask is a JPEG image; expected a lossless")
    # A greyscale PNG saved from that JPEG: compression noise would become dozens of "objects".
    with Image.open(tmp_path / "mask.jpg") as image:
        noisy = np.asarray(image).copy()
    noisy[0, : 64 if noisy.shape[1] >= 64 else noisy.shape[1]] = np.arange(min(64, noisy.shape[1]), dtype=np.uint8)
    Image.fromarray(noisy, mode="L").save(tmp_path / "noisy.png")
    with pytest.raises(DataError, match=r"noisy\.png: greyscale mask with \d+ distinct values"):
        load_index_mask(tmp_path / "noisy.png")
    Image.fromarray(mask // 255 * 3, mode="L").save(tmp_path / "clean.png")  # ids {0, 3}: a real index mask
    assert set(np.unique(load_index_mask(tmp_path / "clean.png")).tolist()) == {0, 3}


def test_mask_of_another_size_is_an_error_beyond_one_pixel(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((24, 32), np.uint8), mode="L").save(tmp_path / "half.png")
    with pytest.raises(DataError) as caught:
        load_index_mask(tmp_path / "half.png", (48, 64))
    assert one_line(caught.value).startswith(f"{tmp_path / 'half.png'}: mask size 32x24 differs from its frame's 64x48")
    assert load_index_mask(tmp_path / "half.png", (24, 33)).shape == (24, 33)  # the 853/854 case


def test_empty_split_list_is_refused(tmp_path: Path) -> None:
    (tmp_path / "val.txt").write_text("\n  \n")
    with pytest.raises(DataError) as caught:
        read_image_set(tmp_path / "val.txt")
    expected = f"{tmp_path / 'val.txt'}: ImageSets list is empty (expected one video name per line)"
    assert one_line(caught.value) == expected


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"crop_size": -5}, "data.crop_size: expected an integer >= 1, got -5"),
        ({"crop_size": 0}, "data.crop_size: expected an integer >= 1, got 0"),
        ({"batch_size": 0}, "data.batch_size: expected an integer >= 1, got 0"),
        ({"num_frames": 1}, "data.num_frames: expected an integer >= 2, got 1"),
        ({"num_workers": -1}, "data.num_workers: expected an integer >= 0, got -1"),
        ({"crop": CropOptions(scale=(0.5, 2.0))}, "data.crop.scale: expected 0 < min <= max <= 1, got [0.5, 2.0]"),
    ],
)
def test_impossible_sizes_are_refused_when_the_data_module_is_built(arguments: dict, message: str) -> None:
    with pytest.raises(DataError) as caught:
        VOSDataModule(**arguments)
    assert one_line(caught.value) == message


def test_empty_validation_split_is_refused(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "davis"
    shutil.copytree(synthetic_root, root)
    (root / "ImageSets/2017/val.txt").write_text("")
    module = VOSDataModule(data_root=str(root), synthetic=True, num_workers=0, index_cache_dir=None)
    with pytest.raises(DataError, match=r"val\.txt: ImageSets list is empty"):
        module.setup("validate")


def test_verify_reports_training_frames_without_masks(tmp_path: Path) -> None:
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    masks = np.ones((4, 8, 8), np.uint8)
    write_vos_video(tmp_path / "JPEGImages", tmp_path / "Annotations", "v", frames, masks, mask_positions=[0, 1, 3])
    (record,) = read_vos_folder("mine", tmp_path / "JPEGImages", tmp_path / "Annotations")
    defects = verify_videos([record], min_frames=3)
    assert defects == [f"{tmp_path / 'JPEGImages/v/00002.jpg'}: training frame has no annotation"]
    assert verify_videos([record], min_frames=0) == []  # evaluation videos are sparsely annotated


class Broken(Dataset):
    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int:
        raise self.error("/data/v/00001.jpg: cannot decode image (truncated)")


@pytest.mark.parametrize("error", [DataError, DataFileNotFoundError])
def test_errors_in_dataloader_workers_keep_their_one_line(error: type[Exception]) -> None:
    loader = DataLoader(Broken(error), num_workers=1)
    iterator = iter(loader)
    with pytest.raises(error) as caught:
        next(iterator)
    assert one_line(caught.value) == "/data/v/00001.jpg: cannot decode image (truncated)"
    del iterator
