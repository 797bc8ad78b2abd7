"""LVOS v1 / v2 (DATASETS.md §7): VOS folders with 8-digit frame numbers plus `<split>_meta.json`.

`<split>_meta.json` = `{"videos": {video: {"objects": {"<id>": {"frame_range": {"start", "end", "frame_nums"}}}}}}`,
where start/end are the frame numbers (file stems as integers) of the object's first and last annotated
frame. Objects often first appear late in long videos, so evaluation follows the first-appearance
protocol: each object's mask is given only on its first frame (val masks are dense and would leak ground
truth otherwise, §7.3). With the meta, only those first frames are read; without it, the dense masks are
reduced on the fly (`VideoRecord.first_appearance_only`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from s3.data.errors import DataError
from s3.data.frames import load_json_file
from s3.data.index import VideoRecord
from s3.data.readers.folder import list_video_folders, read_vos_folder


@dataclass(frozen=True)
class LvosObjectRange:
    """Frame numbers of an object's first and last annotated frame, and its annotated frame count."""

    start: int
    end: int
    frame_nums: int | None


def _frame_number(value: object, where: str) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise DataError(f"{where}: expected a frame number, got {value!r}")
    return int(value)


def load_lvos_meta(path: str | Path) -> dict[str, dict[int, LvosObjectRange]]:
    """video -> object id -> `LvosObjectRange` of an LVOS `<split>_meta.json`."""
    path = Path(path)
    data = load_json_file(path, "LVOS meta file")
    videos = data.get("videos") if isinstance(data, Mapping) else None
    if not isinstance(videos, Mapping):
        raise DataError(f"{path}: expected {{'videos': {{video: {{'objects': ...}}}}}}")
    meta: dict[str, dict[int, LvosObjectRange]] = {}
    for video, info in videos.items():
        objects = info.get("objects") if isinstance(info, Mapping) else None
        if not isinstance(objects, Mapping):
            raise DataError(f"{path}: video {video}: expected an 'objects' mapping")
        parsed: dict[int, LvosObjectRange] = {}
        for key, obj in objects.items():
            where = f"{path}: video {video}, object {key}"
            if not str(key).isdigit() or int(key) == 0:
                raise DataError(f"{where}: object key is not a positive integer id")
            frame_range = obj.get("frame_range") if isinstance(obj, Mapping) else None
            if not isinstance(frame_range, Mapping):
                raise DataError(f"{where}: expected a 'frame_range' with 'start' and 'end'")
            start = _frame_number(frame_range.get("start"), f"{where}, frame_range.start")
            end = _frame_number(frame_range.get("end"), f"{where}, frame_range.end")
            if end < start:
                raise DataError(f"{where}: frame_range end {end} precedes start {start}")
            count = frame_range.get("frame_nums")
            frame_nums = _frame_number(count, f"{where}, frame_range.frame_nums") if count is not None else None
            parsed[int(key)] = LvosObjectRange(start, end, frame_nums)
        meta[str(video)] = parsed
    return meta


def attach_lvos_meta(
    records: Iterable[VideoRecord], meta: Mapping[str, Mapping[int, LvosObjectRange]], meta_file: str | Path
) -> None:
    """Fill object ids, per-object position ranges, first-appearance frames and `frames_to_write` in place.

    For first-appearance records the mask files are restricted to the objects' start frames, each of which
    must have a mask file.
    """
    for record in records:
        if record.name not in meta:
            raise DataError(f"{meta_file}: no entry for video {record.name} (present in {record.image_dir})")
        objects = meta[record.name]
        position_of = {int(stem): i for i, stem in enumerate(record.frame_stems) if stem.isdigit()}
        ranges: dict[int, tuple[int, int]] = {}
        starts: dict[int, list[int]] = {}
        for object_id, frame_range in objects.items():
            for number in (frame_range.start, frame_range.end):
                if number not in position_of:
                    raise DataError(
                        f"{meta_file}: video {record.name}, object {object_id}: frame {number:08d} has no image in "
                        f"{record.image_dir}"
                    )
            start, end = position_of[frame_range.start], position_of[frame_range.end]
            ranges[object_id] = (start, end)
            starts.setdefault(start, []).append(object_id)
        record.object_ids = tuple(sorted(objects))
        record.object_frame_ranges = dict(sorted(ranges.items()))
        if objects:
            first = min(r.start for r in objects.values())
            last = max(r.end for r in objects.values())
            record.frames_to_write = tuple(s for s in record.frame_stems if s.isdigit() and first <= int(s) <= last)
        if record.first_appearance_only:
            for position, ids in starts.items():
                if position not in record.mask_files:
                    raise DataError(
                        f"{meta_file}: video {record.name}: objects {sorted(ids)} start at frame "
                        f"{record.frame_stems[position]} but {record.mask_dir} has no mask for it"
                    )
            record.mask_files = {p: record.mask_files[p] for p in sorted(starts)}
            record.frame_object_ids = {p: tuple(sorted(starts[p])) for p in sorted(starts)}


def read_lvos(
    split_root: str | Path,
    split: str,
    *,
    dataset: str = "lvos",
    meta_file: str | Path | None = None,
    mask_folder: str | None = None,
    videos: Iterable[str] | None = None,
    subset: frozenset[str] | None = None,
    frame_interval: int = 5,
    first_appearance_only: bool | None = None,
) -> list[VideoRecord]:
    """Index one LVOS split folder (`LVOS/<split>` holding JPEGImages/, Annotations/, `<split>_meta.json`).

    mask_folder: default `Annotations_first_only` when it exists (Cutie's converted val masks), else
        `Annotations`.
    meta_file: default `<split_root>/<split>_meta.json` when it exists.
    first_appearance_only: default True except for train.
    videos: default the folders of the mask folder.
    """
    split_root = Path(split_root)
    if mask_folder is None:
        mask_folder = "Annotations_first_only" if (split_root / "Annotations_first_only").is_dir() else "Annotations"
    mask_root = split_root / mask_folder
    if meta_file is None and (split_root / f"{split}_meta.json").is_file():
        meta_file = split_root / f"{split}_meta.json"
    records = read_vos_folder(
        dataset,
        split_root / "JPEGImages",
        mask_root,
        videos=list(videos) if videos is not None else list_video_folders(mask_root),
        subset=subset,
        frame_interval=frame_interval,
    )
    first_only = split != "train" if first_appearance_only is None else first_appearance_only
    for record in records:
        record.first_appearance_only = first_only
    if meta_file is not None:
        attach_lvos_meta(records, load_lvos_meta(meta_file), meta_file)
    return records
