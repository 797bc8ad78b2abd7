"""The OSVOS fixture masks and the deterministic prediction scenarios of METRICS.md §1.11 (shared test helpers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def load_sequence(folder: Path) -> np.ndarray:
    """T H W uint8 index masks of one sequence folder of PNGs."""
    return np.stack([np.array(Image.open(path)) for path in sorted(folder.glob("*.png"))])


def make_prediction(gt: np.ndarray, scenario: str) -> np.ndarray:
    """The prediction of a §1.11 scenario from the ground truth."""
    if scenario == "identity":
        return gt.copy()
    if scenario == "lag1":
        return np.concatenate([gt[:1], gt[:-1]])
    if scenario == "drop_last_object":
        return np.where(gt == gt[0].max(), 0, gt).astype(gt.dtype)
    if scenario == "all_background":
        return np.zeros_like(gt)
    raise ValueError(scenario)
