"""Shared fixtures: the tiny random-weight network and small synthetic videos with moving blobs."""

from __future__ import annotations

import pytest
import torch

from s3.model.factory import build_network
from s3.model.network import VOSNetwork


@pytest.fixture(scope="session")
def tiny_network() -> VOSNetwork:
    torch.manual_seed(0)
    return build_network("cutie", "tiny").eval()


def blob_video(num_frames: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """T 3 H W frames with two moving rectangles and their T H W index masks (ids 3 and 7)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(num_frames, 3, height, width, generator=generator) * 0.3
    masks = torch.zeros(num_frames, height, width, dtype=torch.int64)
    for t in range(num_frames):
        top, left = 2 + t % 5, 3 + t
        masks[t, top : top + height // 3, left : left + width // 4] = 3
        masks[t, height // 2 : height // 2 + height // 4, width // 2 - t % 4 : width // 2 + width // 5] = 7
        images[t, 0][masks[t] == 3] = 0.9
        images[t, 2][masks[t] == 7] = 0.8
    return images, masks
