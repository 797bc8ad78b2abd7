"""LVOS v1 / v2 semi-supervised evaluation of a results folder, following the official LVOS toolkit.

Protocol (METRICS.md §4): the videos are the keys of `<lvos_path>/<set>_meta.json`, sorted by name as the
toolkit does, and each video's objects keep their meta order. The object at 1-based position k is reported
as row `<video>_k` and scored on its own frame range only: frame numbers start+5, start+10, ..., end-5 (LVOS
annotates every 5th frame; the first and last annotated frames of the range are left out), with
GT = (dense `Annotations/<video>/<8-digit>.png` == id) and prediction = (`<results>/<video>/<8-digit>.png` == id).
J and F are the DAVIS measures (`s3.metrics`). Per object: J and F means and recalls, and the temporal
variation V = sqrt(round(population variance of (J_t + F_t) / 2, 4)). Objects are grouped by whether their
video is listed in `unseen_videos.txt`; each global J, F and V is the mean of the seen-group mean and the
unseen-group mean, and J&F = (J_s + F_s + J_u + F_u) / 4.

Where the toolkit crashes or prints NaN, this module does the following instead (METRICS.md is silent):
* a group (seen or unseen) without objects: the global J, F, V and J&F come from the other group alone,
  the empty group's columns are blank (NaN), and a warning says so (the toolkit would print NaN overall);
* an object without evaluated frames (frame_nums <= 2): blank J/F/V, left out of the group means, warned;
* a `frame_nums` that disagrees with start/end stepping 5 (the toolkit would crash or pad zeros): error.
As in the toolkit, result ids that are not objects of the video are ignored and result frames that are not
evaluated are never opened. Existing CSVs are always recomputed and replaced (the toolkit reuses them).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.readers.lvos import load_lvos_meta
from s3.evaluation.davis import csv_paths, csv_text, format_csv_value, run_jobs
from s3.evaluation.errors import EvaluationError, MissingFileError
from s3.io.atomic import write_text_atomic
from s3.io.palette import read_index_mask
from s3.metrics.boundary import DEFAULT_BOUND_TH
from s3.metrics.statistics import object_statistics
from s3.metrics.video import frame_scores

LVOS_SETS = ("valid", "test")
FRAME_STEP = 5  # LVOS annotates every 5th frame of the 30 fps numbering
LVOS_GLOBAL_COLUMNS = (
    "J&F-Mean",
    "J-Mean",
    "J-seen-Mean",
    "J-unseen-Mean",
    "F-Mean",
    "F-seen-Mean",
    "F-unseen-Mean",
    "V-Mean",
    "V-seen-Mean",
    "V-unseen-Mean",
)
LVOS_PER_SEQUENCE_COLUMNS = ("Sequence", "J-Mean", "F-Mean", "V-Mean")
# Meta names tried for each set, first the one the toolkit opens.
_META_NAMES = {"valid": ("valid_meta.json", "val_meta.json"), "test": ("test_meta.json",)}


@dataclass(frozen=True)
class LvosObject:
    """One object to score: its id, 1-based meta position and the frame numbers of its annotated range."""

    object_id: int
    position: int
    start: int
    end: int

    @property
    def evaluated_frames(self) -> tuple[int, ...]:
        """start+5 ... end-5: the range without its first and last annotated frame."""
        return tuple(range(self.start + FRAME_STEP, self.end, FRAME_STEP))


@dataclass(frozen=True)
class LvosVideo:
    name: str
    objects: tuple[LvosObject, ...]
    seen: bool


@dataclass(frozen=True)
class LvosSplit:
    """What `discover_lvos` found: the meta file used, the videos (sorted) and any warnings."""

    root: Path
    image_set: str
    meta_file: Path
    videos: tuple[LvosVideo, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LvosObjectScores:
    """Per-frame J and F of one object over its evaluated frame numbers, and its summary statistics."""

    video: str
    object_id: int
    position: int
    seen: bool
    frames: tuple[int, ...]
    j: np.ndarray
    f: np.ndarray

    @property
    def row_name(self) -> str:
        """The toolkit's row name `<video>_<k>`, k = position in the meta (not the id)."""
        return f"{self.video}_{self.position}"

    @property
    def j_mean(self) -> float:
        return object_statistics(self.j)[0]

    @property
    def j_recall(self) -> float:
        return object_statistics(self.j)[1]

    @property
    def f_mean(self) -> float:
        return object_statistics(self.f)[0]

    @property
    def f_recall(self) -> float:
        return object_statistics(self.f)[1]

    @property
    def v(self) -> float:
        return temporal_variation(self.j, self.f)


