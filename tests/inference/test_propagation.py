from __future__ import annotations

import pytest
import torch

from s3.data.batch import VideoSample
from s3.inference import InferenceConfig, VideoPredictor, VideoSampleError, propagate_video
from s3.model.network import VOSNetwork
from tests.inference.conftest import blob_video


def sample(images: torch.Tensor, masks: torch.Tensor, first: dict[int, int]) -> VideoSample:
    return VideoSample(
        name="blobs",
        images=images,
        masks=masks,
        annotated=torch.ones(images.shape[0], dtype=torch.bool),
        object_ids=sorted(first),
        first_appearance=first,
        frame_names=[f"{t:05d}" for t in range(images.shape[0])],
        original_size=tuple(images.shape[-2:]),
    )


def test_first_appearance_masks_only(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(6, 32, 48)
    predictor = VideoPredictor(tiny_network, InferenceConfig(mem_every=2))
    video = sample(images, masks, {3: 0, 7: 2})
    result = propagate_video(predictor, video)
    assert result.shape == (6, 32, 48) and result.dtype == torch.int64
    assert torch.equal(result[0], torch.where(masks[0] == 3, 3, 0))  # 7 is not given on frame 0
    assert torch.equal(result[2][masks[2] == 7], torch.full_like(result[2][masks[2] == 7], 7))
    assert predictor.object_ids == [3, 7]
    # ground truth past the first appearance is never read (DAVIS val has GT on every frame)
    scrambled = masks.clone()
    scrambled[3:] = 0
    again = propagate_video(predictor, sample(images, scrambled, {3: 0, 7: 2}))
    assert torch.equal(again, result)


def test_frames_before_first_mask_and_output_size(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(4, 32, 48)
    seen = []
    result = propagate_video(
        VideoPredictor(tiny_network),
        sample(images, masks, {3: 1, 7: 1}),
        output_size=(64, 96),
        on_probabilities=lambda t, prob, ids: seen.append((t, tuple(prob.shape), ids)),
    )
    assert result.shape == (4, 64, 96) and not result[0].any()
    assert seen[0] == (0, (1, 64, 96), []) and seen[1] == (1, (3, 64, 96), [3, 7])


def test_inconsistent_sample(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(2, 32, 48)
    with pytest.raises(VideoSampleError, match="frame 5, outside 0..1"):
        propagate_video(VideoPredictor(tiny_network), sample(images, masks, {3: 0, 7: 5}))
