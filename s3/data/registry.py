"""Named datasets: where each lives under the data root (DATASETS.md §0.2) and how it is trained on (§9.1).

A `DatasetSpec` / `EvalSpec` is what a YAML config lists; every default can be overridden per entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.index import VideoRecord
from s3.data.index_cache import cached_index
from s3.data.readers.davis import read_davis, read_image_set
from s3.data.readers.folder import list_video_folders, read_vos_folder
from s3.data.subsets import EMPTY_MASK_FILES, SUBSET_FILES, load_packaged_empty_masks, load_packaged_subset

TrainName = Literal["davis", "youtube", "mose", "ovis", "burst", "lvos"]
EvalName = Literal["davis", "davis2016", "youtube2018", "youtube2019", "mose", "lvos", "burst"]
DEFAULT = "default"


@dataclass(frozen=True)
class TrainDefaults:
    path: str
    multiplier: int
    frame_interval: int
    subset: str | None
    empty_masks: str | None


TRAIN_DEFAULTS: dict[str, TrainDefaults] = {
    "davis": TrainDefaults("DAVIS/2017/trainval", 2, 2, "davis_train.txt", "davis_empty_masks.txt"),
    "youtube": TrainDefaults("YouTube/train", 1, 5, "yv_train.txt", "yv_empty_masks.txt"),
    "mose": TrainDefaults("MOSE/train", 1, 5, None, "mose_empty_masks.txt"),
    "ovis": TrainDefaults("OVIS-VOS-train", 1, 3, None, "ovis_empty_masks.txt"),
    "burst": TrainDefaults("BURST/train-vos", 1, 5, None, "burst_empty_masks.txt"),
    "lvos": TrainDefaults("LVOS/train", 1, 5, None, None),
}


@dataclass
class DatasetSpec:
    """One training dataset of the mix.

    Args:
        name: which dataset (sets the defaults below).
        path: dataset folder, relative to the data root or absolute; default per DATASETS.md §0.2.
        multiplier: times each frame is listed as a seed (sampling weight = frames x multiplier).
        frame_interval: source frames per on-disk position; the max skip is divided by it.
        subset: "default" (the packaged list: davis_train.txt / yv_train.txt), null (every video), the
            name of a packaged list, or a text file with one video name per line.
        empty_masks: "default", null, a packaged `*_empty_masks.txt` name, or a JSON file
            `{video: [empty frame stems]}`.
    """

    name: TrainName
    path: str | None = None
    multiplier: int | None = None
    frame_interval: int | None = None
    subset: str | None = DEFAULT
    empty_masks: str | None = DEFAULT


@dataclass
class EvalSpec:
    """One evaluation split.

    Args:
        name: which benchmark.
        split: davis: val / test-dev / train; youtube*: valid; mose: valid; lvos: valid / test; burst: val / test.
        path: dataset folder (relative to the data root or absolute); default per DATASETS.md §0.2.
        resolution: DAVIS only: 480p or Full-Resolution.
    """

    name: EvalName
    split: str = "val"
    path: str | None = None
    resolution: Literal["480p", "Full-Resolution"] = "480p"


def resolve_path(data_root: Path, path: str | None, default: str) -> Path:
    chosen = Path(path) if path is not None else Path(default)
    return chosen if chosen.is_absolute() else data_root / chosen


def _load_subset(value: str | None, default: str | None) -> frozenset[str] | None:
    value = default if value == DEFAULT else value
    if value is None:
        return None
    if value in SUBSET_FILES:
        return load_packaged_subset(value)
    path = Path(value)
    if not path.is_file():
        raise DataFileNotFoundError(f"{path}: subset list not found (expected a text file or one of {SUBSET_FILES})")
    return frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())


def _load_empty_masks(value: str | None, default: str | None) -> dict[str, frozenset[str]] | None:
    value = default if value == DEFAULT else value
    if value is None:
        return None
    if value in EMPTY_MASK_FILES:
        return load_packaged_empty_masks(value)
    path = Path(value)
    if not path.is_file():
        raise DataFileNotFoundError(f"{path}: empty-frame list not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: empty-frame list is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise DataError(f"{path}: empty-frame list must be a JSON object {{video: [stems]}}")
    return {video: frozenset(stems) for video, stems in data.items()}


def train_multiplier(spec: DatasetSpec) -> int:
    return spec.multiplier if spec.multiplier is not None else TRAIN_DEFAULTS[spec.name].multiplier


def read_train_dataset(data_root: Path, spec: DatasetSpec, cache_dir: str | Path | None = None) -> list[VideoRecord]:
    """Index one training dataset (VOS-folder layouts; OVIS/BURST from their converted folders), cached in
    `cache_dir` (None: no cache) and keyed by the folders' contents."""
    if spec.name not in TRAIN_DEFAULTS:
        raise DataError(f"train_datasets: unknown dataset {spec.name!r}; expected one of {sorted(TRAIN_DEFAULTS)}")
    defaults = TRAIN_DEFAULTS[spec.name]
    root = resolve_path(data_root, spec.path, defaults.path)
    if not root.is_dir():
        raise DataFileNotFoundError(f"{root}: folder of training dataset {spec.name!r} not found")
    interval = spec.frame_interval if spec.frame_interval is not None else defaults.frame_interval
    subset = _load_subset(spec.subset, defaults.subset)
    empty = _load_empty_masks(spec.empty_masks, defaults.empty_masks)
    if spec.name == "davis":
        # trainval keeps train and val videos in the same folders: the ImageSets list keeps val out even when
        # the subset list is switched off (e.g. the synthetic set).
        image_set_file = root / "ImageSets" / "2017" / "train.txt"
        image_set = "train" if image_set_file.is_file() else None
        image_root, mask_root = root / "JPEGImages" / "480p", root / "Annotations" / "480p"

        def build() -> list[VideoRecord]:
            return read_davis(root, image_set=image_set, subset=subset, frame_interval=interval, empty_masks=empty)

        files = [image_set_file]
    else:
        image_root, mask_root = root / "JPEGImages", root / "Annotations"

        def build() -> list[VideoRecord]:
            return read_vos_folder(
                spec.name, image_root, mask_root, subset=subset, frame_interval=interval, empty_masks=empty
            )

        files = []
    for value in (spec.subset, spec.empty_masks):
        if value not in (None, DEFAULT) and Path(value).is_file():
            files.append(Path(value))
    arguments = {"spec": asdict(spec), "root": str(root.resolve())}
    return cached_index(build, arguments=arguments, folders=[image_root, mask_root], files=files, cache_dir=cache_dir)


