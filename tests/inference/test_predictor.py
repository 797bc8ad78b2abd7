"""The predictor on synthetic videos: late entries, removals, non-contiguous ids, parity, TTA and resizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s3.inference import (
    InferenceConfig,
    InferenceInputError,
    MultiScalePredictor,
    VideoPredictor,
    average_probabilities,
)
from s3.inference.image_ops import resize_image, resize_index_mask, resize_probabilities
from s3.model.deploy import is_prepared
from s3.model.factory import build_network
from s3.model.network import VOSNetwork
from s3.training.propagation import propagate_first_frame
from tests.inference.conftest import blob_video


def run(predictor: VideoPredictor, images: torch.Tensor, given: dict[int, torch.Tensor]) -> list[torch.Tensor]:
    predictor.reset()
    out = []
    for t in range(images.shape[0]):
        out.append(predictor.step(images[t], given.get(t), end=t == images.shape[0] - 1))
    return out


def test_parity_with_plain_propagation(tiny_network: VOSNetwork) -> None:
    """mem_every 1, unlimited memory, full softmax, sensory update every frame == the all-frames read."""
    images, masks = blob_video(6, 40, 56)
    expected = propagate_first_frame(tiny_network, images, masks[0], [3, 7])
    assert {3, 7} <= set(expected[-1].unique().tolist())  # not a degenerate all-one-label comparison
    config = InferenceConfig(mem_every=1, top_k=None, max_mem_frames=-1, stagger_updates=1)
    predictor = VideoPredictor(tiny_network, config)
    probs = run(predictor, images, {0: masks[0]})
    predicted = torch.stack([predictor.index_mask(p) for p in probs])
    assert torch.equal(predicted, expected)
    # the default (top-k, FIFO, mem_every 5) policy is a different computation
    default = VideoPredictor(tiny_network)
    other = run(default, images, {0: masks[0]})
    assert not torch.allclose(other[-1], probs[-1])


def test_objects_enter_late_with_non_contiguous_ids(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(7, 32, 48)
    first = torch.where(masks[1] == 3, 200, 0)  # id 200 appears on frame 1
    late = torch.where(masks[4] == 7, 17, 0)  # id 17 appears on frame 4
    predictor = VideoPredictor(tiny_network, InferenceConfig(mem_every=2))
    probs = run(predictor, images, {1: first, 4: late})
    assert probs[0].shape == (1, 32, 48) and torch.all(probs[0][0] == 1)  # before any mask: background
    assert [p.shape[0] for p in probs] == [1, 2, 2, 2, 3, 3, 3]
    assert predictor.object_ids == [200, 17]
    for p in probs:
        assert torch.allclose(p.sum(dim=0), torch.ones(32, 48), atol=1e-5)
    index = predictor.index_mask(probs[4])
    assert torch.equal(index[late == 17], torch.full_like(index[late == 17], 17))  # the given mask wins
    assert set(torch.unique(index).tolist()) <= {0, 17, 200}
    assert torch.equal(predictor.index_mask(probs[1]), first)  # the first given mask is returned as is
    buckets = predictor.memory.working.buckets
    assert [b.object_ids for b in buckets.values()] == [[200], [17]]  # one bucket per entry frame


def test_mask_for_tracked_objects_replaces_prediction(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(4, 32, 48)
    predictor = VideoPredictor(tiny_network)
    predictor.step(images[0], masks[0])
    predictor.step(images[1])
    correction = torch.where(masks[2] == 7, 7, 0)  # only object 7 drawn: object 3 is absent on this frame
    prob = predictor.step(images[2], correction)
    assert torch.equal(predictor.index_mask(prob), correction)
    assert prob.shape[0] == 3 and predictor.state.last_memory_frame == 2


def test_bad_input_messages(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(2, 32, 48)
    predictor = VideoPredictor(tiny_network)
    with pytest.raises(InferenceInputError, match=r"mask size 47x32 \(WxH\) differs from the frame size 48x32"):
        predictor.step(images[0], masks[0][:, :47])
    with pytest.raises(InferenceInputError, match=r"id\(s\) \[7\] not declared"):
        predictor.step(images[0], masks[0], [3])
    with pytest.raises(InferenceInputError, match="without a mask"):
        predictor.step(images[0], None, [3])
    with pytest.raises(InferenceInputError, match="3 channels"):
        predictor.step(torch.rand(4, 32, 48))
    with pytest.raises(InferenceInputError, match="integer object ids"):
        predictor.step(images[0], masks[0].float())


def test_uint8_numpy_frames(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(2, 32, 48)
    predictor = VideoPredictor(tiny_network)
    as_uint8 = (images[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    prob = predictor.step(as_uint8, masks[0].numpy().astype(np.uint8))
    assert prob.shape == (3, 32, 48)


def test_flip_tta_is_mirror_symmetric_and_full_size(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(5, 40, 56)
    predictor = VideoPredictor(tiny_network, InferenceConfig(flip_aug=True, mem_every=2))
    probs = run(predictor, images, {0: masks[0]})
    mirrored = run(predictor, images.flip(-1), {0: masks[0].flip(-1)})
    assert probs[-1].shape == (3, 40, 56)
    for a, b in zip(probs, mirrored, strict=True):
        assert torch.allclose(a, b.flip(-1), atol=1e-4)
    assert next(iter(predictor.memory.working.buckets.values())).key.shape[0] == 2  # batch 2 memories


def test_max_internal_size_equals_processing_the_resized_video(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(4, 64, 96)
    small = (32, 48)
    resized_images = torch.stack([resize_image(im, small) for im in images])
    resized_mask = resize_index_mask(masks[0], small)
    plain = VideoPredictor(tiny_network)
    expected = [resize_probabilities(p, (64, 96)) for p in run(plain, resized_images, {0: resized_mask})]
    internal = VideoPredictor(tiny_network, InferenceConfig(max_internal_size=32))
    got = run(internal, images, {0: masks[0]})
    assert got[0].shape == (3, 64, 96)
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_padding_to_the_network_multiple(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(3, 37, 51)  # not multiples of 16
    for multiple in (16, 32):  # Cutie pads to 16, S3 to 32
        tiny_network.pad_multiple = multiple
        try:
            predictor = VideoPredictor(tiny_network)
            probs = run(predictor, images, {0: masks[0]})
        finally:
            tiny_network.pad_multiple = 16
        assert all(p.shape == (3, 37, 51) for p in probs)
        assert torch.equal(predictor.index_mask(probs[0]), masks[0])
        bucket = next(iter(predictor.memory.working.buckets.values()))
        assert bucket.permanent == (48 // 16) * (64 // 16) if multiple == 16 else (64 // 16) * (64 // 16)


def test_multi_scale_average(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(3, 48, 64)
    multi = MultiScalePredictor(tiny_network, [32, None])
    outputs = run(multi, images, {0: masks[0]})
    singles = []
    for side in (32, None):
        one = MultiScalePredictor(tiny_network, [side])
        singles.append(run(one, images, {0: masks[0]}))
    for t, out in enumerate(outputs):
        assert out.shape == (3, 48, 64)
        assert torch.allclose(out, average_probabilities([singles[0][t], singles[1][t]]), atol=1e-6)
    assert multi.object_ids == [3, 7]


def test_chunking_and_amp_run(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(3, 32, 48)
    for config in (InferenceConfig(chunk_size=1), InferenceConfig(amp=True)):
        predictor = VideoPredictor(tiny_network, config)
        probs = run(predictor, images, {0: masks[0]})
        assert probs[-1].shape == (3, 32, 48) and probs[-1].dtype == torch.float32
        assert torch.isfinite(probs[-1]).all()


def test_memory_frames_and_staggered_sensory_updates(tiny_network: VOSNetwork, monkeypatch) -> None:  # noqa: ANN001
    """mem_every 3, stagger 2 -> sensory updated at offsets {1, 3} after each memory frame, never on the last."""
    flags: list[bool] = []
    original = tiny_network.segment

    def recording_segment(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        flags.append(kwargs["update_sensory"])
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_network, "segment", recording_segment)
    images, masks = blob_video(8, 32, 48)
    predictor = VideoPredictor(tiny_network, InferenceConfig(mem_every=3, stagger_updates=2))
    memory_frames = []
    for t in range(8):
        predictor.step(images[t], masks[t] if t == 0 else None, end=t == 7)
        if predictor.state.last_memory_frame == t:
            memory_frames.append(t)
    assert flags == [True, False, True, True, False, True, False]  # frames 1..7
    assert memory_frames == [0, 3, 6]
    assert predictor.memory.token_counts()["working"] == 2 * 6


def test_fast_paths_switch_chooses_prepared_or_reference_network() -> None:
    torch.manual_seed(0)
    network = build_network("s3", "tiny").train()
    fast = VideoPredictor(network)
    assert is_prepared(fast.network) and fast.network is not network and fast.fast_paths
    assert network.training  # the reference network is left as it is
    reference = VideoPredictor(network, fast_paths=False)
    assert reference.network is network and not network.training and not reference.fast_paths
    images, masks = blob_video(3, 64, 96)
    with_fast, with_reference = run(fast, images, {0: masks[0]}), run(reference, images, {0: masks[0]})
    for got, want in zip(with_fast, with_reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    scales = MultiScalePredictor(network, [None, 48])
    assert scales.predictors[0].network is scales.predictors[1].network  # prepared once, shared by the scales
    plain = MultiScalePredictor(network, [None], fast_paths=False)
    assert plain.predictors[0].network is network