@dataclass(frozen=True)
class LvosGlobal:
    """Group means (NaN for a group without scored objects) and the combined LVOS numbers."""

    j_seen: float
    j_unseen: float
    f_seen: float
    f_unseen: float
    v_seen: float
    v_unseen: float
    num_seen: int
    num_unseen: int

    @property
    def j(self) -> float:
        return _mean_of_groups(self.j_seen, self.j_unseen)

    @property
    def f(self) -> float:
        return _mean_of_groups(self.f_seen, self.f_unseen)

    @property
    def v(self) -> float:
        return _mean_of_groups(self.v_seen, self.v_unseen)

    @property
    def jf(self) -> float:
        """(J_s + F_s + J_u + F_u) / 4, which is (J + F) / 2 (also when one group is empty)."""
        return (self.j + self.f) / 2

    def as_row(self) -> dict[str, float]:
        """Values keyed by the toolkit's column names, in its column order."""
        values = (
            self.jf,
            self.j,
            self.j_seen,
            self.j_unseen,
            self.f,
            self.f_seen,
            self.f_unseen,
            self.v,
            self.v_seen,
            self.v_unseen,
        )
        return dict(zip(LVOS_GLOBAL_COLUMNS, values, strict=True))


@dataclass(frozen=True)
class LvosEvaluation:
    image_set: str
    objects: list[LvosObjectScores]
    warnings: list[str] = field(default_factory=list)

    @property
    def global_table(self) -> LvosGlobal:
        return lvos_global(self.objects)


# ---------------------------------------------------------------------------------------------- statistics


def temporal_variation(j: np.ndarray, f: np.ndarray) -> float:
    """V of one object: sqrt of the population variance of (J_t + F_t) / 2, rounded to 4 decimals first.

    NaN without frames. The rounding is NumPy's (half to even on the scaled value), which is what the
    toolkit's `round()` of a NumPy float does.
    """
    jf = (np.asarray(j, dtype=np.float64) + np.asarray(f, dtype=np.float64)) / 2
    if jf.size == 0:
        return math.nan
    variance = np.sum((np.mean(jf) - jf) ** 2) / jf.size
    return math.sqrt(float(np.round(variance, 4)))


def _mean_of_groups(seen: float, unseen: float) -> float:
    present = [value for value in (seen, unseen) if not math.isnan(value)]
    return sum(present) / len(present) if present else math.nan


def _group_mean(values: Sequence[float]) -> float:
    kept = [value for value in values if not math.isnan(value)]
    return float(np.mean(kept)) if kept else math.nan


def lvos_global(objects: Sequence[LvosObjectScores]) -> LvosGlobal:
    """Seen / unseen group means of J, F and V (objects without evaluated frames are left out)."""
    groups = {True: [o for o in objects if o.seen and o.frames], False: [o for o in objects if not o.seen and o.frames]}
    means = {
        (seen, name): _group_mean([getattr(o, name) for o in members])
        for seen, members in groups.items()
        for name in ("j_mean", "f_mean", "v")
    }
    return LvosGlobal(
        j_seen=means[True, "j_mean"],
        j_unseen=means[False, "j_mean"],
        f_seen=means[True, "f_mean"],
        f_unseen=means[False, "f_mean"],
        v_seen=means[True, "v"],
        v_unseen=means[False, "v"],
        num_seen=len(groups[True]),
        num_unseen=len(groups[False]),
    )


# ----------------------------------------------------------------------------------------------- discovery


