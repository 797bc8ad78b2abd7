"""OVIS read from `annotations_train.json` (RLE decoded on demand) and the RLE helpers behind it."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.eval_dataset import VideoEvalDataset
from s3.data.frames import load_record_mask
from s3.data.index import VideoRecord
from s3.data.readers.ovis import read_ovis_json
from s3.data.registry import DatasetSpec, read_train_dataset
from s3.data.rle import compressed_counts, decode_rle, encode_rle, paint_index_mask, run_lengths
from s3.data.subsets import load_packaged_empty_masks
from tests.data.conftest import write_vos_video

HEIGHT, WIDTH = 12, 16
LISTED = sorted(load_packaged_empty_masks("ovis_empty_masks.txt"))[:2]  # in Cutie's 507-video subset
UNLISTED = "ffffffff"  # an OVIS video outside it (would leak MOSE valid)


def _box(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[top:bottom, left:right] = True
    return mask


def _compressed(mask: np.ndarray) -> dict[str, Any]:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [HEIGHT, WIDTH], "counts": encoded["counts"].decode("ascii")}


def _uncompressed(mask: np.ndarray) -> dict[str, Any]:
    """Column-major run lengths starting with background, the list form COCO also allows."""
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return {"size": [HEIGHT, WIDTH], "counts": runs}


def _objects(num_frames: int) -> list[list[np.ndarray | None]]:
    """Per object, per frame: its mask or None. Object 2 overlaps object 1 and starts at frame 2."""
    first = [_box(1, 1, 7, 8) for _ in range(num_frames)]
    first[num_frames - 1] = None  # absent on the last frame
    second = [None, None] + [_box(4, 5, 10, 12) for _ in range(num_frames - 2)]
    return [first, second]


def _expected(objects: list[list[np.ndarray | None]], position: int) -> np.ndarray:
    index = np.zeros((HEIGHT, WIDTH), np.uint8)
    for object_id, per_frame in enumerate(objects, start=1):
        if per_frame[position] is not None:
            index[per_frame[position]] = object_id
    return index


def make_ovis(root: Path, names: list[str], num_frames: int = 9, empty_video: str | None = None) -> Path:
    """`root/OVIS/{annotations_train.json, train/<vid>/img_000000k.jpg}`; returns the JSON path."""
    ovis = root / "OVIS"
    videos, annotations = [], []
    rng = np.random.default_rng(0)
    for number, name in enumerate(names, start=1):
        files = [f"{name}/img_{t + 1:07d}.jpg" for t in range(num_frames)]
        (ovis / "train" / name).mkdir(parents=True, exist_ok=True)
        for file in files:
            frame = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
            Image.fromarray(frame).save(ovis / "train" / file)
        videos.append({"id": number, "width": WIDTH, "height": HEIGHT, "length": num_frames, "file_names": files})
        if name == empty_video:
            continue
        for k, per_frame in enumerate(_objects(num_frames)):
            encode = _uncompressed if k == 1 else _compressed  # both RLE forms appear in one file
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "video_id": number,
                    "category_id": k + 1,
                    "iscrowd": 0,
                    "segmentations": [None if m is None else encode(m) for m in per_frame],
                    "areas": [None if m is None else float(m.sum()) for m in per_frame],
                    "bboxes": [None] * num_frames,
                }
            )
    categories = [{"id": 1, "name": "Person", "supercategory": ""}, {"id": 2, "name": "Fish", "supercategory": ""}]
    path = ovis / "annotations_train.json"
    path.write_text(json.dumps({"videos": videos, "annotations": annotations, "categories": categories}))
    return path


# ------------------------------------------------------------------------------------------------ RLE


def test_rle_round_trip_both_count_forms_and_painting_order() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = rng.random((HEIGHT, WIDTH)) < 0.4
        counts = compressed_counts(_compressed(mask), (HEIGHT, WIDTH), "x")
        assert sum(run_lengths(counts)) == HEIGHT * WIDTH
        assert np.array_equal(decode_rle(counts, (HEIGHT, WIDTH), "x"), mask)
        from_list = compressed_counts(_uncompressed(mask), (HEIGHT, WIDTH), "x")
        assert np.array_equal(decode_rle(from_list, (HEIGHT, WIDTH), "x"), mask)
        reference = mask_utils.decode({"size": [HEIGHT, WIDTH], "counts": counts}).astype(bool)
        assert np.array_equal(decode_rle(counts, (HEIGHT, WIDTH), "x"), reference), "same pixels as pycocotools"
    noisy = rng.random((200, 90)) < 0.5  # more runs than the slice-by-slice painter takes
    assert np.array_equal(paint_index_mask([(9, encode_rle(noisy))], (200, 90), "x"), noisy * 9)
    a, b = _box(0, 0, 6, 6), _box(3, 3, 9, 9)
    painted = paint_index_mask([(1, encode_rle(a)), (4, encode_rle(b))], (HEIGHT, WIDTH), "x")
    assert painted.dtype == np.uint8 and painted[4, 4] == 4 and painted[1, 1] == 1 and painted[8, 8] == 4
    wide = paint_index_mask([(300, encode_rle(a))], (HEIGHT, WIDTH), "x")
    assert wide.dtype == np.int32 and wide[0, 0] == 300


def test_rle_errors_name_the_source() -> None:
    mask = _box(1, 1, 4, 4)
    with pytest.raises(DataError, match=r"^ann\.json: v, frame 3: RLE size \[12, 16\] differs from the frame size"):
        compressed_counts(_compressed(mask), (12, 17), "ann.json: v, frame 3")
    with pytest.raises(DataError, match=r"^src: RLE run lengths sum to"):
        compressed_counts({"size": [HEIGHT, WIDTH], "counts": [3, 4]}, (HEIGHT, WIDTH), "src")
    with pytest.raises(DataError, match=r"^src: expected a COCO RLE object"):
        compressed_counts("abc", (HEIGHT, WIDTH), "src")
    small = encode_rle(np.ones((4, 4), bool))
    with pytest.raises(DataError, match=r"^src: RLE runs cover 16 pixels, expected H\*W = 192"):
        decode_rle(small, (HEIGHT, WIDTH), "src")
    with pytest.raises(DataError, match=r"^src: malformed RLE counts"):
        decode_rle(b"\x01\x02", (HEIGHT, WIDTH), "src")


# ------------------------------------------------------------------------------------------------ reader


def test_index_ids_empty_frames_and_masks_equal_the_encoded_ones(tmp_path: Path) -> None:
    json_path = make_ovis(tmp_path, [LISTED[0], LISTED[1]], empty_video=LISTED[1])
    records = read_ovis_json(json_path, tmp_path / "OVIS/train")
    assert [r.name for r in records] == LISTED
    video, empty = records
    assert video.frame_files[0] == "img_0000001.jpg" and video.num_frames == 9
    assert video.frame_interval == 3 and video.object_ids == (1, 2)
    assert (
        video.frame_object_ids[0] == (1,) and video.frame_object_ids[2] == (1, 2) and video.frame_object_ids[8] == (2,)
    )
    assert video.empty_positions == frozenset() and video.annotated_positions == list(range(9))
    assert video.object_categories == {1: "Person", 2: "Fish"}
    assert video.mask_dir is None and video.annotation_file == str(json_path.resolve())
    objects = _objects(9)
    for position in range(9):
        assert np.array_equal(load_record_mask(video, position, (HEIGHT, WIDTH)), _expected(objects, position))
    assert empty.empty_positions == frozenset(range(9)) and empty.object_ids == ()
    assert not load_record_mask(empty, 0, (HEIGHT, WIDTH)).any()


def test_registry_prefers_json_applies_the_507_subset_and_caches(tmp_path: Path) -> None:
    make_ovis(tmp_path, [LISTED[0], UNLISTED])
    write_vos_video(  # a converted folder as well: the JSON must win under source=auto
        tmp_path / "OVIS-VOS-train/JPEGImages",
        tmp_path / "OVIS-VOS-train/Annotations",
        "converted",
        np.zeros((2, 8, 8, 3), np.uint8),
        np.ones((2, 8, 8), np.uint8),
    )
    cache = tmp_path / "cache"
    records = read_train_dataset(tmp_path, DatasetSpec(name="ovis"), cache)
    assert [r.name for r in records] == [LISTED[0]], "videos outside Cutie's OVIS list are left out by default"
    assert records[0].mask_rles and len(list(cache.glob("index-*.pkl"))) == 1
    again = read_train_dataset(tmp_path, DatasetSpec(name="ovis"), cache)
    assert again[0].mask_rles == records[0].mask_rles
    everything = read_train_dataset(tmp_path, DatasetSpec(name="ovis", subset=None))
    assert sorted(r.name for r in everything) == [LISTED[0], UNLISTED]
    folder = read_train_dataset(tmp_path, DatasetSpec(name="ovis", source="folder"))
    assert [r.name for r in folder] == ["converted"] and folder[0].mask_files
    by_path = read_train_dataset(tmp_path, DatasetSpec(name="ovis", path=str(tmp_path / "OVIS/annotations_train.json")))
    assert [r.name for r in by_path] == [LISTED[0]]


def test_registry_falls_back_to_the_converted_folder(tmp_path: Path) -> None:
    write_vos_video(
        tmp_path / "OVIS-VOS-train/JPEGImages",
        tmp_path / "OVIS-VOS-train/Annotations",
        "vid",
        np.zeros((2, 8, 8, 3), np.uint8),
        np.ones((2, 8, 8), np.uint8),
        stems=["0000001", "0000002"],
    )
    records = read_train_dataset(tmp_path, DatasetSpec(name="ovis", empty_masks=None))
    assert [r.name for r in records] == ["vid"] and records[0].mask_files == {0: "0000001.png", 1: "0000002.png"}
    with pytest.raises(DataFileNotFoundError, match=r"OVIS: no annotation JSON of 'ovis' found"):
        read_train_dataset(tmp_path, DatasetSpec(name="ovis", source="json"))


def test_eval_dataset_decodes_rle_frames(tmp_path: Path) -> None:
    json_path = make_ovis(tmp_path, [LISTED[0]], num_frames=4)
    sample = VideoEvalDataset(read_ovis_json(json_path, tmp_path / "OVIS/train"))[0]
    objects = _objects(4)
    expected = np.stack([_expected(objects, t) for t in range(4)])
    assert torch.equal(sample["masks"], torch.from_numpy(expected.astype(np.int64)))
    assert sample["annotated"].all() and sample["first_appearance"] == {1: 0, 2: 2}
    assert sample["object_categories"] == {1: "Person", 2: "Fish"}


# ------------------------------------------------------------------------------------------------ bad input


def _rewrite(path: Path, edit) -> None:  # noqa: ANN001
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_empty_and_malformed_json(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    path = tmp_path / "ann.json"
    path.write_text("")
    with pytest.raises(DataError, match=r"ann\.json: OVIS annotation file is empty"):
        read_ovis_json(path, tmp_path / "train")
    path.write_text('{"videos": [')
    with pytest.raises(DataError, match=r"ann\.json: OVIS annotation file is not valid JSON"):
        read_ovis_json(path, tmp_path / "train")
    path.write_text('{"annotations": []}')
    with pytest.raises(DataError, match=r"ann\.json: expected a JSON object with 'videos'"):
        read_ovis_json(path, tmp_path / "train")
    with pytest.raises(DataFileNotFoundError, match=r"absent\.json: OVIS annotation file not found"):
        read_ovis_json(tmp_path / "absent.json", tmp_path / "train")


def test_annotation_for_a_missing_frame(tmp_path: Path) -> None:
    path = make_ovis(tmp_path, [LISTED[0]], num_frames=3)
    _rewrite(path, lambda d: d["annotations"][0]["segmentations"].append(None))
    with pytest.raises(
        DataError, match=r"annotations_train\.json: annotations\[0\]: 4 segmentations for video .* 3 listed"
    ):
        read_ovis_json(path, tmp_path / "OVIS/train")
    path = make_ovis(tmp_path / "b", [LISTED[0]], num_frames=3)
    (tmp_path / "b/OVIS/train" / LISTED[0] / "img_0000002.jpg").unlink()
    with pytest.raises(DataFileNotFoundError, match=r"img_0000002\.jpg: frame listed in annotations_train\.json"):
        read_ovis_json(path, tmp_path / "b/OVIS/train")
    path = make_ovis(tmp_path / "c", [LISTED[0]], num_frames=3)
    _rewrite(path, lambda d: d["annotations"][0].update(video_id=99))
    with pytest.raises(DataError, match=r"annotations\[0\]: video_id 99 is not a listed video"):
        read_ovis_json(path, tmp_path / "c/OVIS/train")


def test_rle_size_differing_from_the_frame_size(tmp_path: Path) -> None:
    path = make_ovis(tmp_path, [LISTED[0]], num_frames=3)

    def shrink(data: dict) -> None:
        data["annotations"][0]["segmentations"][1]["size"] = [HEIGHT, WIDTH - 1]

    _rewrite(path, shrink)
    with pytest.raises(
        DataError, match=r"annotations_train\.json: video \w+, frame img_0000002\.jpg, object 1: RLE size"
    ):
        read_ovis_json(path, tmp_path / "OVIS/train")
    # the JSON agrees with itself but not with the JPEGs on disk: caught when a worker decodes the frame
    path = make_ovis(tmp_path / "b", [LISTED[0]], num_frames=3)
    for frame in (tmp_path / "b/OVIS/train" / LISTED[0]).iterdir():
        Image.new("RGB", (WIDTH, HEIGHT + 2)).save(frame)
    dataset = VideoEvalDataset(read_ovis_json(path, tmp_path / "b/OVIS/train"))
    with pytest.raises(DataError, match=r"annotations_train\.json: video \w+, frame img_0000001\.jpg: RLE size"):
        dataset[0]


def test_index_caches_from_before_the_rle_fields_still_load() -> None:
    record = VideoRecord("davis", "v", "/frames", ["00000.jpg"], mask_dir="/masks", mask_files={0: "00000.png"})
    old_state = {k: v for k, v in record.__dict__.items() if k not in ("mask_rles", "object_seen", "mask_size")}
    stale = VideoRecord.__new__(VideoRecord)
    stale.__setstate__(old_state)
    assert stale.mask_rles == {} and stale.object_seen == {} and stale.mask_size is None
    assert pickle.loads(pickle.dumps(stale)) == record and stale.annotated_positions == [0]


def test_training_clips_decode_masks_from_the_json(tmp_path: Path) -> None:
    from s3.data.augment import AugmentationConfig
    from s3.data.clip_dataset import ClipDataset, ClipRequest, ClipSamplingConfig

    json_path = make_ovis(tmp_path, [LISTED[0]])
    records = read_ovis_json(json_path, tmp_path / "OVIS/train")
    dataset = ClipDataset(
        [(records, 1)],
        ClipSamplingConfig(num_frames=3, num_objects=3, merge_probability=0.0),
        AugmentationConfig(crop_size=32, crop_scale=(1.0, 1.0), rotate_degrees=0.0, shear_degrees=0.0),
    )
    item = dataset[ClipRequest(0, 3, 0)]
    assert item["masks"].shape == (3, 3, 32, 32)
    assert item["selector"][0] == 1 and item["masks"][0, 0].sum() > 0  # the first frame's object came from RLE


def test_inspect_counts_json_annotations(tmp_path: Path, capsys) -> None:
    from s3.data.inspect import main as inspect_main

    make_ovis(tmp_path, [LISTED[0]])
    config = tmp_path / "data.yaml"
    config.write_text(
        "data:\n  init_args:\n"
        f"    data_root: {tmp_path}\n"
        "    train_datasets: [{name: ovis, subset: null}]\n    val_datasets: []\n    test_datasets: []\n"
        "    crop_size: 32\n    num_frames: 3\n    index_cache_dir: null\n"
    )
    assert inspect_main(["--config", str(config), "--sheet", "", "--verify", "--workers", "1"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "ovis" in line)
    assert "annotated=       9" in line and "objects_in_first_annotation=     1" in line
