"""Per-frame J and F of every object of one video, from index masks (the core of every evaluator here).

Both masks are index maps (pixel = object id). Each object's J and F only need the pixels inside the
bounding box of its prediction and ground truth, so work happens on that crop, which is exact (see
`boundary.boundary_counts`) and much cheaper than full frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from s3.metrics.boundary import DEFAULT_BOUND_TH, boundary_counts, boundary_radius, expand_box, f_from_counts
from s3.metrics.region import j_from_counts
from s3.metrics.statistics import DecayIndexMode, object_statistics


@dataclass(frozen=True)
class ObjectStatistics:
    """Mean / Recall / Decay of one object's J and F over its evaluated frames."""

    j_mean: float
    j_recall: float
    j_decay: float
    f_mean: float
    f_recall: float
    f_decay: float


@dataclass(frozen=True)
class ObjectScores:
    """Per-frame scores of one object.

    frames: n, indices (into the video) of the evaluated frames.
    j, f:   n, float64 per-frame region similarity and boundary accuracy.
    """

    object_id: int
    frames: np.ndarray
    j: np.ndarray
    f: np.ndarray

    def statistics(self, decay_indices: DecayIndexMode = "uint8") -> ObjectStatistics:
        return ObjectStatistics(
            *object_statistics(self.j, decay_indices),
            *object_statistics(self.f, decay_indices),
        )


def frame_scores(
    pred: np.ndarray,
    gt: np.ndarray,
    object_ids: Sequence[int],
    void: np.ndarray | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every listed object on one frame.

    Args:
        pred, gt: H W integer index masks of the same size.
        object_ids: K ids; object k is `pred == id` against `gt == id`.
        void: optional H W bool; void pixels count for neither mask.

    Returns:
        (J, F), each K float64.
    """
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must be H W of the same size")
    height, width = gt.shape
    radius = boundary_radius((height, width), bound_th)
    keep = None if void is None else ~void.astype(bool, copy=False)
    j_values = np.ones(len(object_ids), dtype=np.float64)
    f_values = np.ones(len(object_ids), dtype=np.float64)
    for index, object_id in enumerate(object_ids):
        union = (pred == object_id) | (gt == object_id)
        if keep is not None:
            union &= keep
        rows = np.flatnonzero(union.any(axis=1))
        if rows.size == 0:
            continue  # absent from both: J = F = 1
        cols = np.flatnonzero(union[rows[0] : rows[-1] + 1].any(axis=0))
        box = expand_box(int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1]), height, width)
        pred_crop = pred[box] == object_id
        gt_crop = gt[box] == object_id
        if keep is not None:
            pred_crop &= keep[box]
            gt_crop &= keep[box]
        intersection = np.count_nonzero(pred_crop & gt_crop)
        j_values[index] = j_from_counts(np.array(intersection), np.array(np.count_nonzero(union[box])))
        f_values[index] = f_from_counts(*boundary_counts(pred_crop, gt_crop, radius))
    return j_values, f_values


def default_frames(num_frames: int, exclude_first_last: bool = True) -> np.ndarray:
    """DAVIS evaluates frames 1 .. T-2 (the given first frame and, for legacy reasons, the last are skipped)."""
    if exclude_first_last:
        return np.arange(1, max(num_frames - 1, 1), dtype=np.int64)
    return np.arange(num_frames, dtype=np.int64)


def score_video(
    pred: np.ndarray,
    gt: np.ndarray,
    object_ids: Sequence[int],
    frames: Sequence[int] | np.ndarray | None = None,
    void: np.ndarray | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
    object_frames: Mapping[int, Sequence[int]] | None = None,
) -> list[ObjectScores]:
    """Per-frame J and F of each object of a video.

    Args:
        pred, gt: T H W integer index masks (same shape).
        object_ids: ids of the objects to score, in output order.
        frames: indices of the frames to evaluate (default: 1 .. T-2, the DAVIS rule).
        void: optional T H W bool void map.
        object_frames: per-object frame indices overriding `frames` (LVOS scores each object on its own range).

    Returns:
        One `ObjectScores` per object id, in the given order.
    """
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must be T H W of the same size")
    if void is not None and void.shape != gt.shape:
        raise ValueError(f"void map {void.shape} must match the ground truth {gt.shape}")
    num_frames = gt.shape[0]
    shared = default_frames(num_frames) if frames is None else np.asarray(frames, dtype=np.int64)
    per_object = {
        object_id: np.asarray(object_frames[object_id], dtype=np.int64)
        if object_frames is not None and object_id in object_frames
        else shared
        for object_id in object_ids
    }
    needed = np.unique(np.concatenate([np.zeros(0, dtype=np.int64), *per_object.values()]))
    if needed.size and (needed.min() < 0 or needed.max() >= num_frames):
        raise ValueError(f"evaluated frame indices must lie in 0..{num_frames - 1}")
    frame_sets = {object_id: frozenset(indices.tolist()) for object_id, indices in per_object.items()}
    j_by_frame: dict[tuple[int, int], float] = {}
    f_by_frame: dict[tuple[int, int], float] = {}
    for t in needed.tolist():
        wanted = [object_id for object_id in object_ids if t in frame_sets[object_id]]
        frame_void = None if void is None else void[t]
        j_values, f_values = frame_scores(pred[t], gt[t], wanted, frame_void, bound_th)
        for object_id, j_value, f_value in zip(wanted, j_values.tolist(), f_values.tolist(), strict=True):
            j_by_frame[object_id, t] = j_value
            f_by_frame[object_id, t] = f_value
    return [
        ObjectScores(
            object_id=int(object_id),
            frames=indices,
            j=np.array([j_by_frame[object_id, t] for t in indices.tolist()], dtype=np.float64),
            f=np.array([f_by_frame[object_id, t] for t in indices.tolist()], dtype=np.float64),
        )
        for object_id, indices in per_object.items()
    ]
