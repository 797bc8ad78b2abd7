"""DAVIS 2017 semi-supervised evaluation of a results folder, identical to the official toolkit.

Protocol (METRICS.md §1): sequences from `ImageSets/2017/<set>.txt`; per sequence the frame ids are the
stems of `Annotations/480p/<seq>/*.png`; GT value 255 becomes background; the objects are 1..N with
N = the largest id of the first GT frame; frames 1 .. T-2 are scored (first and last excluded); a result id
above N, a missing result frame, a non-index PNG or a size mismatch aborts with a one-line error; objects
absent from the results are scored as empty predictions. Statistics are averaged over objects pooled
across sequences, and the two CSVs are byte-identical to the toolkit's (`%.3f`, same names and rows).

Deviations, all opt-in or harmless: `include_first_last` scores every frame; `decay_indices="integer"`
avoids the toolkit's uint8 wrap of the decay bins (only matters past 256 frames); existing CSVs are
always recomputed and replaced (the toolkit silently reuses them); the last GT frame, never scored, is not read;
frames are ordered by number (the toolkit's string order is the same for DAVIS's zero-padded names); objects of
sequences too short to score (1-2 frames) are `n/a` and left out of the averages (the toolkit would give NaN).
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from s3.data.naming import frame_order
from s3.evaluation.errors import EvaluationError, MissingFileError
from s3.io.atomic import write_text_atomic
from s3.io.palette import read_index_mask
from s3.metrics.aggregate import DAVIS_GLOBAL_COLUMNS, DavisGlobal, ObjectResult, davis_global, warn_unscored
from s3.metrics.boundary import DEFAULT_BOUND_TH
from s3.metrics.statistics import DecayIndexMode
from s3.metrics.video import ObjectScores, frame_scores

VOID_LABEL = 255
PER_SEQUENCE_COLUMNS = ("Sequence", "J-Mean", "F-Mean")
UNSCORED_CELL = "n/a"
R = TypeVar("R")


@dataclass(frozen=True)
class DavisSequence:
    """One sequence of a DAVIS root: its name, frame ids (mask stems, sorted) and GT folder."""

    name: str
    frame_ids: tuple[str, ...]
    annotation_dir: Path


@dataclass(frozen=True)
class DavisScoringOptions:
    """How the official DAVIS scorer counts frames: first/last frames, the decay's frame indices, boundary width."""

    include_first_last: bool = False
    decay_indices: DecayIndexMode = "uint8"
    bound_th: float = DEFAULT_BOUND_TH


@dataclass(frozen=True)
class SequenceScores:
    """Per-frame J and F of each object of one sequence (objects 1..N in id order)."""

    name: str
    evaluated_frames: tuple[str, ...]
    objects: tuple[ObjectScores, ...]


@dataclass(frozen=True)
class DavisEvaluation:
    image_set: str
    sequences: list[SequenceScores]
    objects: list[ObjectResult] = field(default_factory=list)

    @property
    def global_table(self) -> DavisGlobal:
        return davis_global(self.objects)


# ------------------------------------------------------------------------------------------ discovery


def discover_sequences(davis_root: str | Path, image_set: str = "val") -> list[DavisSequence]:
    """Sequences of `<root>/ImageSets/2017/<set>.txt` with their 480p annotation frame ids."""
    root = Path(davis_root)
    list_file = root / "ImageSets" / "2017" / f"{image_set}.txt"
    if not list_file.is_file():
        raise MissingFileError(f"{list_file}: sequence list not found (is --davis-root a DAVIS 2017 root?)")
    names = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    sequences = []
    for name in names:
        image_dir = root / "JPEGImages" / "480p" / name
        annotation_dir = root / "Annotations" / "480p" / name
        images = sorted(image_dir.glob("*.jpg")) if image_dir.is_dir() else []
        if not images:
            raise MissingFileError(f"{image_dir}: no JPEG frames for sequence {name!r}")
        masks = sorted(annotation_dir.glob("*.png")) if annotation_dir.is_dir() else []
        if not masks:
            raise MissingFileError(f"{annotation_dir}: no ground-truth masks for sequence {name!r}")
        if len(masks) != len(images):
            raise EvaluationError(
                f"{annotation_dir}: {len(masks)} ground-truth masks for {len(images)} frames in {image_dir}"
            )
        ordered = frame_order(annotation_dir, [path.name for path in masks])  # numeric: 1.png ... 12.png
        sequences.append(DavisSequence(name, tuple(Path(mask).stem for mask in ordered), annotation_dir))
    return sequences


