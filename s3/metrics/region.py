"""Region similarity J (intersection over union) of the DAVIS 2017 toolkit."""

from __future__ import annotations

import numpy as np


def j_from_counts(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """J = I / U elementwise, and 1 where the union is empty (object absent in both masks)."""
    intersection = np.asarray(intersection, dtype=np.float64)
    union = np.asarray(union, dtype=np.float64)
    empty = union == 0
    return np.where(empty, 1.0, intersection / np.where(empty, 1.0, union))


def jaccard(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """J of one binary prediction against one binary ground truth.

    Args:
        pred, gt: H W binary masks (non-zero = object).
        void: optional H W mask of pixels removed from both the intersection and the union.
    """
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must be H W of the same size")
    pred = pred.astype(bool, copy=False)
    gt = gt.astype(bool, copy=False)
    keep = np.ones_like(pred) if void is None else ~void.astype(bool, copy=False)
    intersection = np.count_nonzero(pred & gt & keep)
    union = np.count_nonzero((pred | gt) & keep)
    return float(j_from_counts(np.array(intersection), np.array(union)))
