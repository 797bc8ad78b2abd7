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
from s3.data.readers.burst import read_burst_json
from s3.data.readers.davis import read_davis, read_image_set
from s3.data.readers.folder import list_video_folders, read_vos_folder
from s3.data.readers.lvos import read_lvos
from s3.data.readers.ovis import read_ovis_json
from s3.data.readers.youtube import load_youtube_meta, meta_categories, read_youtube_vos
from s3.data.subsets import EMPTY_MASK_FILES, SUBSET_FILES, load_packaged_empty_masks, load_packaged_subset

TrainName = Literal["davis", "youtube", "mose", "ovis", "burst", "lvos"]
EvalName = Literal["davis", "davis2016", "youtube2018", "youtube2019", "mose", "lvos", "burst"]
SourceName = Literal["auto", "json", "folder"]
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
            `{video: [empty frame stems]}`. JSON sources know their empty frames; a file given here adds to them.
        source: OVIS / BURST only: "json" reads the original annotation JSON (RLE masks decoded on demand;
            `OVIS/{annotations_train.json,train/}`, `BURST/{train/train.json|train/all_classes.json,frames/train/}`
            or `path` pointing at that folder or JSON file), "folder" the converted VOS folder
            (OVIS-VOS-train, BURST/train-vos), "auto" the JSON when present, else the folder.
    """

    name: TrainName
    path: str | None = None
    multiplier: int | None = None
    frame_interval: int | None = None
    subset: str | None = DEFAULT
    empty_masks: str | None = DEFAULT
    source: SourceName = "auto"


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


@dataclass(frozen=True)
class JsonSource:
    """An original annotation JSON and the folder its frame paths are relative to."""

    annotation_file: Path
    image_root: Path


def _find_ovis_json(data_root: Path, path: str | None) -> JsonSource | None:
    root = resolve_path(data_root, path, "OVIS")
    if root.suffix == ".json":
        return JsonSource(root, root.parent / "train") if root.is_file() else None
    candidate = root / "annotations_train.json"
    return JsonSource(candidate, root / "train") if candidate.is_file() else None


def _find_burst_json(data_root: Path, path: str | None) -> JsonSource | None:
    root = resolve_path(data_root, path, "BURST")
    if root.suffix == ".json":
        return JsonSource(root, root.parent.parent / "frames" / "train") if root.is_file() else None
    for name in ("train/train.json", "train/all_classes.json"):
        if (root / name).is_file():
            return JsonSource(root / name, root / "frames" / "train")
    return None


JSON_FINDERS: dict[str, Callable[[Path, str | None], JsonSource | None]] = {
    "ovis": _find_ovis_json,
    "burst": _find_burst_json,
}


def _json_source(data_root: Path, spec: DatasetSpec) -> JsonSource | None:
    """The annotation JSON to read for `spec`, or None for the VOS folder (see `DatasetSpec.source`)."""
    if spec.source not in ("auto", "json", "folder"):
        raise DataError(f"train_datasets: source {spec.source!r} of {spec.name!r}; expected auto, json or folder")
    finder = JSON_FINDERS.get(spec.name)
    if spec.source == "folder" or (finder is None and spec.source == "auto"):
        return None
    if finder is None:
        raise DataError(f"train_datasets: {spec.name!r} has no JSON source; use source: folder (or auto)")
    found = finder(data_root, spec.path)
    if found is None and spec.source == "json":
        where = resolve_path(data_root, spec.path, "OVIS" if spec.name == "ovis" else "BURST")
        raise DataFileNotFoundError(f"{where}: no annotation JSON of {spec.name!r} found (source: json)")
    return found


def _read_json_train(spec: DatasetSpec, source: JsonSource, cache_dir: str | Path | None) -> list[VideoRecord]:
    """Index OVIS / BURST training videos from their annotation JSON (cached like the folder readers)."""
    defaults = TRAIN_DEFAULTS[spec.name]
    interval = spec.frame_interval if spec.frame_interval is not None else defaults.frame_interval
    if spec.subset == DEFAULT and spec.name == "ovis":
        # Cutie's OVIS-VOS-train holds the 507 videos of its empty-frame list; the other ~100 are MOSE valid/test
        subset: frozenset[str] | None = frozenset(load_packaged_empty_masks("ovis_empty_masks.txt"))
    else:
        subset = _load_subset(None if spec.subset == DEFAULT else spec.subset, None)
    extra_empty = _load_empty_masks(None if spec.empty_masks == DEFAULT else spec.empty_masks, None)

    def build() -> list[VideoRecord]:
        if spec.name == "ovis":
            records = read_ovis_json(source.annotation_file, source.image_root, subset=subset, frame_interval=interval)
        else:
            records = read_burst_json(
                source.annotation_file, source.image_root, mode="train", subset=subset, frame_interval=interval
            )
        for record in records:
            if extra_empty and record.name in extra_empty:
                stems = extra_empty[record.name]
                added = {p for p, stem in enumerate(record.frame_stems) if stem in stems}
                record.empty_positions = record.empty_positions | frozenset(added)
        return records

    files = [source.annotation_file]
    for value in (spec.subset, spec.empty_masks):
        if value not in (None, DEFAULT) and Path(value).is_file():
            files.append(Path(value))
    arguments = {"spec": asdict(spec), "json": str(source.annotation_file.resolve())}
    return cached_index(build, arguments=arguments, folders=[source.image_root], files=files, cache_dir=cache_dir)


def train_multiplier(spec: DatasetSpec) -> int:
    return spec.multiplier if spec.multiplier is not None else TRAIN_DEFAULTS[spec.name].multiplier


def read_train_dataset(data_root: Path, spec: DatasetSpec, cache_dir: str | Path | None = None) -> list[VideoRecord]:
    """Index one training dataset (VOS-folder layouts; OVIS/BURST from their JSON or converted folders, see
    `DatasetSpec.source`), cached in `cache_dir` (None: no cache) and keyed by the folders' contents."""
    if spec.name not in TRAIN_DEFAULTS:
        raise DataError(f"train_datasets: unknown dataset {spec.name!r}; expected one of {sorted(TRAIN_DEFAULTS)}")
    json_source = _json_source(data_root, spec)
    if json_source is not None:
        return _read_json_train(spec, json_source, cache_dir)
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
    elif spec.name == "youtube" and (root / "meta.json").is_file():
        image_root, mask_root = root / "JPEGImages", root / "Annotations"

        def build() -> list[VideoRecord]:
            return read_youtube_vos(
                image_root,
                mask_root,
                root / "meta.json",
                split="train",
                subset=subset,
                frame_interval=interval,
                empty_masks=empty,
            )

        files = [root / "meta.json"]
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