def _eval_davis(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
    default = "DAVIS/2017/test-dev" if spec.split == "test-dev" else "DAVIS/2017/trainval"
    root = resolve_path(data_root, spec.path, default)
    return read_davis(root, image_set=spec.split, resolution=spec.resolution)


def _eval_davis2016(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
    root = resolve_path(data_root, spec.path, "DAVIS/2016")
    trainval = data_root / "DAVIS/2017/trainval/ImageSets/2016" / f"{spec.split}.txt"
    own = root / "ImageSets/2016" / f"{spec.split}.txt"
    image_set = own if own.is_file() else trainval
    videos = read_image_set(image_set)
    return read_vos_folder("davis2016", root / "JPEGImages/480p", root / "Annotations/480p", videos=videos)


def _eval_youtube(default_root: str) -> Callable[[Path, EvalSpec], list[VideoRecord]]:
    def read(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
        root = resolve_path(data_root, spec.path, default_root)
        split = "valid" if spec.split == "val" else spec.split
        all_frames = root / "all_frames" / f"{split}_all_frames" / "JPEGImages"
        images = all_frames if all_frames.is_dir() else root / split / "JPEGImages"
        masks = root / split / "Annotations"
        return read_vos_folder(default_root.lower(), images, masks, videos=list_video_folders(masks))

    return read


def _eval_folder(dataset: str, default_root: str, masks_folder: str = "Annotations") -> Callable:
    def read(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
        root = resolve_path(data_root, spec.path, default_root)
        split = "valid" if spec.split == "val" else spec.split
        masks = root / split / masks_folder
        if dataset == "lvos" and split == "valid" and (root / split / "Annotations_first_only").is_dir():
            masks = root / split / "Annotations_first_only"
        return read_vos_folder(dataset, root / split / "JPEGImages", masks, videos=list_video_folders(masks))

    return read


EVAL_READERS: dict[str, Callable[[Path, EvalSpec], list[VideoRecord]]] = {
    "davis": _eval_davis,
    "davis2016": _eval_davis2016,
    "youtube2018": _eval_youtube("YouTube2018"),
    "youtube2019": _eval_youtube("YouTube"),
    "mose": _eval_folder("mose", "MOSE"),
    "lvos": _eval_folder("lvos", "LVOS"),
}


def read_eval_dataset(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
    """Index one evaluation split."""
    reader = EVAL_READERS.get(spec.name)
    if reader is None:
        raise DataError(f"val_datasets: no evaluation reader for {spec.name!r}; expected one of {sorted(EVAL_READERS)}")
    return reader(data_root, spec)
