"""Tiny on-disk datasets shared by the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.data.synthetic import generate_synthetic_davis
from s3.io.palette import index_mask_image

TINY_SYNTHETIC = {"seed": 3, "num_train": 4, "num_val": 2, "num_frames": 10, "height": 48, "width": 64}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic DAVIS tree (4 train + 2 val videos of 10 frames, 48 x 64)."""
    return generate_synthetic_davis(tmp_path_factory.mktemp("synthetic") / "davis", **TINY_SYNTHETIC)


def write_vos_video(
    image_root: Path,
    mask_root: Path | None,
    name: str,
    frames: np.ndarray,
    masks: np.ndarray | None,
    stems: list[str] | None = None,
    mask_positions: list[int] | None = None,
) -> None:
    """Write T H W 3 frames as JPEGs and (some of) T H W index masks as paletted PNGs."""
    stems = stems or [f"{t:05d}" for t in range(len(frames))]
    (image_root / name).mkdir(parents=True, exist_ok=True)
    for stem, frame in zip(stems, frames, strict=True):
        Image.fromarray(frame).save(image_root / name / f"{stem}.jpg", quality=95)
    if mask_root is not None and masks is not None:
        (mask_root / name).mkdir(parents=True, exist_ok=True)
        positions = mask_positions if mask_positions is not None else range(len(masks))
        for t in positions:
            index_mask_image(masks[t]).save(mask_root / name / f"{stems[t]}.png")