def find_meta_file(lvos_path: str | Path, image_set: str = "valid") -> tuple[Path, str | None]:
    """The `<set>_meta.json` of a split folder, and a warning when a fallback name (val_meta.json) was used."""
    if image_set not in LVOS_SETS:
        raise EvaluationError(f"--set {image_set!r}: the LVOS toolkit knows only {' / '.join(LVOS_SETS)}")
    root = Path(lvos_path)
    if not root.is_dir():
        raise MissingFileError(f"{root}: LVOS split folder not found")
    names = _META_NAMES[image_set]
    for name in names:
        if (root / name).is_file():
            note = None
            if name != names[0]:
                note = f"{root / name}: using it as the meta file (the toolkit expects {names[0]})"
            return root / name, note
    tried = " or ".join(names[1:])
    extra = f" (nor {tried})" if tried else ""
    raise MissingFileError(
        f"{root / names[0]}: LVOS meta file not found{extra}; --lvos-path must be the split folder holding "
        f"Annotations/ and {names[0]}"
    )


def read_unseen_videos(path: str | Path) -> frozenset[str]:
    """Video names of the toolkit's `unseen_videos.txt` (one per line; blank lines ignored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise MissingFileError(
            f"{path}: unseen video list not found (unseen_videos.txt ships with the toolkit)"
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{path}: cannot read the unseen video list ({error})") from error
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def _lvos_object(
    meta_file: Path, video: str, position: int, object_id: int, start: int, end: int, count: int | None
) -> LvosObject:
    where = f"{meta_file}: video {video}, object {object_id}"
    if (end - start) % FRAME_STEP:
        raise EvaluationError(
            f"{where}: frame_range start {start} and end {end} are not a multiple of {FRAME_STEP} frames apart"
        )
    expected = (end - start) // FRAME_STEP + 1
    if count is not None and count != expected:
        raise EvaluationError(
            f"{where}: frame_range.frame_nums is {count} but start {start} .. end {end} in steps of {FRAME_STEP} "
            f"holds {expected} frames (the toolkit would crash or score missing frames as 0)"
        )
    return LvosObject(object_id=object_id, position=position, start=start, end=end)


def discover_lvos(lvos_path: str | Path, unseen_videos: Collection[str], image_set: str = "valid") -> LvosSplit:
    """The videos and objects of an LVOS split folder (`Annotations/`, `<set>_meta.json`), checked for use."""
    root = Path(lvos_path)
    meta_file, note = find_meta_file(root, image_set)
    warnings = [note] if note else []
    try:
        meta = load_lvos_meta(meta_file)
    except DataFileNotFoundError as error:
        raise MissingFileError(str(error)) from error
    except DataError as error:
        raise EvaluationError(str(error)) from error
    annotations = root / "Annotations"
    videos = []
    for name in sorted(meta):
        objects = tuple(
            _lvos_object(meta_file, name, position, object_id, r.start, r.end, r.frame_nums)
            for position, (object_id, r) in enumerate(meta[name].items(), start=1)
        )
        if objects and not (annotations / name).is_dir():
            raise MissingFileError(f"{annotations / name}: no ground-truth masks for video {name!r}")
        videos.append(LvosVideo(name=name, objects=objects, seen=name not in unseen_videos))
    if not any(video.objects for video in videos):
        raise EvaluationError(f"{meta_file}: no objects to evaluate")
    strangers = sorted(set(unseen_videos) - set(meta))
    if strangers:
        listed = ", ".join(strangers[:3]) + (", ..." if len(strangers) > 3 else "")
        warnings.append(
            f"{len(strangers)} unseen video name(s) are not videos of {meta_file.name} ({listed}); "
            "is the unseen list from the same LVOS version?"
        )
    return LvosSplit(
        root=root, image_set=image_set, meta_file=meta_file, videos=tuple(videos), warnings=tuple(warnings)
    )


# ------------------------------------------------------------------------------------------------- scoring


def evaluate_lvos_video(
    video: LvosVideo, annotations_dir: str | Path, results_dir: str | Path, bound_th: float = DEFAULT_BOUND_TH
) -> list[LvosObjectScores]:
    """Score one video's objects, each on its own evaluated frames; every needed frame is read once."""
    gt_dir = Path(annotations_dir) / video.name
    result_dir = Path(results_dir) / video.name
    wanted = {obj.object_id: set(obj.evaluated_frames) for obj in video.objects}
    scores: dict[tuple[int, int], tuple[float, float]] = {}
    for number in sorted(set().union(*wanted.values())):
        stem = f"{number:08d}"
        gt_path = gt_dir / f"{stem}.png"
        if not gt_path.is_file():
            raise MissingFileError(f"{gt_path}: missing ground-truth frame {stem} of video {video.name!r}")
        gt = read_index_mask(gt_path)
        result_path = result_dir / f"{stem}.png"
        if not result_path.is_file():
            raise MissingFileError(f"{result_path}: missing result frame {stem} of video {video.name!r}")
        pred = read_index_mask(result_path, expected_hw=gt.shape)
        ids = [obj.object_id for obj in video.objects if number in wanted[obj.object_id]]
        j_values, f_values = frame_scores(pred, gt, ids, bound_th=bound_th)
        for object_id, j_value, f_value in zip(ids, j_values.tolist(), f_values.tolist(), strict=True):
            scores[object_id, number] = (j_value, f_value)
    results = []
    for obj in video.objects:
        frames = obj.evaluated_frames
        pairs = np.array([scores[obj.object_id, n] for n in frames], dtype=np.float64).reshape(len(frames), 2)
        results.append(
            LvosObjectScores(
                video=video.name,
                object_id=obj.object_id,
                position=obj.position,
                seen=video.seen,
                frames=frames,
                j=pairs[:, 0].copy(),
                f=pairs[:, 1].copy(),
            )
        )
    return results


