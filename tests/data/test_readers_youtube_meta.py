"""YouTube-VOS `meta.json`: per-object frames and categories (train), frames to write and seen flags (valid)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.eval_dataset import VideoEvalDataset
from s3.data.readers.youtube import load_youtube_meta, meta_categories, read_youtube_vos
from s3.data.registry import DatasetSpec, EvalSpec, read_eval_dataset, read_train_dataset
from s3.evaluation.writers import youtube_vos_required_frames
from tests.data.conftest import write_vos_video

HEIGHT, WIDTH = 8, 12


def _write_meta(path: Path, videos: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"videos": videos}))
    return path


def make_train(root: Path) -> None:
    """`root/YouTube/train`: video a1 (objects 1 and 3, object 3 from frame 00010), 6 fps stems."""
    train = root / "YouTube/train"
    stems = [f"{t:05d}" for t in range(0, 50, 5)]
    masks = np.zeros((10, HEIGHT, WIDTH), np.uint8)
    masks[:, :3, :3] = 1
    masks[2:, 5:, 5:] = 3
    write_vos_video(
        train / "JPEGImages", train / "Annotations", "a1", np.zeros((10, HEIGHT, WIDTH, 3), np.uint8), masks, stems
    )
    _write_meta(
        train / "meta.json",
        {
            "a1": {
                "objects": {
                    "1": {"category": "cat", "frames": stems},
                    "3": {"category": "dog", "frames": stems[2:]},
                }
            }
        },
    )


def make_valid(root: Path, release: str = "YouTube") -> Path:
    """Sparse valid masks (object 2 first given at 00010), 30 fps all-frames images, valid meta.json."""
    base = root / release
    all_stems = [f"{t:05d}" for t in range(0, 21)]
    six_fps = [f"{t:05d}" for t in range(0, 21, 5)]
    write_vos_video(base / "valid/JPEGImages", None, "b2", np.zeros((5, HEIGHT, WIDTH, 3), np.uint8), None, six_fps)
    masks = np.zeros((21, HEIGHT, WIDTH), np.uint8)
    masks[0, :2, :2] = 1
    masks[10, 4:, 4:] = 2
    write_vos_video(
        base / "all_frames/valid_all_frames/JPEGImages",
        base / "valid/Annotations",
        "b2",
        np.zeros((21, HEIGHT, WIDTH, 3), np.uint8),
        masks,
        all_stems,
        [0, 10],
    )
    return _write_meta(
        base / "valid/meta.json",
        {
            "b2": {
                "objects": {
                    "1": {"category": "cat", "frames": ["00000", "00005", "00010", "00015", "00020"]},
                    "2": {"category": "zebra", "frames": ["00010", "00015", "00020"]},
                }
            }
        },
    )


def test_train_meta_gives_per_frame_ids_and_categories(tmp_path: Path) -> None:
    make_train(tmp_path)
    (record,) = read_train_dataset(tmp_path, DatasetSpec(name="youtube", subset=None, empty_masks=None))
    assert record.name == "a1" and record.frame_interval == 5 and len(record.mask_files) == 10
    assert record.frame_object_ids[0] == (1,) and record.frame_object_ids[2] == (1, 3)
    assert record.object_ids == (1, 3) and record.object_categories == {1: "cat", 3: "dog"}
    assert record.frames_to_write is None
    assert meta_categories(load_youtube_meta(tmp_path / "YouTube/train/meta.json")) == {"cat", "dog"}


def test_valid_frames_to_write_seen_flags_and_all_frame_input(tmp_path: Path) -> None:
    make_train(tmp_path)
    meta = make_valid(tmp_path)
    (record,) = read_eval_dataset(tmp_path, EvalSpec(name="youtube2019", split="valid"))
    assert record.num_frames == 21, "30 fps input frames"
    assert record.frames_to_write == ("00000", "00005", "00010", "00015", "00020")
    assert list(record.frames_to_write) == youtube_vos_required_frames(meta)["b2"], "same rule as the writer"
    assert record.object_seen == {1: True, 2: False}, "zebra is not a training category"
    sample = VideoEvalDataset([record])[0]
    assert sample["frames_to_write"] == list(record.frames_to_write)
    assert sample["first_appearance"] == {1: 0, 2: 10} and sample["annotated"].nonzero().flatten().tolist() == [0, 10]
    assert sample["object_categories"] == {1: "cat", 2: "zebra"} and sample["object_seen"] == {1: True, 2: False}
    assert len(sample["frame_names"]) == 21


def test_valid_without_train_meta_or_valid_meta(tmp_path: Path) -> None:
    make_valid(tmp_path, "YouTube2018")
    (record,) = read_eval_dataset(tmp_path, EvalSpec(name="youtube2018", split="val"))
    assert record.dataset == "youtube2018" and record.object_seen == {} and record.object_categories[2] == "zebra"
    (tmp_path / "YouTube2018/valid/meta.json").unlink()
    (record,) = read_eval_dataset(tmp_path, EvalSpec(name="youtube2018", split="val"))
    assert record.frames_to_write is None and "frames_to_write" not in VideoEvalDataset([record])[0]


def test_category_is_optional_in_valid(tmp_path: Path) -> None:
    path = _write_meta(tmp_path / "meta.json", {"v": {"objects": {"4": {"frames": ["00000"]}}}})
    assert load_youtube_meta(path)["v"][4].category is None


# ------------------------------------------------------------------------------------------------ bad input


def test_meta_frame_without_an_image_names_the_file(tmp_path: Path) -> None:
    meta = make_valid(tmp_path)
    data = json.loads(meta.read_text())
    data["videos"]["b2"]["objects"]["2"]["frames"].append("00095")
    meta.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"valid/meta\.json: video b2, object 2: frame 00095 has no image in"):
        read_eval_dataset(tmp_path, EvalSpec(name="youtube2019"))


def test_video_missing_from_meta(tmp_path: Path) -> None:
    make_train(tmp_path)
    _write_meta(tmp_path / "YouTube/train/meta.json", {"other": {"objects": {}}})
    with pytest.raises(DataError, match=r"train/meta\.json: no entry for video a1"):
        read_train_dataset(tmp_path, DatasetSpec(name="youtube", subset=None, empty_masks=None))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"meta\.json: YouTube-VOS meta\.json is empty"),
        ("{'videos':", r"meta\.json: YouTube-VOS meta\.json is not valid JSON"),
        ('{"video": {}}', r"meta\.json: expected \{'videos'"),
        ('{"videos": {"v": {"objects": {"x": {"frames": []}}}}}', r"meta\.json: video v: object key 'x' is not"),
        ('{"videos": {"v": {"objects": {"1": {"frames": "00000"}}}}}', r"video v, object 1: 'frames' must be a list"),
    ],
)
def test_malformed_meta(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "meta.json").write_text(text)
    with pytest.raises(DataError, match=message):
        load_youtube_meta(tmp_path / "meta.json")


def test_missing_meta_file(tmp_path: Path) -> None:
    write_vos_video(
        tmp_path / "J", tmp_path / "A", "v", np.zeros((1, 4, 4, 3), np.uint8), np.zeros((1, 4, 4), np.uint8)
    )
    with pytest.raises(DataFileNotFoundError, match=r"nope\.json: YouTube-VOS meta\.json not found"):
        read_youtube_vos(tmp_path / "J", tmp_path / "A", tmp_path / "nope.json", split="train")
