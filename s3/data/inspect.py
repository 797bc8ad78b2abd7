"""`s3 data inspect`: what the configured data looks like to the model, and a pre-flight check.

Prints one line per dataset and split (videos, frames, objects), the sampling shares of the training mix
and the max skip at a given step, and writes a contact sheet of augmented clips. With `--verify` it decodes
every frame and mask of the configured datasets in parallel and lists every defect with its file path,
exiting non-zero when there is any.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from jsonargparse import ArgumentError, ArgumentParser
from PIL import Image
from rich.console import Console
from rich.progress import Progress

from s3.data.clip_dataset import ClipRequest
from s3.data.errors import DataError
from s3.data.frames import load_record_mask
from s3.data.index import VideoRecord
from s3.data.sampling import dataset_max_skip
from s3.io.atomic import atomic_path
from s3.io.palette import voc_palette


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3 data inspect", description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", required=True, help="YAML with a `data:` section (repeatable)")
    parser.add_argument("--data_root", help="override data.init_args.data_root")
    parser.add_argument("--step", type=int, default=0, help="optimiser step at which to report the max skip")
    parser.add_argument("--total_steps", type=int, help="steps of the run (default: the config's, else 100000)")
    parser.add_argument("--sheet", default="outputs/data_inspect.png", help="contact sheet PNG path ('' = none)")
    parser.add_argument("--clips", type=int, default=4, help="clips on the contact sheet")
    parser.add_argument("--verify", action="store_true", help="decode every frame and mask and list defects")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="threads for --verify")
    return parser


def _data_section(paths: Sequence[str]) -> dict:
    merged: dict = {}
    for path in paths:
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"{file}: config file not found")
        content = yaml.safe_load(file.read_text()) or {}
        data = content.get("data")
        if data is None:
            continue
        if "class_path" in data and data.get("class_path") not in ("s3.data.VOSDataModule", "VOSDataModule"):
            raise DataError(f"{file}: data.class_path must be s3.data.VOSDataModule, got {data['class_path']!r}")
        merged.update(data.get("init_args", {}))
    if not merged:
        raise DataError(f"no `data.init_args` section in {', '.join(paths)}")
    return merged


def build_datamodule(config_paths: Sequence[str], data_root: str | None = None):  # noqa: ANN201
    """A `VOSDataModule` from the `data:` sections of config files (later files win)."""
    from s3.data.datamodule import VOSDataModule

    init_args = _data_section(config_paths)
    if data_root is not None:
        init_args["data_root"] = data_root
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(VOSDataModule, "data")
    return parser.instantiate(parser.parse_object({"data": init_args})).data


def _first_mask_ids(record: VideoRecord) -> set[int]:
    positions = record.annotated_positions
    if not positions:
        return set()
    path = record.mask_path(positions[0])
    if path is None:  # masks from an annotation JSON (RLE): the index knows the ids
        if record.frame_object_ids:
            return set(record.frame_object_ids.get(positions[0], ()))
        mask = load_record_mask(record, positions[0], record.mask_size or (0, 0))
        return set() if mask is None else set(np.unique(mask).tolist()) - {0}
    with Image.open(path) as mask:
        return set(np.unique(np.asarray(mask)).tolist()) - {0}


def _summary_line(kind: str, name: str, videos: list[VideoRecord], workers: int) -> str:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        objects = sum(len(ids) for ids in pool.map(_first_mask_ids, videos))
    frames = sum(v.num_frames for v in videos)
    annotated = sum(len(v.annotated_positions) for v in videos)
    return (
        f"{kind:5s} {name:12s} videos={len(videos):6d} frames={frames:8d} annotated={annotated:8d} "
        f"objects_in_first_annotation={objects:6d}"
    )


def verify_videos(records: Iterable[VideoRecord], min_frames: int = 0) -> list[str]:
    """Every defect of the given videos, one line each naming the file: exactly what loading them will refuse.

    `min_frames > 0` marks training videos: their clips need a mask on every frame (`ClipDataset._load`), so a
    frame without one is a defect there (evaluation videos are annotated on a few frames only).
    """
    defects: list[str] = []
    for record in records:
        if min_frames and record.num_frames < min_frames:
            defects.append(
                f"{record.image_dir}: {record.num_frames} frames, fewer than a clip ({min_frames}); skipped in training"
            )
            continue  # never sampled: training will not read it
        size = None
        for position in range(record.num_frames):
            path = record.image_path(position)
            try:
                with Image.open(path) as image:
                    image.load()
                    frame_size = image.size
            except (OSError, SyntaxError) as error:
                defects.append(f"{path}: cannot decode frame ({error})")
                continue
            if size is None:
                size = frame_size
            elif frame_size != size:
                defects.append(f"{path}: frame size {frame_size} differs from the video's {size}")
            mask_path = record.mask_path(position)
            if mask_path is not None and (mask_size := _image_size(mask_path)) not in (None, frame_size):
                # Listed even when off by one pixel (DAVIS's 853/854 masks, which loading resizes): worth knowing.
                defects.append(f"{mask_path}: mask size {mask_size} differs from its frame {frame_size}")
                continue
            try:
                mask = load_record_mask(record, position, (frame_size[1], frame_size[0]))
            except (DataError, FileNotFoundError) as error:
                defects.append(str(error))
                continue
            if mask is None and min_frames:
                defects.append(f"{path}: training frame has no annotation")
    return defects


def _image_size(path: str | Path) -> tuple[int, int] | None:
    """(W, H) from an image header, or None when it cannot be read (loading it then reports why)."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError):
        return None


