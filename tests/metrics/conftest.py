"""The OSVOS fixture masks (used as ground truth) and the prediction scenarios of METRICS.md §1.11."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.osvos_scenarios import load_sequence, make_prediction

SEQUENCES = ("bike-packing", "dogs-jump", "judo", "shooting")


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