def _youtube_seen_categories(data_root: Path, root: Path) -> frozenset[str] | None:
    """Categories of the training meta.json (the release's own, else the 2019 one), or None without one."""
    for meta in (root / "train" / "meta.json", data_root / "YouTube" / "train" / "meta.json"):
        if meta.is_file():
            return meta_categories(load_youtube_meta(meta))
    return None


def _eval_youtube(default_root: str) -> Callable[[Path, EvalSpec], list[VideoRecord]]:
    def read(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
        root = resolve_path(data_root, spec.path, default_root)
        split = "valid" if spec.split == "val" else spec.split
        all_frames = root / "all_frames" / f"{split}_all_frames" / "JPEGImages"
        images = all_frames if all_frames.is_dir() else root / split / "JPEGImages"
        masks = root / split / "Annotations"
        meta = root / split / "meta.json"
        return read_youtube_vos(
            images,
            masks,
            meta if meta.is_file() else None,
            split="valid",
            dataset=default_root.lower(),
            videos=list_video_folders(masks),
            frame_interval=1,
            seen_categories=_youtube_seen_categories(data_root, root) if meta.is_file() else None,
        )

    return read


def _eval_lvos(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
    root = resolve_path(data_root, spec.path, "LVOS")
    split = "valid" if spec.split == "val" else spec.split
    return read_lvos(root / split, split)


def _eval_burst(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
    root = resolve_path(data_root, spec.path, "BURST")
    annotation_file = root / spec.split / "first_frame_annotations.json"
    return read_burst_json(annotation_file, root / "frames" / spec.split, mode="eval")


def _eval_folder(dataset: str, default_root: str, masks_folder: str = "Annotations") -> Callable:
    def read(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
        root = resolve_path(data_root, spec.path, default_root)
        split = "valid" if spec.split == "val" else spec.split
        masks = root / split / masks_folder
        return read_vos_folder(dataset, root / split / "JPEGImages", masks, videos=list_video_folders(masks))

    return read


EVAL_READERS: dict[str, Callable[[Path, EvalSpec], list[VideoRecord]]] = {
    "davis": _eval_davis,
    "davis2016": _eval_davis2016,
    "youtube2018": _eval_youtube("YouTube2018"),
    "youtube2019": _eval_youtube("YouTube"),
    "mose": _eval_folder("mose", "MOSE"),
    "lvos": _eval_lvos,
    "burst": _eval_burst,
}


def read_eval_dataset(data_root: Path, spec: EvalSpec) -> list[VideoRecord]:
    """Index one evaluation split."""
    reader = EVAL_READERS.get(spec.name)
    if reader is None:
        raise DataError(f"val_datasets: no evaluation reader for {spec.name!r}; expected one of {sorted(EVAL_READERS)}")
    return reader(data_root, spec)
