"""Benchmark: `s3 eval davis` against a straightforward re-implementation of the official toolkit's algorithm.

The reference below follows the DAVIS 2017 toolkit's algorithm as METRICS.md §1 states it, written plainly:
it loads every ground-truth frame, one-hot encodes all objects, and for every object and evaluated frame
computes J and F on full frames (boundary maps by shifted comparisons, OpenCV dilation with the disk), in
one process. The package's evaluator crops each object to its bounding box and runs sequences in
`--workers` processes. Both must give identical numbers; the script prints the speed ratio.

Data: the OSVOS fixture (treated as ground truth, lag-1 predictions, METRICS.md §1.11), tiled `--copies`
times under new sequence names to approach the size of DAVIS 2017 val (30 sequences, 1,999 frames), or a
real DAVIS root and results folder via --davis-root/--results.

    .venv/bin/python tests/benchmarks/bench_eval_davis.py --copies 8
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from s3.evaluation.davis import discover_sequences, evaluate_davis, global_csv_text, per_sequence_csv_text
from s3.io.palette import write_index_mask
from s3.metrics.aggregate import ObjectResult, davis_global
from s3.metrics.video import ObjectStatistics

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "davis_osvos"


# ------------------------------------------------------------------------------- plain reference


def reference_bmap(seg: np.ndarray) -> np.ndarray:
    seg = seg.astype(bool)
    height, width = seg.shape
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, : width - 1] = seg[:, 1:]
    south[: height - 1, :] = seg[1:, :]
    south_east[: height - 1, : width - 1] = seg[1:, 1:]
    boundary = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    boundary[height - 1, :] = seg[height - 1, :] ^ east[height - 1, :]
    boundary[:, width - 1] = seg[:, width - 1] ^ south[:, width - 1]
    boundary[height - 1, width - 1] = False
    return boundary


def reference_j(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.sum(pred | gt)
    return 1.0 if union == 0 else float(np.sum(pred & gt) / union)


def reference_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    radius = int(math.ceil(bound_th * math.sqrt(pred.shape[0] ** 2 + pred.shape[1] ** 2)))
    grid = np.arange(-radius, radius + 1)
    disk = (grid[:, None] ** 2 + grid[None, :] ** 2 <= radius**2).astype(np.uint8)
    pred_boundary = reference_bmap(pred)
    gt_boundary = reference_bmap(gt)
    pred_dilated = cv2.dilate(pred_boundary.astype(np.uint8), disk)
    gt_dilated = cv2.dilate(gt_boundary.astype(np.uint8), disk)
    num_pred, num_gt = np.sum(pred_boundary), np.sum(gt_boundary)
    if num_pred == 0 and num_gt == 0:
        precision = recall = 1.0
    elif num_pred == 0:
        precision, recall = 1.0, 0.0
    elif num_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = np.sum(pred_boundary & (gt_dilated > 0)) / num_pred
        recall = np.sum(gt_boundary & (pred_dilated > 0)) / num_gt
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def reference_stats(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.nanmean(values))
    recall = float(np.nanmean(values > 0.5))
    ends = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.uint8).astype(int)
    decay = float(np.nanmean(values[ends[0] : ends[1] + 1]) - np.nanmean(values[ends[3] : ends[4] + 1]))
    return mean, recall, decay


def reference_evaluate(davis_root: Path, results: Path, image_set: str = "val") -> list[ObjectResult]:
    objects = []
    for sequence in discover_sequences(davis_root, image_set):
        gt = np.stack([np.array(Image.open(sequence.annotation_dir / f"{f}.png")) for f in sequence.frame_ids])
        gt[gt == 255] = 0
        num_objects = int(gt[0].max())
        evaluated = sequence.frame_ids[1:-1]
        pred = np.stack([np.array(Image.open(results / sequence.name / f"{f}.png")) for f in evaluated])
        gt = gt[1:-1]
        ids = np.arange(1, num_objects + 1)[:, None, None, None]
        gt_onehot, pred_onehot = gt[None] == ids, pred[None] == ids
        for k in range(num_objects):
            j = np.array([reference_j(pred_onehot[k, t], gt_onehot[k, t]) for t in range(len(evaluated))])
            f = np.array([reference_f(pred_onehot[k, t], gt_onehot[k, t]) for t in range(len(evaluated))])
            stats = ObjectStatistics(*reference_stats(j), *reference_stats(f))
            objects.append(ObjectResult(sequence.name, k + 1, stats))
    return objects


# ------------------------------------------------------------------------------------ data


def build_tiled_tree(folder: Path, copies: int) -> tuple[Path, Path]:
    root, results = folder / "DAVIS", folder / "results"
    names = []
    for copy in range(copies):
        for source in sorted(p for p in FIXTURE.iterdir() if p.is_dir() and p.name != "expected"):
            name = f"{source.name}-{copy}"
            names.append(name)
            shutil.copytree(source, root / "Annotations" / "480p" / name)
            (root / "JPEGImages" / "480p" / name).mkdir(parents=True)
            masks = sorted(source.glob("*.png"))
            for mask in masks:
                (root / "JPEGImages" / "480p" / name / f"{mask.stem}.jpg").touch()
            gt = [np.array(Image.open(mask)) for mask in masks]
            for t, mask in enumerate(masks):
                write_index_mask(results / name / mask.name, gt[max(t - 1, 0)])  # lag-1 prediction
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(sorted(names)) + "\n")
    return root, results


def timed(function, repeats: int):  # noqa: ANN001, ANN201 - tiny local helper
    """Best wall time, best CPU time (this process and its workers) and the last value over `repeats` runs."""
    best_wall, best_cpu, value = math.inf, math.inf, None
    for _ in range(repeats):
        before, start = os.times(), time.perf_counter()
        value = function()
        wall, after = time.perf_counter() - start, os.times()
        cpu = (after.user + after.system + after.children_user + after.children_system) - (
            before.user + before.system + before.children_user + before.children_system
        )
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return (best_wall, best_cpu), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=8, help="tiles of the 4 fixture sequences (8: 32 seq.)")
    parser.add_argument("--davis-root", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--set", dest="image_set", default="val")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as scratch:
        if args.davis_root is None:
            root, results = build_tiled_tree(Path(scratch), args.copies)
        else:
            root, results = args.davis_root, args.results
        load = os.getloadavg()
        sequences = discover_sequences(root, args.image_set)
        frames = sum(len(s.frame_ids) for s in sequences)
        print(f"{len(sequences)} sequences, {frames} frames")
        repeats = args.repeats
        reference_time, reference = timed(lambda: reference_evaluate(root, results, args.image_set), repeats)
        ours_time, ours = timed(lambda: evaluate_davis(root, results, args.image_set, workers=args.workers), repeats)
        one_time, _ = timed(lambda: evaluate_davis(root, results, args.image_set, workers=1), repeats)
    identical_csv = global_csv_text(davis_global(reference)) == global_csv_text(ours.global_table) and (
        per_sequence_csv_text(reference) == per_sequence_csv_text(ours.objects)
    )
    pairs = zip(reference, ours.objects, strict=True)
    max_diff = max(
        abs(getattr(a.statistics, field) - getattr(b.statistics, field))
        for a, b in pairs
        for field in ObjectStatistics.__dataclass_fields__
    )
    print(f"CPU cores: {os.cpu_count()}, load average before: {load[0]:.2f}")
    print(f"reference (1 process, full frames): wall {reference_time[0]:6.2f} s  CPU {reference_time[1]:6.2f} s")
    for label, (wall, cpu) in ((f"{args.workers} workers", ours_time), ("1 worker ", one_time)):
        print(
            f"s3 eval davis, {label}:        wall {wall:6.2f} s  CPU {cpu:6.2f} s  -> "
            f"{reference_time[0] / wall:.1f}x wall, {reference_time[1] / cpu:.1f}x CPU"
        )
    print(f"CSV text identical: {identical_csv}; max |difference| of per-object statistics: {max_diff:.3g}")


if __name__ == "__main__":
    main()