def _verify_all(groups: list[tuple[list[VideoRecord], int]], workers: int, console: Console) -> list[str]:
    jobs = [(record, min_frames) for records, min_frames in groups for record in records]
    defects: list[str] = []
    with Progress(console=console, transient=True) as progress, ThreadPoolExecutor(max_workers=workers) as pool:
        task = progress.add_task("verifying", total=len(jobs))
        for found in pool.map(lambda job: verify_videos([job[0]], job[1]), jobs):
            defects.extend(found)
            progress.advance(task)
    return defects


def _overlay(image: np.ndarray, masks: np.ndarray, selector: np.ndarray) -> np.ndarray:
    """3 H W float image + N H W masks -> H W 3 uint8 with coloured objects."""
    out = image.transpose(1, 2, 0) * 255.0
    colors = voc_palette(16)[1:].astype(np.float32)
    for slot in np.flatnonzero(selector):
        region = masks[slot] > 0.5
        out[region] = 0.45 * out[region] + 0.55 * colors[slot]
    return out.clip(0, 255).astype(np.uint8)


def write_contact_sheet(datamodule, path: Path, clips: int, max_skip: int, seed: int = 0) -> None:  # noqa: ANN001
    """One row per augmented clip (frames left to right, objects overlaid), saved atomically as PNG."""
    dataset = datamodule.train_set
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(clips):
        item = dataset[ClipRequest(int(rng.integers(len(dataset))), max_skip, int(rng.integers(2**31)))]
        images, masks, selector = item["images"].numpy(), item["masks"].numpy(), item["selector"].numpy()
        rows.append(np.concatenate([_overlay(images[t], masks[t], selector) for t in range(len(images))], axis=1))
    with atomic_path(path) as temporary:
        Image.fromarray(np.concatenate(rows, axis=0)).save(temporary, format="PNG")


def _line(text: str) -> None:
    print(text, flush=True)  # plain print: one unwrapped line per dataset, easy to grep


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    console = Console()
    try:
        datamodule = build_datamodule(args.config, args.data_root)
        datamodule.prepare_data()
        datamodule.setup("fit")
        train = datamodule.train_set
        total = args.total_steps or datamodule.total_steps or 100_000
        global_skip = datamodule.schedule.at(args.step, total)
        _line(f"data root: {datamodule.data_root}")
        by_dataset: dict[str, list[VideoRecord]] = {}
        for record in train.videos:
            by_dataset.setdefault(record.dataset, []).append(record)
        shares = train.dataset_shares()
        for name, videos in by_dataset.items():
            interval = videos[0].frame_interval
            _line(
                _summary_line("train", name, videos, args.workers)
                + f" share={shares.get(name, 0.0):.3f} max_skip={dataset_max_skip(global_skip, interval, 10**9)}"
            )
        for split, sets in datamodule._eval_sets.items():
            for spec, dataset in zip(
                datamodule.val_specs if split == "val" else datamodule.test_specs, sets, strict=True
            ):
                _line(_summary_line(split, f"{spec.name}/{spec.split}", dataset.videos, args.workers))
        for name, count in train.too_short.items():
            _line(f"train {name:12s} {count} videos shorter than a clip are not sampled")
        _line(f"global max skip at step {args.step} of {total}: {global_skip}")
        if args.sheet:
            write_contact_sheet(datamodule, Path(args.sheet), args.clips, global_skip)
            _line(f"contact sheet: {args.sheet}")
        if args.verify:
            groups = [(videos, datamodule.sampling.num_frames) for videos in by_dataset.values()]
            groups += [(d.videos, 0) for sets in datamodule._eval_sets.values() for d in sets]
            defects = _verify_all(groups, args.workers, console)
            for defect in defects:
                _line(defect)
            _line(f"verify: {len(defects)} defect(s)")
            return 1 if defects else 0
    except (DataError, FileNotFoundError, ArgumentError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
