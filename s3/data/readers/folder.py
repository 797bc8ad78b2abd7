"""The generic "VOS folder" reader: `JPEGImages/<video>/<frame>.jpg` + `Annotations/<video>/<frame>.png`."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.index import VideoRecord
from s3.data.naming import frame_order

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def _sorted_files(folder: Path, extensions: tuple[str, ...]) -> list[str]:
    """Files of `folder` with one of `extensions`, in numeric frame order (`s3.data.naming.frame_order`)."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.is_file() and e.name.lower().endswith(extensions)]
    except FileNotFoundError:
        return []
    return frame_order(folder, names)


def list_video_folders(folder: Path) -> list[str]:
    """Sorted names of the sub-folders of `folder` (one per video)."""
    if not folder.is_dir():
        raise DataFileNotFoundError(f"{folder}: folder not found")
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def read_vos_folder(
    dataset: str,
    image_root: str | Path,
    mask_root: str | Path | None,
    *,
    videos: Iterable[str] | None = None,
    subset: frozenset[str] | None = None,
    frame_interval: int = 1,
    empty_masks: Mapping[str, Iterable[str]] | None = None,
) -> list[VideoRecord]:
    """Index a VOS-format folder pair.

    videos:      explicit video list (e.g. an ImageSets file); default: every folder of `image_root`.
    subset:      keep only these names (training subset lists).
    empty_masks: `{video: stems of all-zero masks}`; videos missing from it are assumed to have none
                 (counted and logged once).
    """
    image_root = Path(image_root)
    mask_root = Path(mask_root) if mask_root is not None else None
    if not image_root.is_dir():
        raise DataFileNotFoundError(f"{image_root}: image folder of dataset {dataset!r} not found")
    names = list(videos) if videos is not None else list_video_folders(image_root)
    if subset is not None:
        names = [name for name in names if name in subset]
    records: list[VideoRecord] = []
    missing_empty_keys = 0
    for name in names:
        image_dir = image_root / name
        frame_files = _sorted_files(image_dir, IMAGE_EXTENSIONS)
        if not image_dir.is_dir():
            raise DataFileNotFoundError(f"{image_dir}: video folder listed for dataset {dataset!r} not found")
        if not frame_files:
            raise DataError(f"{image_dir}: video folder holds no frames (.jpg/.png)")
        position_of = {Path(f).stem: i for i, f in enumerate(frame_files)}
        mask_dir = mask_root / name if mask_root is not None else None
        mask_files: dict[int, str] = {}
        if mask_dir is not None:
            for mask_name in _sorted_files(mask_dir, (".png",)):
                stem = Path(mask_name).stem
                if stem not in position_of:
                    raise DataError(f"{mask_dir / mask_name}: mask has no frame {stem}.* in {image_dir}")
                mask_files[position_of[stem]] = mask_name
        empty: frozenset[int] = frozenset()
        if empty_masks is not None:
            if name in empty_masks:
                empty = frozenset(position_of[s] for s in empty_masks[name] if s in position_of)
            else:
                missing_empty_keys += 1
        records.append(
            VideoRecord(
                dataset=dataset,
                name=name,
                image_dir=str(image_dir.resolve()),
                frame_files=frame_files,
                mask_dir=str(mask_dir.resolve()) if mask_dir is not None else None,
                mask_files=mask_files,
                empty_positions=empty,
                frame_interval=frame_interval,
            )
        )
    if missing_empty_keys:
        logger.warning(
            "%s: %d of %d videos are not in the empty-frame list; assuming they have no empty frames",
            dataset,
            missing_empty_keys,
            len(records),
        )
    return records
