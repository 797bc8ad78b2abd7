"""Memory policy checked on token counts and hand-computed consolidation numerics (no timing)."""

from __future__ import annotations

import math

import torch

from s3.inference import InferenceConfig, MemoryManager, VideoPredictor
from s3.model.network import VOSNetwork
from tests.inference.conftest import blob_video

H, W = 32, 48  # stride-16 grid 2 x 3 = 6 tokens per frame


def run_video(network: VOSNetwork, config: InferenceConfig, num_frames: int, check) -> VideoPredictor:  # noqa: ANN001
    images, masks = blob_video(num_frames, H, W)
    predictor = VideoPredictor(network, config)
    for t in range(num_frames):
        predictor.step(images[t], masks[t] if t == 0 else None)
        check(t, predictor)
    return predictor


def test_working_memory_fifo_never_exceeds_its_cap(tiny_network: VOSNetwork) -> None:
    config = InferenceConfig(mem_every=1, max_mem_frames=3)
    tokens = 6
    seen = []

    def check(t: int, predictor: VideoPredictor) -> None:
        counts = predictor.memory.token_counts()
        assert counts["permanent"] == tokens  # the first frame stays
        assert counts["working"] <= (config.max_mem_frames - 1) * tokens
        seen.append(counts["working"])

    predictor = run_video(tiny_network, config, 8, check)
    assert seen[-1] == 2 * tokens  # the cap is reached
    bucket = next(iter(predictor.memory.working.buckets.values()))
    # the newest frames are kept: the last memory frame's key is the bucket's last tokens
    assert bucket.key.shape[-1] == 3 * tokens and bucket.use_count is None  # no usage counting without long-term


def test_long_term_consolidation_triggers_and_respects_max_tokens(tiny_network: VOSNetwork) -> None:
    config = InferenceConfig(
        mem_every=1,
        use_long_term=True,
        long_term={
            "max_mem_frames": 4,
            "min_mem_frames": 2,
            "num_prototypes": 4,
            "max_num_tokens": 14,
            "buffer_tokens": 3,
        },
    )
    tokens, lt = 6, config.long_term
    long_sizes = []

    def check(t: int, predictor: VideoPredictor) -> None:
        counts = predictor.memory.token_counts()
        assert counts["permanent"] == tokens
        assert counts["working"] < (lt.max_mem_frames - 1) * tokens
        assert counts["max_long_term_per_bucket"] <= lt.max_num_tokens
        long_sizes.append(counts["long_term"])

    predictor = run_video(tiny_network, config, 20, check)
    assert predictor.memory.consolidations >= 5
    assert max(long_sizes) > lt.max_num_tokens - lt.num_prototypes  # it filled up ...
    drops = [b for a, b in zip(long_sizes, long_sizes[1:], strict=False) if b < a]
    assert drops and min(drops) == lt.max_num_tokens - lt.num_prototypes - lt.buffer_tokens + lt.num_prototypes
    long_bucket = next(iter(predictor.memory.long_term.buckets.values()))
    assert long_bucket.life_count is not None and long_bucket.life_count.max() >= 1  # long-term usage counted


def test_consolidation_matches_hand_computation() -> None:
    """Prototypes = highest-usage candidates; values/shrinkage = softmax-weighted candidate averages."""
    config = InferenceConfig(
        use_long_term=True,
        long_term={
            "max_mem_frames": 3,
            "min_mem_frames": 2,
            "num_prototypes": 1,
            "max_num_tokens": 10,
            "buffer_tokens": 1,
        },
    )
    memory = MemoryManager(config, sensory_dim=2)
    torch.manual_seed(0)
    frames = [(torch.randn(1, 2, 1, 2), torch.rand(1, 1, 1, 2) + 1, torch.rand(1, 2, 1, 2)) for _ in range(3)]
    values = [torch.randn(1, 1, 3, 1, 2) for _ in range(3)]
    summaries = torch.zeros(1, 1, 2, 5)
    memory.add(*frames[0], values[0], summaries, [1])  # permanent
    memory.add(*frames[1], values[1], summaries, [1])
    bucket = memory.working.buckets[0]
    bucket.use_count = torch.tensor([[0.2, 0.9]])  # token 1 of frame 1 is the most used
    bucket.life_count = torch.ones(1, 2)
    memory.add(*frames[2], values[2], summaries, [1])  # 2 working frames = cap -> consolidate frame 1
    assert memory.consolidations == 1
    assert bucket.non_permanent_size == 2 and torch.equal(bucket.key[..., 2:], frames[2][0].flatten(2))
    long_bucket = memory.long_term.buckets[0]
    cand_key, cand_shrink = frames[1][0].flatten(2)[0], frames[1][1].flatten(2)[0]  # 2 x 2, 1 x 2
    proto_key, proto_sel = cand_key[:, 1], frames[1][2].flatten(2)[0][:, 1]
    assert torch.allclose(long_bucket.key[0, :, 0], proto_key)
    sims = torch.tensor(
        [-(proto_sel * (cand_key[:, i] - proto_key) ** 2).sum() * cand_shrink[0, i] / math.sqrt(2) for i in range(2)]
    )
    weights = torch.softmax(sims, dim=0)
    expected_value = values[1].flatten(3)[0, 0] @ weights
    assert torch.allclose(long_bucket.values[1][0, :, 0], expected_value, atol=1e-6)
    assert torch.allclose(long_bucket.shrinkage[0, 0, 0], (cand_shrink[0] * weights).sum(), atol=1e-6)
    assert long_bucket.use_count.tolist() == [[0.0]]


def test_remove_objects_purges_memory(tiny_network: VOSNetwork) -> None:
    images, masks = blob_video(4, H, W)
    predictor = VideoPredictor(tiny_network, InferenceConfig(mem_every=1))
    predictor.step(images[0], masks[0])
    predictor.step(images[1])
    predictor.remove_objects([3])
    memory = predictor.memory
    assert predictor.object_ids == [7]
    assert 3 not in memory.sensory and 3 not in memory.object_memory
    assert all(3 not in b.values and 3 not in b.object_ids for b in memory.working.buckets.values())
    assert predictor.state.last_mask is not None and predictor.state.last_mask.shape[1] == 1
    prob = predictor.step(images[2])
    assert prob.shape == (2, H, W)
    predictor.remove_objects([7])
    assert not memory.working.buckets and not memory.engaged
    prob = predictor.step(images[3])
    assert prob.shape == (1, H, W) and torch.all(prob == 1)
