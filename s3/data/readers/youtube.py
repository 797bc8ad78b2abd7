"""YouTube-VOS 2018/2019 (DATASETS.md §2): VOS folders plus the split's `meta.json`.

`meta.json` = `{"videos": {vid: {"objects": {"<id>": {"category": name, "frames": [stems]}}}}}`.
* train: `frames` are the 6 fps frames where the object is annotated -> per-frame object ids, categories.
* valid: `frames` are the frames the submission must hold for that object; their union over objects is the
  video's `frames_to_write` (what the server expects). Categories, when present, give seen/unseen flags
  against the training categories (G metric).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from s3.data.errors import DataError
from s3.data.frames import load_json_file
from s3.data.index import VideoRecord
from s3.data.readers.folder import read_vos_folder


@dataclass(frozen=True)
class YouTubeObject:
    """One object of a meta.json video: its category (None when absent) and listed frame stems."""

    category: str | None
    frames: tuple[str, ...]


def load_youtube_meta(path: str | Path) -> dict[str, dict[int, YouTubeObject]]:
    """video -> object id -> `YouTubeObject` of a YouTube-VOS `meta.json` (errors name the file and field)."""
    path = Path(path)
    data = load_json_file(path, "YouTube-VOS meta.json")
    videos = data.get("videos") if isinstance(data, Mapping) else None
    if not isinstance(videos, Mapping):
        raise DataError(f"{path}: expected {{'videos': {{video: {{'objects': ...}}}}}}")
    meta: dict[str, dict[int, YouTubeObject]] = {}
    for video, info in videos.items():
        objects = info.get("objects") if isinstance(info, Mapping) else None
        if not isinstance(objects, Mapping):
            raise DataError(f"{path}: video {video}: expected an 'objects' mapping")
        parsed: dict[int, YouTubeObject] = {}
        for key, obj in objects.items():
            if not str(key).isdigit() or int(key) == 0:
                raise DataError(f"{path}: video {video}: object key {key!r} is not a positive integer id")
            frames = obj.get("frames") if isinstance(obj, Mapping) else None
            if not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
                raise DataError(f"{path}: video {video}, object {key}: 'frames' must be a list of frame stems")
            category = obj.get("category")
            parsed[int(key)] = YouTubeObject(category if isinstance(category, str) else None, tuple(frames))
        meta[str(video)] = parsed
    return meta


def meta_categories(meta: Mapping[str, Mapping[int, YouTubeObject]]) -> frozenset[str]:
    """Every category named in a meta (for the train meta: the seen categories)."""
    return frozenset(o.category for objects in meta.values() for o in objects.values() if o.category is not None)


def attach_youtube_meta(
    records: Iterable[VideoRecord],
    meta: Mapping[str, Mapping[int, YouTubeObject]],
    meta_file: str | Path,
    *,
    split: Literal["train", "valid"],
    seen_categories: frozenset[str] | None = None,
) -> None:
    """Fill object ids, categories, seen flags and per-frame ids (train) or `frames_to_write` (valid) in place.

    Every video must have a meta entry and every listed frame an image; otherwise one line names the file.
    """
    for record in records:
        if record.name not in meta:
            raise DataError(f"{meta_file}: no entry for video {record.name} (present in {record.image_dir})")
        objects = meta[record.name]
        position_of = {stem: i for i, stem in enumerate(record.frame_stems)}
        frame_ids: dict[int, set[int]] = {}
        for object_id, obj in objects.items():
            for stem in obj.frames:
                if stem not in position_of:
                    raise DataError(
                        f"{meta_file}: video {record.name}, object {object_id}: frame {stem} has no image in "
                        f"{record.image_dir}"
                    )
                frame_ids.setdefault(position_of[stem], set()).add(object_id)
        record.object_ids = tuple(sorted(objects))
        record.object_categories = {i: o.category for i, o in objects.items() if o.category is not None}
        if seen_categories is not None:
            record.object_seen = {i: c in seen_categories for i, c in record.object_categories.items()}
        if split == "train":
            record.frame_object_ids = {p: tuple(sorted(ids)) for p, ids in sorted(frame_ids.items())}
        else:
            record.frames_to_write = tuple(record.frame_stems[p] for p in sorted(frame_ids))


def read_youtube_vos(
    image_root: str | Path,
    mask_root: str | Path,
    meta_file: str | Path | None,
    *,
    split: Literal["train", "valid"],
    dataset: str = "youtube",
    videos: Iterable[str] | None = None,
    subset: frozenset[str] | None = None,
    frame_interval: int = 5,
    empty_masks: Mapping[str, Iterable[str]] | None = None,
    seen_categories: frozenset[str] | None = None,
) -> list[VideoRecord]:
    """Index a YouTube-VOS split: the VOS folders, then `meta.json` (skipped when `meta_file` is None).

    valid: `image_root` is `all_frames/valid_all_frames/JPEGImages` when present (30 fps input) and
    `mask_root` the sparse `valid/Annotations`; pass `videos` = the mask folders.
    """
    records = read_vos_folder(
        dataset,
        image_root,
        mask_root,
        videos=videos,
        subset=subset,
        frame_interval=frame_interval,
        empty_masks=empty_masks,
    )
    if meta_file is not None:
        attach_youtube_meta(
            records, load_youtube_meta(meta_file), meta_file, split=split, seen_categories=seen_categories
        )
    return records
