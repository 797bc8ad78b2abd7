"""The device the `gpu`-marked tests run on: CUDA, or the one S3_GPU_TESTS_DEVICE names (see tests/conftest.py)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def gpu_device() -> str:
    return os.environ.get("S3_GPU_TESTS_DEVICE") or "cuda"
