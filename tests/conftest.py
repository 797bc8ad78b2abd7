"""Shared test setup: one torch thread per process (2-core machines), offline W&B, shared fixtures path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only `shared/` folder next to the checkout (spec manifests, real fixtures)."""
    if not SHARED_DIR.is_dir():
        pytest.fail(f"expected the shared/ folder at {SHARED_DIR} (spec manifests and fixtures)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def manifests_dir(shared_dir: Path) -> Path:
    return shared_dir / "spec" / "manifests"


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir: Path) -> Path:
    return shared_dir / "fixtures"
