"""DAVIS 2017 (trainval / test-dev, 480p or Full-Resolution) and DAVIS 2016 trees."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.index import VideoRecord
from s3.data.readers.folder import read_vos_folder


def read_image_set(path: Path) -> list[str]:
    """Video names of an ImageSets text file, in file order."""
    if not path.is_file():
        raise DataFileNotFoundError(f"{path}: ImageSets list not found")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        # An empty split would validate (or train on) nothing and still exit 0.
        raise DataError(f"{path}: ImageSets list is empty (expected one video name per line)")
    return names


def read_davis(
    root: str | Path,
    *,
    image_set: str | None = "train",
    year: Literal["2016", "2017"] = "2017",
    resolution: Literal["480p", "Full-Resolution"] = "480p",
    subset: frozenset[str] | None = None,
    frame_interval: int = 2,
    empty_masks: Mapping[str, list[str] | frozenset[str]] | None = None,
    dataset: str = "davis",
) -> list[VideoRecord]:
    """Index a DAVIS tree (`root` = the folder holding JPEGImages/, Annotations/, ImageSets/).

    image_set: name of the `ImageSets/<year>/<image_set>.txt` list (train, val, test-dev); None = every
               video folder. trainval keeps train and val in the same folders: only this list separates them.
    """
    root = Path(root)
    videos = read_image_set(root / "ImageSets" / year / f"{image_set}.txt") if image_set is not None else None
    return read_vos_folder(
        dataset,
        root / "JPEGImages" / resolution,
        root / "Annotations" / resolution,
        videos=videos,
        subset=subset,
        frame_interval=frame_interval,
        empty_masks=empty_masks,
    )
