"""The OSVOS fixture masks (used as ground truth) and the prediction scenarios of METRICS.md §1.11."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

SEQUENCES = ("bike-packing", "dogs-jump", "judo", "shooting")


def load_sequence(folder: Path) -> np.ndarray:
    """T H W uint8 index masks of one fixture sequence."""
    return np.stack([np.array(Image.open(path)) for path in sorted(folder.glob("*.png"))])


def make_prediction(gt: np.ndarray, scenario: str) -> np.ndarray:
    if scenario == "identity":
        return gt.copy()
    if scenario == "lag1":
        return np.concatenate([gt[:1], gt[:-1]])
    if scenario == "drop_last_object":
        return np.where(gt == gt[0].max(), 0, gt).astype(gt.dtype)
    if scenario == "all_background":
        return np.zeros_like(gt)
    raise ValueError(scenario)


@pytest.fixture(scope="session")
def scenario_prediction() -> Callable[[np.ndarray, str], np.ndarray]:
    """`make_prediction(gt, scenario)`: the deterministic prediction of a §1.11 scenario."""
    return make_prediction


@pytest.fixture(scope="session")
def osvos_masks(fixtures_dir: Path) -> dict[str, np.ndarray]:
    return {name: load_sequence(fixtures_dir / "davis_osvos" / name) for name in SEQUENCES}


@pytest.fixture(scope="session")
def lag1_expected(fixtures_dir: Path) -> dict[str, Any]:
    with open(fixtures_dir / "davis_osvos" / "expected" / "lag1_per_frame.json") as handle:
        return json.load(handle)["lag1"]
