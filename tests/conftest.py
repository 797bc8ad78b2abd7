"""Shared test setup: one torch thread per process (2-core machines), offline W&B, the vendored fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
torch.set_num_threads(1)

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """`tests/fixtures/`: real masks, frames and videos vendored from the project's data (see its README)."""
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def manifests_dir(fixtures_dir: Path) -> Path:
    """`tests/fixtures/manifests/`: `{state_dict key: shape}` of the official Cutie / S3 / Depth-Anything models."""
    return fixtures_dir / "manifests"


# Runs the `gpu`-marked tests' bodies on another device (e.g. `cpu`): how they are exercised where no GPU is lent.
GPU_TESTS_DEVICE_VARIABLE = "S3_GPU_TESTS_DEVICE"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu`-marked tests are skipped, with the reason, where CUDA is not available (`make gpu-check` runs them),
    unless S3_GPU_TESTS_DEVICE names the device to run them on instead."""
    if torch.cuda.is_available() or os.environ.get(GPU_TESTS_DEVICE_VARIABLE):
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run `make gpu-check` on a GPU machine)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
