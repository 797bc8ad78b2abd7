"""BURST read from its released JSON files (DATASETS.md §6), no conversion.

Frames live at `<frames root>/<source dataset>/<seq_name>/<file>` (`BURST/frames/<split>`); a sequence's
`segmentations[i]` is a `{track id: {"rle": ...}}` dict for `annotated_image_paths[i]`. Videos are named
`<dataset>_-_<seq_name>` like the converted `train-vos` folders.

* Training (`train/all_classes.json`, renamed `train.json` by Cutie): positions are the annotated frames
  only, as in `train-vos`; every position has a mask (an empty dict is an all-zero frame).
* Evaluation (`{val,test}/first_frame_annotations.json`): positions are `all_image_paths` (optionally
  every k-th plus all annotated frames); masks exist only where the benchmark gives a track (its first
  appearance), and `frames_to_write` lists the annotated frames the predictions JSON must cover.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.frames import load_json_file
from s3.data.index import VideoRecord
from s3.data.rle import compressed_counts

MAX_TRAIN_TRACK_ID = 255  # training masks are uint8 index maps


def burst_video_name(sequence: Mapping[str, Any]) -> str:
    """`<dataset>_-_<seq_name>`, the name of a BURST sequence in VOS layouts."""
    return f"{sequence['dataset']}_-_{sequence['seq_name']}"


def _string_list(sequence: Mapping[str, Any], key: str, source: str) -> list[str]:
    value = sequence.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{source}: {key!r} must be a list of file names")
    return value


def _frame_segments(
    frame: Any, size_hw: tuple[int, int], max_id: int | None, source: str
) -> tuple[tuple[int, bytes], ...]:
    """((track id, compressed counts), ...) of one annotated frame's `{track id: {"rle": ...}}` dict."""
    if not isinstance(frame, Mapping):
        raise DataError(f"{source}: expected a {{track id: {{'rle': ...}}}} object")
    segments = []
    for key, annotation in frame.items():
        try:
            track_id = int(key)
        except (TypeError, ValueError) as error:
            raise DataError(f"{source}: track id {key!r} is not an integer") from error
        if track_id <= 0 or (max_id is not None and track_id > max_id):
            raise DataError(f"{source}: track id {track_id} outside 1..{max_id or 'inf'} (masks are index maps)")
        if not isinstance(annotation, Mapping) or "rle" not in annotation:
            raise DataError(f"{source}, track {track_id}: expected an object with an 'rle' string")
        rle = {"size": list(size_hw), "counts": annotation["rle"]}
        segments.append((track_id, compressed_counts(rle, size_hw, f"{source}, track {track_id}")))
    return tuple(segments)


def _listing(folder: Path) -> set[str] | None:
    try:
        with os.scandir(folder) as entries:
            return {e.name for e in entries}
    except FileNotFoundError:
        return None


def read_burst_json(
    annotation_file: str | Path,
    frames_root: str | Path,
    *,
    mode: Literal["train", "eval"],
    dataset: str = "burst",
    subset: frozenset[str] | None = None,
    frame_interval: int = 5,
    frame_step: int = 1,
    check_frames: bool = True,
) -> list[VideoRecord]:
    """Index BURST sequences of one JSON file (train: annotated frames; eval: every frame, see module doc).

    frames_root: `BURST/frames/<split>`.
    frame_step:  eval only: keep every k-th frame of `all_image_paths` plus every annotated frame.
    """
    annotation_file = Path(annotation_file)
    frames_root = Path(frames_root)
    data = load_json_file(annotation_file, "BURST annotation file")
    if not isinstance(data, Mapping) or not isinstance(data.get("sequences"), list):
        raise DataError(f"{annotation_file}: expected a BURST JSON object with a 'sequences' list")
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    if not frames_root.is_dir():
        raise DataFileNotFoundError(f"{frames_root}: BURST frame folder not found (frames of {annotation_file.name})")
    category_names = {
        c["id"]: str(c.get("name", c["id"]))
        for c in data.get("categories") or []
        if isinstance(c, Mapping) and "id" in c
    }
    records = []
    for number, sequence in enumerate(data["sequences"]):
        source = f"{annotation_file}: sequences[{number}]"
        if not isinstance(sequence, Mapping) or not all(k in sequence for k in ("dataset", "seq_name")):
            raise DataError(f"{source}: expected an object with 'dataset' and 'seq_name'")
        name = burst_video_name(sequence)
        if subset is not None and name not in subset:
            continue
        source = f"{annotation_file}: sequence {name}"
        height, width = sequence.get("height"), sequence.get("width")
        if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
            raise DataError(f"{source}: 'height' and 'width' must be positive integers")
        size = (height, width)
        annotated = _string_list(sequence, "annotated_image_paths", source)
        segmentations = sequence.get("segmentations")
        if not isinstance(segmentations, list) or len(segmentations) != len(annotated):
            count = len(segmentations) if isinstance(segmentations, list) else "no"
            raise DataError(
                f"{source}: {count} segmentations for {len(annotated)} annotated_image_paths "
                "(one dict per annotated frame expected)"
            )
        if mode == "train":
            frame_files = list(annotated)
        else:
            every = _string_list(sequence, "all_image_paths", source)
            extra = sorted(set(annotated) - set(every))
            if extra:
                raise DataError(f"{source}: annotated frame {extra[0]} is not in all_image_paths")
            keep = set(annotated)
            frame_files = [f for i, f in enumerate(every) if i % frame_step == 0 or f in keep]
        position_of = {f: i for i, f in enumerate(frame_files)}
        max_id = MAX_TRAIN_TRACK_ID if mode == "train" else None
        mask_rles: dict[int, tuple[tuple[int, bytes], ...]] = {}
        for frame, frame_segments in zip(annotated, segmentations, strict=True):
            segments = _frame_segments(frame_segments, size, max_id, f"{source}, frame {frame}")
            if mode == "train" or segments:
                mask_rles[position_of[frame]] = segments
        image_dir = frames_root / str(sequence["dataset"]) / str(sequence["seq_name"])
        if check_frames:
            present = _listing(image_dir)
            if present is None:
                raise DataFileNotFoundError(f"{image_dir}: frame folder of {source} not found")
            missing = [f for f in frame_files if f not in present]
            if missing:
                raise DataFileNotFoundError(f"{image_dir / missing[0]}: frame listed in {source} not found")
        track_categories = sequence.get("track_category_ids") or {}
        if not isinstance(track_categories, Mapping) or not all(str(t).isdigit() for t in track_categories):
            raise DataError(f"{source}: 'track_category_ids' must map integer track ids to category ids")
        categories = {
            int(track): category_names.get(category, str(category)) for track, category in track_categories.items()
        }
        records.append(
            VideoRecord(
                dataset=dataset,
                name=name,
                image_dir=str(image_dir.resolve()),
                frame_files=frame_files,
                frame_object_ids={p: tuple(sorted(i for i, _ in s)) for p, s in mask_rles.items() if s},
                object_ids=tuple(sorted({i for s in mask_rles.values() for i, _ in s})),
                empty_positions=frozenset(p for p, s in mask_rles.items() if not s),
                frame_interval=frame_interval,
                annotation_file=str(annotation_file.resolve()),
                annotation_key=str(sequence.get("id", name)),
                mask_rles=mask_rles,
                mask_size=size,
                frames_to_write=None if mode == "train" else tuple(Path(f).stem for f in annotated),
                object_categories=categories,
            )
        )
    return records