def _evaluation_warnings(objects: Sequence[LvosObjectScores]) -> list[str]:
    warnings = [
        f"{obj.row_name} (object {obj.object_id}): its range has no frame between the first and the last; "
        "left out of the means"
        for obj in objects
        if not obj.frames
    ]
    table = lvos_global(objects)
    for missing, present in (("unseen", "seen"), ("seen", "unseen")):
        if getattr(table, f"num_{missing}") == 0 and getattr(table, f"num_{present}") > 0:
            warnings.append(
                f"no {missing} objects: J&F, J, F and V are the {present} means alone "
                f"(the toolkit would report NaN); check --unseen-videos"
            )
    return warnings


def evaluate_lvos(
    lvos_path: str | Path,
    results_dir: str | Path,
    unseen_videos: Collection[str],
    image_set: str = "valid",
    workers: int = 2,
    on_video_done: Callable[[str], None] | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
) -> LvosEvaluation:
    """Evaluate a whole results folder; videos run in `workers` processes (<= 1: in this process)."""
    split = discover_lvos(lvos_path, unseen_videos, image_set)
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise MissingFileError(f"{results_dir}: results folder not found")
    annotations = split.root / "Annotations"
    jobs = [(video.name, (video, annotations, results_dir, bound_th)) for video in split.videos]
    cost = {video.name: len(set().union(*(o.evaluated_frames for o in video.objects))) for video in split.videos}
    scored = run_jobs(evaluate_lvos_video, jobs, workers, on_done=on_video_done, cost=cost)
    objects = [obj for video in split.videos for obj in scored[video.name]]
    return LvosEvaluation(
        image_set=image_set, objects=objects, warnings=[*split.warnings, *_evaluation_warnings(objects)]
    )


# ----------------------------------------------------------------------------------------------------- CSV


def lvos_global_csv_text(table: LvosGlobal) -> str:
    """`global_results-<set>.csv` content: the 10 toolkit columns, one row, `%.3f`."""
    return csv_text(LVOS_GLOBAL_COLUMNS, [[format_csv_value(v) for v in table.as_row().values()]])


def lvos_per_sequence_csv_text(objects: Sequence[LvosObjectScores]) -> str:
    """`per-sequence_results-<set>.csv` content: one row per object `<video>_<k>`: J-Mean, F-Mean, V-Mean."""
    rows = [
        [o.row_name, format_csv_value(o.j_mean), format_csv_value(o.f_mean), format_csv_value(o.v)] for o in objects
    ]
    return csv_text(LVOS_PER_SEQUENCE_COLUMNS, rows)


def write_lvos_csvs(evaluation: LvosEvaluation, output_dir: str | Path) -> tuple[Path, Path]:
    """Write both toolkit CSVs atomically into `output_dir` (created if needed)."""
    global_path, per_sequence_path = csv_paths(output_dir, evaluation.image_set)
    os.makedirs(output_dir, exist_ok=True)
    write_text_atomic(global_path, lvos_global_csv_text(evaluation.global_table))
    write_text_atomic(per_sequence_path, lvos_per_sequence_csv_text(evaluation.objects))
    return global_path, per_sequence_path
