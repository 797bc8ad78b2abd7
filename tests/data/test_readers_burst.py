"""BURST read from its released JSON files: training index, evaluation inputs, registry choice, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.eval_dataset import VideoEvalDataset
from s3.data.frames import load_record_mask
from s3.data.readers.burst import read_burst_json
from s3.data.registry import DatasetSpec, EvalSpec, read_eval_dataset, read_train_dataset
from s3.data.rle import encode_rle
from s3.evaluation.writers import BurstWriter
from tests.data.conftest import write_vos_video

HEIGHT, WIDTH = 10, 14


def _box(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[top:bottom, left:right] = True
    return mask


def _rle(mask: np.ndarray) -> str:
    return encode_rle(mask).decode("ascii")


def _sequence(
    source: str, name: str, files: list[str], annotated: list[str], tracks: list[dict[int, np.ndarray]]
) -> dict[str, Any]:
    return {
        "id": len(name),
        "dataset": source,
        "seq_name": name,
        "fps": 30,
        "width": WIDTH,
        "height": HEIGHT,
        "all_image_paths": files,
        "annotated_image_paths": annotated,
        "neg_category_ids": [],
        "not_exhaustive_category_ids": [],
        "track_category_ids": {str(t): 805 for frame in tracks for t in frame},
        "segmentations": [
            {str(t): {"rle": _rle(m), "is_gt": True, "score": 1.0} for t, m in f.items()} for f in tracks
        ],
    }


def write_burst(root: Path, split: str, file_name: str, sequences: list[dict[str, Any]]) -> Path:
    """Frames under `root/BURST/frames/<split>/<dataset>/<seq>/` and the JSON at `root/BURST/<split>/<file_name>`."""
    burst = root / "BURST"
    rng = np.random.default_rng(0)
    for sequence in sequences:
        folder = burst / "frames" / split / sequence["dataset"] / sequence["seq_name"]
        folder.mkdir(parents=True, exist_ok=True)
        for file in sequence["all_image_paths"]:
            Image.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(folder / file)
    path = burst / split / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    categories = [{"id": 805, "name": "person", "synset": "person.n.01", "def": "", "synonyms": []}]
    path.write_text(json.dumps({"split": split, "categories": categories, "sequences": sequences}))
    return path


TRAIN_TRACKS = [
    {1: _box(0, 0, 5, 5), 3: _box(3, 3, 9, 9)},
    {},
    {3: _box(2, 2, 6, 6)},
]


def _train_sequences() -> list[dict[str, Any]]:
    files = [f"frame{t:04d}.jpg" for t in range(1, 16)]
    annotated = [files[0], files[5], files[10]]
    lasot = [f"{t:08d}.jpg" for t in range(1, 6)]
    return [
        _sequence("HACS", "Shave_v_abc_scene_0_0-100", files, annotated, TRAIN_TRACKS),
        _sequence("LaSOT", "cat-3", lasot, lasot[:2], [{2: _box(1, 1, 4, 4)}, {2: _box(1, 2, 4, 5)}]),
    ]


def test_train_index_positions_are_annotated_frames_and_masks_decode(tmp_path: Path) -> None:
    path = write_burst(tmp_path, "train", "train.json", _train_sequences())
    records = read_burst_json(path, tmp_path / "BURST/frames/train", mode="train")
    hacs, lasot = records
    assert hacs.name == "HACS_-_Shave_v_abc_scene_0_0-100" and lasot.name == "LaSOT_-_cat-3"
    assert hacs.frame_files == ["frame0001.jpg", "frame0006.jpg", "frame0011.jpg"], "only annotated frames"
    assert hacs.frame_interval == 5 and hacs.empty_positions == frozenset({1})
    assert hacs.frame_object_ids == {0: (1, 3), 2: (3,)} and hacs.object_ids == (1, 3)
    assert hacs.object_categories == {1: "person", 3: "person"} and hacs.frames_to_write is None
    first = load_record_mask(hacs, 0, (HEIGHT, WIDTH))
    expected = np.zeros((HEIGHT, WIDTH), np.uint8)
    expected[_box(0, 0, 5, 5)] = 1
    expected[_box(3, 3, 9, 9)] = 3  # dict order: later tracks overwrite earlier ones
    assert np.array_equal(first, expected)
    assert not load_record_mask(hacs, 1, (HEIGHT, WIDTH)).any()
    assert np.array_equal(load_record_mask(hacs, 2, (HEIGHT, WIDTH)), _box(2, 2, 6, 6).astype(np.uint8) * 3)


def test_registry_json_then_converted_folder(tmp_path: Path) -> None:
    write_burst(tmp_path, "train", "all_classes.json", _train_sequences())
    records = read_train_dataset(tmp_path, DatasetSpec(name="burst"), tmp_path / "cache")
    assert [r.name for r in records] == ["HACS_-_Shave_v_abc_scene_0_0-100", "LaSOT_-_cat-3"]
    assert records[0].mask_rles and records[0].empty_positions == frozenset({1})
    write_vos_video(
        tmp_path / "BURST/train-vos/JPEGImages",
        tmp_path / "BURST/train-vos/Annotations",
        "AVA_-_x",
        np.zeros((2, 8, 8, 3), np.uint8),
        np.ones((2, 8, 8), np.uint8),
        stems=["frame0001", "frame0006"],
    )
    folder = read_train_dataset(tmp_path, DatasetSpec(name="burst", source="folder", empty_masks=None))
    assert [r.name for r in folder] == ["AVA_-_x"] and folder[0].mask_files
    (tmp_path / "BURST/train/all_classes.json").unlink()
    fallback = read_train_dataset(tmp_path, DatasetSpec(name="burst", empty_masks=None))
    assert [r.name for r in fallback] == ["AVA_-_x"]


def _eval_sequence(track_id: int = 7) -> dict[str, Any]:
    files = [f"frame{t:04d}.jpg" for t in range(1, 9)]
    annotated = [files[0], files[3], files[6]]
    given = [{1: _box(0, 0, 4, 4)}, {track_id: _box(5, 5, 9, 12)}, {}]  # track 7 first appears at frame 4
    return _sequence("YFCC100M", "v_1", files, annotated, given)


def test_eval_loader_gives_first_appearance_masks_and_frames_to_write(tmp_path: Path) -> None:
    path = write_burst(tmp_path, "val", "first_frame_annotations.json", [_eval_sequence()])
    records = read_eval_dataset(tmp_path, EvalSpec(name="burst", split="val"))
    (record,) = records
    assert record.name == "YFCC100M_-_v_1" and record.num_frames == 8, "every frame on disk is tracked"
    assert record.frames_to_write == ("frame0001", "frame0004", "frame0007")
    assert sorted(record.mask_rles) == [0, 3], "frames without a given track carry no input mask"
    sample = VideoEvalDataset(records)[0]
    assert sample["frame_names"][0] == "frame0001" and sample["images"].shape == (8, 3, HEIGHT, WIDTH)
    assert sample["annotated"].tolist() == [True, False, False, True, False, False, False, False]
    assert sample["first_appearance"] == {1: 0, 7: 3} and sample["object_ids"] == [1, 7]
    assert sample["frames_to_write"] == ["frame0001", "frame0004", "frame0007"]
    assert torch.equal(sample["masks"][3] == 7, torch.from_numpy(_box(5, 5, 9, 12)))
    # the BURST writer accepts these frame names for the same JSON
    writer = BurstWriter(tmp_path / "out", path)
    assert writer.begin_video(sample["name"], sample["frame_names"]) == sample["frames_to_write"]


def test_eval_frame_step_and_large_track_ids(tmp_path: Path) -> None:
    path = write_burst(tmp_path, "test", "first_frame_annotations.json", [_eval_sequence(track_id=300)])
    (record,) = read_burst_json(path, tmp_path / "BURST/frames/test", mode="eval", frame_step=3)
    assert record.frame_files == ["frame0001.jpg", "frame0004.jpg", "frame0007.jpg"]
    record.frame_files.append("frame0008.jpg")  # keep one un-annotated frame in the video
    sample = VideoEvalDataset([record])[0]
    assert sample["first_appearance"] == {1: 0, 300: 1} and int(sample["masks"].max()) == 300


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_burst_json(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    path = tmp_path / "train.json"
    path.write_text("  ")
    with pytest.raises(DataError, match=r"train\.json: BURST annotation file is empty"):
        read_burst_json(path, tmp_path / "frames", mode="train")
    path.write_text('{"sequences": {}}')
    with pytest.raises(DataError, match=r"train\.json: expected a BURST JSON object with a 'sequences' list"):
        read_burst_json(path, tmp_path / "frames", mode="train")


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda s: s["segmentations"].pop(), DataError, r"sequence LaSOT_-_cat-3: 1 segmentations for 2 annotated"),
        (
            lambda s: s["annotated_image_paths"].__setitem__(1, "99999999.jpg"),
            DataFileNotFoundError,
            r"99999999\.jpg: frame listed in .*train\.json",
        ),
        (
            lambda s: s["segmentations"][0]["2"].update(rle=None),
            DataError,
            r"frame 00000001\.jpg, track 2: RLE 'counts' must be",
        ),
        (
            lambda s: s["segmentations"][0].update({"256": s["segmentations"][0]["2"]}),
            DataError,
            r"track id 256 outside 1\.\.255",
        ),
        (
            lambda s: s.update(height=HEIGHT + 1),
            DataError,
            r"video LaSOT_-_cat-3, frame 00000001\.jpg, object 2: RLE runs cover",
        ),
    ],
)
def test_bad_sequences_name_the_file(tmp_path: Path, edit, error: type, message: str) -> None:  # noqa: ANN001
    sequences = _train_sequences()[1:]
    edit(sequences[0])
    path = write_burst(tmp_path, "train", "train.json", sequences)
    with pytest.raises(error, match=message):
        records = read_burst_json(path, tmp_path / "BURST/frames/train", mode="train")
        load_record_mask(records[0], 0, (HEIGHT + 1, WIDTH))  # frames match the edited height here


def test_eval_annotated_frame_missing_from_all_image_paths(tmp_path: Path) -> None:
    sequence = _eval_sequence()
    sequence["annotated_image_paths"][2] = "frame0099.jpg"
    path = write_burst(tmp_path, "val", "first_frame_annotations.json", [sequence])
    with pytest.raises(DataError, match=r"sequence YFCC100M_-_v_1: annotated frame frame0099\.jpg is not in all_image"):
        read_burst_json(path, tmp_path / "BURST/frames/val", mode="eval")
