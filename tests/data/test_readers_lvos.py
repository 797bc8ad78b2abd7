"""LVOS v1/v2: `<split>_meta.json` frame ranges, late objects and the first-appearance protocol."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from s3.data.errors import DataError
from s3.data.eval_dataset import VideoEvalDataset
from s3.data.readers.lvos import load_lvos_meta, read_lvos
from s3.data.registry import EvalSpec, read_eval_dataset
from tests.data.conftest import write_vos_video

HEIGHT, WIDTH = 8, 10
STEMS = [f"{n:08d}" for n in range(1, 51, 5)]  # 00000001, 00000006, ..., 00000046 (6 fps, 30 fps numbering)


def _dense_masks() -> np.ndarray:
    """Object 1 on every frame; object 3 from position 4 (frame 00000021) to position 7 (00000036)."""
    masks = np.zeros((len(STEMS), HEIGHT, WIDTH), np.uint8)
    masks[:, :3, :3] = 1
    masks[4:8, 4:, 5:] = 3
    return masks


META = {
    "videos": {
        "vidA": {
            "objects": {
                "1": {"frame_range": {"start": 1, "end": 46, "frame_nums": 10}},
                "3": {"frame_range": {"start": "21", "end": "36", "frame_nums": 4}},
            }
        }
    }
}


def make_lvos(root: Path, split: str = "valid", meta: dict | None = META) -> Path:
    """`root/LVOS/<split>/{JPEGImages,Annotations}/vidA` (dense masks) and `<split>_meta.json`."""
    split_root = root / "LVOS" / split
    frames = np.zeros((len(STEMS), HEIGHT, WIDTH, 3), np.uint8)
    write_vos_video(split_root / "JPEGImages", split_root / "Annotations", "vidA", frames, _dense_masks(), STEMS)
    if meta is not None:
        (split_root / f"{split}_meta.json").write_text(json.dumps(meta))
    return split_root


def _check_first_appearance_sample(sample: dict) -> None:
    masks = _dense_masks()
    assert sample["annotated"].nonzero().flatten().tolist() == [0, 4]
    assert sample["first_appearance"] == {1: 0, 3: 4} and sample["object_ids"] == [1, 3]
    assert torch.equal(sample["masks"][0], torch.from_numpy(masks[0].astype(np.int64)))
    expected_late = np.where(masks[4] == 3, 3, 0)  # object 1 is not fed again on frame 00000021
    assert torch.equal(sample["masks"][4], torch.from_numpy(expected_late.astype(np.int64)))
    assert not sample["masks"][5:].any()


def test_meta_ranges_first_appearance_masks_and_frames_to_write(tmp_path: Path) -> None:
    make_lvos(tmp_path)
    (record,) = read_eval_dataset(tmp_path, EvalSpec(name="lvos", split="val"))
    assert record.dataset == "lvos" and record.num_frames == 10 and record.first_appearance_only
    assert record.object_ids == (1, 3) and record.object_frame_ranges == {1: (0, 9), 3: (4, 7)}
    assert record.mask_files == {0: "00000001.png", 4: "00000021.png"}, "only first-appearance masks are read"
    assert record.frame_object_ids == {0: (1,), 4: (3,)}
    assert record.frames_to_write == tuple(STEMS)
    sample = VideoEvalDataset([record])[0]
    _check_first_appearance_sample(sample)
    assert sample["object_frame_ranges"] == {1: (0, 9), 3: (4, 7)}
    assert sample["frames_to_write"] == STEMS


def test_without_meta_dense_masks_are_reduced_on_the_fly(tmp_path: Path) -> None:
    make_lvos(tmp_path, meta=None)
    (record,) = read_eval_dataset(tmp_path, EvalSpec(name="lvos", split="valid"))
    assert len(record.mask_files) == 10 and record.first_appearance_only and record.object_frame_ranges == {}
    _check_first_appearance_sample(VideoEvalDataset([record])[0])


def test_first_only_folder_and_test_split(tmp_path: Path) -> None:
    split_root = make_lvos(tmp_path, meta=None)
    first_only = split_root / "Annotations_first_only" / "vidA"
    first_only.mkdir(parents=True)
    for stem in ("00000001", "00000021"):
        shutil.copy(split_root / "Annotations/vidA" / f"{stem}.png", first_only / f"{stem}.png")
    (record,) = read_lvos(split_root, "valid")
    assert record.mask_dir.endswith("Annotations_first_only/vidA") and sorted(record.mask_files) == [0, 4]
    _check_first_appearance_sample(VideoEvalDataset([record])[0])
    # test: released masks are first appearances already; the meta (v2 ships one) still gives the ranges
    test_meta = {"videos": {"vidA": {"objects": {"1": {"frame_range": {"start": 1, "end": 41, "frame_nums": 9}}}}}}
    make_lvos(tmp_path, "test", test_meta)
    (record,) = read_eval_dataset(tmp_path, EvalSpec(name="lvos", split="test"))
    assert record.frames_to_write == tuple(STEMS[:-1]) and record.mask_files == {0: "00000001.png"}


def test_train_split_keeps_dense_masks(tmp_path: Path) -> None:
    split_root = make_lvos(tmp_path, "train", {"videos": {"vidA": META["videos"]["vidA"]}})
    (record,) = read_lvos(split_root, "train")
    assert not record.first_appearance_only and len(record.mask_files) == 10
    assert record.object_frame_ranges == {1: (0, 9), 3: (4, 7)}


# ------------------------------------------------------------------------------------------------ bad input


def test_meta_frame_without_an_image(tmp_path: Path) -> None:
    meta = json.loads(json.dumps(META))
    meta["videos"]["vidA"]["objects"]["3"]["frame_range"].update(start=1156, end=1201)
    make_lvos(tmp_path, meta=meta)
    with pytest.raises(DataError, match=r"valid_meta\.json: video vidA, object 3: frame 00001156 has no image in"):
        read_eval_dataset(tmp_path, EvalSpec(name="lvos", split="valid"))


def test_first_appearance_frame_without_a_mask(tmp_path: Path) -> None:
    split_root = make_lvos(tmp_path)
    (split_root / "Annotations/vidA/00000021.png").unlink()
    with pytest.raises(DataError, match=r"valid_meta\.json: video vidA: objects \[3\] start at frame 00000021 but"):
        read_lvos(split_root, "valid")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"valid_meta\.json: LVOS meta file is empty"),
        ("[1, 2", r"valid_meta\.json: LVOS meta file is not valid JSON"),
        ('{"videos": {"v": {"objects": {"1": {}}}}}', r"video v, object 1: expected a 'frame_range'"),
        ('{"videos": {"v": {"objects": {"1": {"frame_range": {"start": 9, "end": 4}}}}}}', r"end 4 precedes start 9"),
        (
            '{"videos": {"v": {"objects": {"1": {"frame_range": {"start": "a", "end": 4}}}}}}',
            r"start: expected a frame",
        ),
    ],
)
def test_malformed_meta(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "valid_meta.json").write_text(text)
    with pytest.raises(DataError, match=message):
        load_lvos_meta(tmp_path / "valid_meta.json")


def test_video_missing_from_meta(tmp_path: Path) -> None:
    make_lvos(tmp_path, meta={"videos": {}})
    with pytest.raises(DataError, match=r"valid_meta\.json: no entry for video vidA"):
        read_eval_dataset(tmp_path, EvalSpec(name="lvos", split="valid"))