# ------------------------------------------------------------------------------------------- scoring


def _read_ground_truth(path: Path) -> np.ndarray:
    mask = read_index_mask(path)
    return np.where(mask == VOID_LABEL, 0, mask).astype(np.uint8)


def evaluate_sequence(
    sequence: DavisSequence, results_dir: str | Path, options: DavisScoringOptions = DavisScoringOptions()
) -> SequenceScores:
    """Score one sequence's result PNGs (`<results>/<seq>/<frame id>.png`) against its ground truth."""
    result_dir = Path(results_dir) / sequence.name
    if not result_dir.is_dir():
        raise MissingFileError(f"{result_dir}: no results for sequence {sequence.name!r}")
    frame_ids = sequence.frame_ids
    first = _read_ground_truth(sequence.annotation_dir / f"{frame_ids[0]}.png")
    object_ids = list(range(1, int(first.max()) + 1))
    evaluated = frame_ids if options.include_first_last else frame_ids[1:-1]
    j_rows: list[np.ndarray] = []
    f_rows: list[np.ndarray] = []
    for frame_id in evaluated:
        # Only frame 0 needs the 255 -> 0 step (it decides N); elsewhere 255 is never an object id <= N anyway.
        gt = first if frame_id == frame_ids[0] else read_index_mask(sequence.annotation_dir / f"{frame_id}.png")
        result_path = result_dir / f"{frame_id}.png"
        if not result_path.is_file():
            raise MissingFileError(f"{result_path}: missing result frame {frame_id} of sequence {sequence.name!r}")
        pred = read_index_mask(result_path, expected_hw=gt.shape)
        if pred.size and int(pred.max()) > len(object_ids):
            raise EvaluationError(
                f"{result_path}: object id {int(pred.max())} exceeds the {len(object_ids)} objects of "
                f"sequence {sequence.name!r} (ids must be 1..{len(object_ids)})"
            )
        j_values, f_values = frame_scores(pred, gt, object_ids, bound_th=options.bound_th)
        j_rows.append(j_values)
        f_rows.append(f_values)
    num_objects = len(object_ids)
    j_table = np.stack(j_rows, axis=1) if j_rows else np.zeros((num_objects, 0))
    f_table = np.stack(f_rows, axis=1) if f_rows else np.zeros((num_objects, 0))
    frame_index = {frame_id: index for index, frame_id in enumerate(frame_ids)}
    indices = np.array([frame_index[frame_id] for frame_id in evaluated], dtype=np.int64)
    objects = tuple(
        ObjectScores(object_id=object_id, frames=indices, j=j_table[row], f=f_table[row])
        for row, object_id in enumerate(object_ids)
    )
    return SequenceScores(sequence.name, tuple(evaluated), objects)


def _pool_context() -> multiprocessing.context.BaseContext:
    # Not "fork": forking a process that already runs OpenCV / OpenMP / torch thread pools (a training job, a test
    # session) can deadlock the child on a lock held by a thread that does not exist there.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def run_jobs(
    function: Callable[..., R],
    jobs: Sequence[tuple[str, tuple[Any, ...]]],
    workers: int,
    on_done: Callable[[str], None] | None = None,
    cost: Mapping[str, int] | None = None,
) -> dict[str, R]:
    """`function(*args)` for each `(name, args)` job; results keyed by name.

    With `workers` <= 1 or a single job, jobs run here in list order. Otherwise they run in a process pool
    (forkserver), submitted in decreasing `cost` when given; the first error cancels the remaining jobs and
    is raised here. `on_done(name)` is called in this process as each job finishes.
    """
    results: dict[str, R] = {}
    if workers <= 1 or len(jobs) <= 1:
        for name, args in jobs:
            results[name] = function(*args)
            if on_done is not None:
                on_done(name)
        return results
    order = sorted(jobs, key=lambda job: -cost[job[0]]) if cost is not None else list(jobs)
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)), mp_context=_pool_context(), initializer=_init_worker
    ) as pool:
        futures: dict[Future[R], str] = {pool.submit(function, *args): name for name, args in order}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise error
                results[futures[future]] = future.result()
                if on_done is not None:
                    on_done(futures[future])
    return results


