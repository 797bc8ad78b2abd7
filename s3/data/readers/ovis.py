"""OVIS read from its original COCO/YouTube-VIS style JSON (`annotations_train.json`), no conversion.

Layout (DATASETS.md §5.1): `<image root>/<vid>/img_0000001.jpg ...` and one JSON whose `videos[i].file_names`
list each video's frames (JSON frame index = position) and whose `annotations[j].segmentations` hold one RLE
or null per listed frame. Object ids follow the conversion of §5.2: the k-th annotation of a video (JSON
order, k = 1, 2, ...) is id k and later annotations overwrite earlier ones where they overlap, so indexes
built here give exactly the masks of the converted OVIS-VOS-train folders.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.frames import load_json_file
from s3.data.index import VideoRecord
from s3.data.rle import compressed_counts

MAX_OBJECT_ID = 255  # training masks are uint8 index maps


def _video_folder(file_names: Sequence[str], source: str) -> tuple[str, list[str]]:
    """(folder, frame file names) of a video's `file_names`, which must all sit in one folder."""
    paths = [PurePosixPath(name) for name in file_names]
    folders = {str(p.parent) for p in paths}
    if len(folders) != 1 or "." in folders:
        raise DataError(f"{source}: file_names must be '<video folder>/<frame>' in one folder, got {sorted(folders)}")
    return folders.pop(), [p.name for p in paths]


def _check_frames_exist(image_dir: Path, frame_files: Sequence[str], source: str) -> None:
    try:
        with os.scandir(image_dir) as entries:
            present = {e.name for e in entries}
    except FileNotFoundError as error:
        raise DataFileNotFoundError(f"{image_dir}: frame folder of {source} not found") from error
    missing = [name for name in frame_files if name not in present]
    if missing:
        raise DataFileNotFoundError(f"{image_dir / missing[0]}: frame listed in {source} not found")


def _field(entry: Mapping[str, Any], key: str, kind: type | tuple[type, ...], source: str) -> Any:
    value = entry.get(key) if isinstance(entry, Mapping) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(f"{source}: field {key!r} missing or not of type {getattr(kind, '__name__', kind)}")
    return value


def read_ovis_json(
    annotation_file: str | Path,
    image_root: str | Path,
    *,
    dataset: str = "ovis",
    subset: frozenset[str] | None = None,
    frame_interval: int = 3,
    check_frames: bool = True,
) -> list[VideoRecord]:
    """Index OVIS videos straight from the annotation JSON; masks stay RLE until a worker decodes them.

    subset:       keep only these video folder names (Cutie's 507 ids avoid MOSE-valid overlap, §5.3).
    check_frames: verify that every listed frame file exists (one directory listing per video).
    """
    annotation_file = Path(annotation_file)
    image_root = Path(image_root)
    data = load_json_file(annotation_file, "OVIS annotation file")
    if not isinstance(data, Mapping) or not isinstance(data.get("videos"), list):
        raise DataError(f"{annotation_file}: expected a JSON object with 'videos' and 'annotations' lists")
    annotations = data.get("annotations", [])
    if not isinstance(annotations, list):
        raise DataError(f"{annotation_file}: 'annotations' must be a list")
    category_names = {
        c["id"]: str(c.get("name", c["id"]))
        for c in data.get("categories") or []
        if isinstance(c, Mapping) and "id" in c
    }
    if not image_root.is_dir():
        raise DataFileNotFoundError(f"{image_root}: OVIS image folder not found (frames of {annotation_file.name})")

    videos: dict[Any, dict[str, Any]] = {}
    for number, video in enumerate(data["videos"]):
        source = f"{annotation_file}: videos[{number}]"
        video_id = _field(video, "id", (int, str), source)
        file_names = _field(video, "file_names", list, source)
        if not file_names:
            raise DataError(f"{source}: empty file_names")
        height, width = _field(video, "height", int, source), _field(video, "width", int, source)
        folder, frame_files = _video_folder(file_names, source)
        videos[video_id] = {
            "name": folder,
            "frames": frame_files,
            "size": (height, width),
            "objects": [],  # (category id, segmentations) in JSON order
        }
    for number, annotation in enumerate(annotations):
        source = f"{annotation_file}: annotations[{number}]"
        video_id = _field(annotation, "video_id", (int, str), source)
        if video_id not in videos:
            raise DataError(f"{source}: video_id {video_id!r} is not a listed video")
        segmentations = _field(annotation, "segmentations", list, source)
        video = videos[video_id]
        if len(segmentations) != len(video["frames"]):
            raise DataError(
                f"{source}: {len(segmentations)} segmentations for video {video['name']} of "
                f"{len(video['frames'])} listed frames (an annotation for a missing frame?)"
            )
        areas = annotation.get("areas")
        if isinstance(areas, list) and len(areas) == len(segmentations):
            # an RLE of zero area is an absent instance, like null (keeps the empty-frame list exact)
            segmentations = [None if area == 0 else rle for rle, area in zip(segmentations, areas, strict=True)]
        video["objects"].append((annotation.get("category_id"), segmentations))

    records: list[VideoRecord] = []
    for video_id, video in videos.items():
        name = video["name"]
        if subset is not None and name not in subset:
            continue
        if len(video["objects"]) > MAX_OBJECT_ID:
            raise DataError(f"{annotation_file}: video {name} has {len(video['objects'])} instances, at most 255 fit")
        frames, size = video["frames"], video["size"]
        image_dir = image_root / name
        if check_frames:
            _check_frames_exist(image_dir, frames, f"{annotation_file.name} (video {name})")
        segments: list[list[tuple[int, bytes]]] = [[] for _ in frames]
        categories: dict[int, str] = {}
        for object_id, (category_id, segmentations) in enumerate(video["objects"], start=1):
            if category_id in category_names:
                categories[object_id] = category_names[category_id]
            for position, rle in enumerate(segmentations):
                if rle is None:
                    continue
                source = f"{annotation_file}: video {name}, frame {frames[position]}, object {object_id}"
                segments[position].append((object_id, compressed_counts(rle, size, source)))
        records.append(
            VideoRecord(
                dataset=dataset,
                name=name,
                image_dir=str(image_dir.resolve()),
                frame_files=list(frames),
                frame_object_ids={p: tuple(sorted({i for i, _ in s})) for p, s in enumerate(segments) if s},
                object_ids=tuple(range(1, len(video["objects"]) + 1)),
                empty_positions=frozenset(p for p, s in enumerate(segments) if not s),
                frame_interval=frame_interval,
                annotation_file=str(annotation_file.resolve()),
                annotation_key=str(video_id),
                mask_rles={p: tuple(s) for p, s in enumerate(segments)},
                mask_size=size,
                object_categories=categories,
            )
        )
    return sorted(records, key=lambda r: r.name)
