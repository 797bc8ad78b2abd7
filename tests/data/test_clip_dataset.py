from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from s3.data.augment import AugmentationConfig, draw_clip_geometry, warp_images, warp_masks
from s3.data.clip_dataset import ClipDataset, ClipRequest, ClipSamplingConfig
from s3.data.readers.davis import read_davis
from s3.data.readers.folder import read_vos_folder
from s3.data.sampling import max_consecutive_gap
from tests.data.conftest import write_vos_video


def _dataset(records, crop: int = 32, frames: int = 4, objects: int = 3, merge: float = 0.0) -> ClipDataset:
    return ClipDataset(
        [(records, 1)],
        ClipSamplingConfig(num_frames=frames, num_objects=objects, merge_probability=merge),
        AugmentationConfig(crop_size=crop),
    )


def test_clip_contract(synthetic_root: Path) -> None:
    dataset = _dataset(read_davis(synthetic_root, image_set="train"), crop=40, frames=5, merge=0.5)
    for index in range(0, len(dataset), 7):
        item = dataset[ClipRequest(index, 10, index)]
        images, masks, selector = item["images"], item["masks"], item["selector"]
        assert images.shape == (5, 3, 40, 40) and images.dtype == torch.float32
        assert 0.0 <= images.min() and images.max() <= 1.0
        assert masks.shape == (5, 3, 40, 40) and masks.dtype == torch.float32
        assert set(masks.unique().tolist()) <= {0.0, 1.0}
        assert (masks.sum(dim=1) <= 1).all(), "one object per pixel"
        assert selector.shape == (3,) and selector[0] == 1
        used = selector.bool()
        assert (masks[0, used].flatten(1).amax(1) == 1).all(), "selected objects are in the first frame"
        assert (masks[:, ~used] == 0).all(), "unused slots are empty"
        assert item["frame_indices"].shape == (5,)


def test_same_request_same_clip(synthetic_root: Path) -> None:
    dataset = _dataset(read_davis(synthetic_root, image_set="train"))
    a, b = dataset[ClipRequest(3, 5, 99)], dataset[ClipRequest(3, 5, 99)]
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["masks"], b["masks"])
    c = dataset[ClipRequest(3, 5, 100)]
    assert not torch.equal(a["images"], c["images"])


def _static_video(root: Path, num_frames: int = 6) -> list:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, size=(40, 56, 3), dtype=np.uint8)
    mask = np.zeros((40, 56), dtype=np.uint8)
    mask[5:30, 8:25], mask[12:35, 30:50], mask[0:6, 0:56] = 1, 7, 3
    write_vos_video(
        root / "JPEGImages",
        root / "Annotations",
        "static",
        np.stack([frame] * num_frames),
        np.stack([mask] * num_frames),
    )
    return read_vos_folder("static", root / "JPEGImages", root / "Annotations")


def test_same_geometry_and_photometry_across_frames(tmp_path: Path) -> None:
    dataset = _dataset(_static_video(tmp_path), crop=36)
    for seed in range(8):
        item = dataset[ClipRequest(seed % len(dataset), 5, seed)]
        assert torch.equal(item["images"], item["images"][:1].expand_as(item["images"]))
        assert torch.equal(item["masks"], item["masks"][:1].expand_as(item["masks"]))


def test_warped_masks_keep_ids() -> None:
    rng = np.random.default_rng(1)
    masks = rng.choice(np.array([0, 4, 9, 200], dtype=np.uint8), size=(3, 50, 70))
    images = rng.integers(0, 255, size=(3, 50, 70, 3), dtype=np.uint8)
    config = AugmentationConfig(crop_size=33)
    for _ in range(10):
        matrix = draw_clip_geometry(rng, 50, 70, config)
        warped = warp_masks(masks, matrix, 33)
        assert warped.shape == (3, 33, 33) and warped.dtype == np.uint8
        assert set(np.unique(warped).tolist()) <= {0, 4, 9, 200}
        assert warp_images(images, matrix, 33).shape == (3, 33, 33, 3)


@pytest.mark.parametrize(("global_skip", "interval", "expected"), [(5, 2, 2), (10, 2, 5), (15, 5, 3), (10, 3, 3)])
def test_clips_respect_scaled_max_skip(tmp_path: Path, global_skip: int, interval: int, expected: int) -> None:
    records = _static_video(tmp_path, num_frames=30)
    for record in records:
        record.frame_interval = interval
    dataset = _dataset(records, frames=6)
    gaps = [max_consecutive_gap(dataset[ClipRequest(i, global_skip, i)]["frame_indices"].tolist()) for i in range(30)]
    assert max(gaps) <= expected
    assert max(gaps) == expected, "the scaled window is actually used"


def test_first_frame_never_empty(tmp_path: Path) -> None:
    frames = np.full((12, 32, 32, 3), 90, dtype=np.uint8)
    masks = np.zeros((12, 32, 32), dtype=np.uint8)
    masks[6:, 10:20, 10:20] = 2  # the object only exists in the second half
    write_vos_video(tmp_path / "JPEGImages", tmp_path / "Annotations", "late", frames, masks)
    records = read_vos_folder("late", tmp_path / "JPEGImages", tmp_path / "Annotations")
    dataset = _dataset(records, frames=4, objects=2)
    for index in range(12):
        item = dataset[ClipRequest(index, 5, index)]
        assert item["selector"].tolist() == [1.0, 0.0]
        assert item["masks"][0, 0].any()
        assert item["frame_indices"][0] >= 6


def test_merge_pastes_objects_with_fresh_ids(synthetic_root: Path) -> None:
    dataset = _dataset(read_davis(synthetic_root, image_set="train"), frames=3, merge=1.0)
    counts = [int(dataset[ClipRequest(i, 5, i)]["selector"].sum()) for i in range(0, len(dataset), 3)]
    assert max(counts) == 3 and min(counts) >= 1
