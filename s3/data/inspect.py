"""`s3 data inspect`: what the configured data looks like to the model, and a pre-flight check.

Prints one line per dataset and split (videos, frames, objects), the sampling shares of the training mix
and the max skip at a given step, and writes a contact sheet of augmented clips. With `--verify` it decodes
every frame and mask of the configured datasets in parallel and lists every defect with its file path,
exiting non-zero when there is any.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import Progress

from s3.data.clip_dataset import ClipRequest
from s3.data.datamodule import VOSDataModule
from s3.data.errors import DataError
from s3.data.frames import load_record_mask
from s3.data.index import VideoRecord
from s3.data.sampling import dataset_max_skip
from s3.io.atomic import atomic_path
from s3.io.output_paths import ensure_output_file
from s3.io.palette import voc_palette


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


def inspect_command(
    data: VOSDataModule,
    step: int = 0,
    total_steps: int | None = None,
    sheet: str = "outputs/data_inspect.png",
    clips: int = 4,
    verify: bool = False,
    workers: int = os.cpu_count() or 1,
) -> int:
    """What the configured data looks like to the model: one line per dataset and split (videos, frames, objects),
    the sampling shares and max skip of the training mix, and a contact sheet of augmented clips. With `--verify`
    every frame and mask is decoded and each defect is listed with its file path (exit status 1 if any).

    Args:
        data: the data module, given as to `s3 fit`: `--config FIT.yaml` and/or `--data.init_args.KEY VALUE`
        step: optimiser step at which to report the max skip
        total_steps: steps of the run (default: the data module's, else 100000)
        sheet: contact sheet PNG path ('' = none)
        clips: clips on the contact sheet
        verify: decode every frame and mask and list defects
        workers: threads for --verify and the object counts
    """
    console = Console()
    datamodule = data
    if sheet:
        ensure_output_file(sheet, "--sheet")
    datamodule.prepare_data()
    datamodule.setup("fit")
    train = datamodule.train_set
    total = total_steps or datamodule.total_steps or 100_000
    global_skip = datamodule.schedule.at(step, total)
    _line(f"data root: {datamodule.data_root}")
    by_dataset: dict[str, list[VideoRecord]] = {}
    for record in train.videos:
        by_dataset.setdefault(record.dataset, []).append(record)
    shares = train.dataset_shares()
    for name, videos in by_dataset.items():
        interval = videos[0].frame_interval
        _line(
            _summary_line("train", name, videos, workers)
            + f" share={shares.get(name, 0.0):.3f} max_skip={dataset_max_skip(global_skip, interval, 10**9)}"
        )
    for split, sets in datamodule._eval_sets.items():
        for spec, dataset in zip(datamodule.val_specs if split == "val" else datamodule.test_specs, sets, strict=True):
            _line(_summary_line(split, f"{spec.name}/{spec.split}", dataset.videos, workers))
    for name, count in train.too_short.items():
        _line(f"train {name:12s} {count} videos shorter than a clip are not sampled")
    _line(f"global max skip at step {step} of {total}: {global_skip}")
    if sheet:
        write_contact_sheet(datamodule, Path(sheet), clips, global_skip)
        _line(f"contact sheet: {sheet}")
    if verify:
        groups = [(videos, datamodule.sampling.num_frames) for videos in by_dataset.values()]
        groups += [(d.videos, 0) for sets in datamodule._eval_sets.values() for d in sets]
        defects = _verify_all(groups, workers, console)
        for defect in defects:
            _line(defect)
        _line(f"verify: {len(defects)} defect(s)")
        return 1 if defects else 0
    return 0


def main(argv: list[str] | None = None) -> int:
    """`s3 data inspect ...` (argv without the `data inspect`); returns the exit code."""
    from s3.cli import main as s3_main

    return s3_main(["data", "inspect", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