def evaluate_davis(
    davis_root: str | Path,
    results_dir: str | Path,
    image_set: str = "val",
    options: DavisScoringOptions = DavisScoringOptions(),
    workers: int = 2,
    on_sequence_done: Callable[[str], None] | None = None,
) -> DavisEvaluation:
    """Evaluate a whole results folder; sequences run in `workers` processes (<= 1: in this process)."""
    sequences = discover_sequences(davis_root, image_set)
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise MissingFileError(f"{results_dir}: results folder not found")
    jobs = [(sequence.name, (sequence, results_dir, options)) for sequence in sequences]
    # Longest sequences first keeps every worker busy until the end.
    cost = {sequence.name: len(sequence.frame_ids) for sequence in sequences}
    scored = run_jobs(evaluate_sequence, jobs, workers, on_done=on_sequence_done, cost=cost)
    ordered = [scored[sequence.name] for sequence in sequences]
    objects = [
        ObjectResult(video=seq.name, object_id=obj.object_id, statistics=obj.statistics(options.decay_indices))
        for seq in ordered
        for obj in seq.objects
    ]
    warn_unscored(objects)
    return DavisEvaluation(image_set=image_set, sequences=ordered, objects=objects)


# ----------------------------------------------------------------------------------------------- CSV


def format_csv_value(value: float) -> str:
    """The toolkit's `%.3f` cell; NaN is an empty cell (pandas' default)."""
    return "" if np.isnan(value) else "%.3f" % value  # noqa: UP031 - the toolkit's float_format


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """CSV text with `\\n` line ends, as pandas' `to_csv` writes it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def global_csv_text(table: DavisGlobal) -> str:
    """`global_results-<set>.csv` content: the 7 toolkit columns, one row, `%.3f`."""
    return csv_text(DAVIS_GLOBAL_COLUMNS, [[format_csv_value(v) for v in table.as_row().values()]])


def per_sequence_csv_text(objects: Sequence[ObjectResult]) -> str:
    """`per-sequence_results-<set>.csv` content: one row per object named `<seq>_<id>`, J-Mean and F-Mean
    (`n/a` for an object of a sequence too short to score: 1-2 frames have no evaluated frame)."""
    rows = [
        [obj.row_name, format_csv_value(obj.statistics.j_mean), format_csv_value(obj.statistics.f_mean)]
        if obj.scored
        else [obj.row_name, UNSCORED_CELL, UNSCORED_CELL]
        for obj in objects
    ]
    return csv_text(PER_SEQUENCE_COLUMNS, rows)


def csv_paths(output_dir: str | Path, image_set: str) -> tuple[Path, Path]:
    output_dir = Path(output_dir)
    return output_dir / f"global_results-{image_set}.csv", output_dir / f"per-sequence_results-{image_set}.csv"


def write_csvs(evaluation: DavisEvaluation, output_dir: str | Path) -> tuple[Path, Path]:
    """Write both toolkit CSVs atomically into `output_dir` (created if needed)."""
    global_path, per_sequence_path = csv_paths(output_dir, evaluation.image_set)
    os.makedirs(output_dir, exist_ok=True)
    write_text_atomic(global_path, global_csv_text(evaluation.global_table))
    write_text_atomic(per_sequence_path, per_sequence_csv_text(evaluation.objects))
    return global_path, per_sequence_path
