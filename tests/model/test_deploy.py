"""`prepare_for_inference`: the prepared network computes what the reference network computes, on every preset, with
every inference branch taken; it shares (never copies) the parameters, follows weight updates and leaves training
alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import s3.inference.memory_manager as memory_manager
import s3.model.fast_linear as fast_linear
import s3.model.inference_forms as inference_forms
from s3.inference import InferenceConfig, VideoPredictor
from s3.inference.config import LongTermConfig
from s3.model import PRESETS, build_network
from s3.model.deploy import is_prepared, prepare_for_inference
from s3.model.inference_forms import FoldedTailEncoder, InferenceOnlyError
from s3.model.network import VOSNetwork
from s3.model.spatial_semantic_block import SpatialExtractor

ALL_PRESETS = ["cutie", "cutie_dq", "cutie_dq_vit", "cutie_dq_vit_spatial", "s3"]
SPATIAL_PRESETS = {"cutie_dq_vit_spatial", "s3"}
HEIGHT, WIDTH = 64, 96  # stride-16 grid 4×6: 120 spatial tokens, 24 pixel tokens per object


def test_every_preset_is_covered() -> None:
    assert sorted(ALL_PRESETS) == sorted(PRESETS)


def randomise_batchnorms(network: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, so that a wrong BatchNorm fold cannot pass."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for norm in network.modules():
            if isinstance(norm, nn.BatchNorm2d):
                channels = norm.num_features
                norm.running_mean.copy_(torch.randn(channels, generator=generator) * 0.2)
                norm.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
                norm.weight.copy_(1.0 + 0.2 * torch.randn(channels, generator=generator))
                norm.bias.copy_(0.2 * torch.randn(channels, generator=generator))


@pytest.fixture(scope="module")
def networks() -> dict[str, VOSNetwork]:
    built = {}
    for preset in ALL_PRESETS:
        torch.manual_seed(0)
        network = build_network(preset, "tiny")
        randomise_batchnorms(network)
        built[preset] = network.eval()
    return built


def synthetic_video(frames: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """T 3 H W frames with two moving blobs, the first frame's mask (ids 1, 2) and a later mask adding id 3."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(frames, 3, HEIGHT, WIDTH, generator=generator) * 0.4
    for t in range(frames):
        images[t, 0, 8 + t : 30 + t, 10 : 40 + 2 * t] = 0.9
        images[t, 2, 36:60, 50 - t : 85] = 0.8
    first = torch.zeros(HEIGHT, WIDTH, dtype=torch.int64)
    first[8:30, 10:40] = 1
    first[36:60, 50:85] = 2
    late = torch.zeros(HEIGHT, WIDTH, dtype=torch.int64)
    late[2:10, 60:90] = 3
    return images, first, late


def run_predictor(predictor: VideoPredictor) -> list[torch.Tensor]:
    """Frame 0 with a mask (memory frame), plain frames (one of them a memory frame at mem_every 2), a frame that
    adds an object while the others are tracked, and a last frame."""
    images, first, late = synthetic_video()
    given = {0: first, 3: late}
    return [predictor.step(images[t], given.get(t), end=t == len(images) - 1) for t in range(len(images))]


class CallCounter:
    """Wraps a function and counts its calls (and, optionally, calls whose result satisfies `hit`)."""

    def __init__(self, function: Callable, hit: Callable[[object], bool] | None = None) -> None:
        self.function, self.hit = function, hit
        self.calls = self.hits = 0

    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204 - a transparent wrapper
        self.calls += 1
        result = self.function(*args, **kwargs)
        if self.hit is not None and self.hit(result):
            self.hits += 1
        return result


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("preset", ALL_PRESETS)
def test_prepared_predictor_equals_reference_predictor(networks, monkeypatch, preset: str, precision: str) -> None:
    network = networks[preset]
    # Thresholds lowered so the tiny width takes every branch: several row blocks (a short last one included) and
    # the oneDNN product for every linear with 16 rows or more.
    monkeypatch.setattr(inference_forms, "INFERENCE_BLOCK_ROWS", 16)
    monkeypatch.setattr(fast_linear, "MIN_ROWS", 16)
    blocks = CallCounter(inference_forms.inference_blocks, hit=lambda result: len(result) > 1)
    monkeypatch.setattr(inference_forms, "inference_blocks", blocks)
    folded_convs = CallCounter(inference_forms.conv_bn_relu_folded)
    monkeypatch.setattr(inference_forms, "conv_bn_relu_folded", folded_convs)
    tail = CallCounter(FoldedTailEncoder._folded_stride4)
    monkeypatch.setattr(FoldedTailEncoder, "_folded_stride4", lambda *args: tail(*args))
    onednn = CallCounter(fast_linear.onednn_eligible, hit=bool)
    monkeypatch.setattr(fast_linear, "onednn_eligible", onednn)
    topk_reads = CallCounter(memory_manager.topk_readout)
    monkeypatch.setattr(memory_manager, "topk_readout", topk_reads)

    # top_k 10 < the 24 tokens of one memory frame: every memory read of the prepared predictor is a top-k gather
    config = InferenceConfig(mem_every=2, stagger_updates=2, top_k=10, amp=precision == "bf16", amp_dtype="bfloat16")
    reference = run_predictor(VideoPredictor(network, config, fast_paths=False))
    assert onednn.calls == 0 and topk_reads.calls == 0  # the reference never uses the oneDNN product / gather
    prepared = run_predictor(VideoPredictor(network, config))
    assert topk_reads.calls == 5  # frames 1-4 read the memory; frame 4 two buckets (object 3 came with its own mask)

    assert [p.shape[0] for p in prepared] == [3, 3, 3, 4, 4]
    tolerance = 1e-4 if precision == "fp32" else 3e-2
    for got, want in zip(prepared, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)
    assert prepared[-1][1:].amax() > 0.2  # the objects are not simply lost (a degenerate comparison)
    assert onednn.hits > 0  # the large fp32 linears went through oneDNN
    if precision == "bf16":
        assert onednn.hits < onednn.calls  # under autocast F.linear (only fp32 islands may use oneDNN)
    if preset in SPATIAL_PRESETS:
        assert blocks.hits > 0 and folded_convs.calls > 0 and tail.calls > 0
    else:
        assert blocks.calls == folded_convs.calls == tail.calls == 0


@pytest.mark.parametrize("flip", [False, True])
def test_topk_memory_read_with_long_term_memory_equals_the_dense_read(networks, monkeypatch, flip: bool) -> None:
    """The top-k gather also feeds the long-term memory's usage counts (consolidation and pruning pick tokens by
    them) and reads batch-2 (flipped) memories: same predictions as the dense read over a run that consolidates."""
    topk_usages = CallCounter(memory_manager.topk_usage)
    monkeypatch.setattr(memory_manager, "topk_usage", topk_usages)
    long_term = LongTermConfig(max_mem_frames=3, min_mem_frames=2, num_prototypes=8, max_num_tokens=40, buffer_tokens=8)
    config = InferenceConfig(mem_every=1, top_k=10, use_long_term=True, long_term=long_term, flip_aug=flip)
    network = networks["cutie"]
    dense = VideoPredictor(network, config, fast_paths=False)
    reference = run_predictor(dense)
    gathered = VideoPredictor(network, config)
    prepared = run_predictor(gathered)
    assert topk_usages.calls > 0 and gathered.memory.consolidations == dense.memory.consolidations > 0
    for got, want in zip(prepared, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("preset", ["cutie", "s3"])
def test_preparing_leaves_training_unaffected(preset: str) -> None:
    torch.manual_seed(0)
    network = build_network(preset, "tiny").train()
    images = torch.rand(2, 3, HEIGHT, WIDTH)

    def training_pass() -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        network.zero_grad()
        torch.manual_seed(5)
        features, pix_feat = network.encode_image(images)
        outputs = [*features, pix_feat]
        sum(out.square().mean() for out in outputs).backward()
        grads = {name: p.grad.clone() for name, p in network.named_parameters() if p.grad is not None}
        return [out.detach() for out in outputs], grads

    classes = [type(module) for module in network.modules()]
    before_outputs, before_grads = training_pass()
    prepared = prepare_for_inference(network)
    run_predictor(VideoPredictor(prepared, InferenceConfig(mem_every=2)))
    assert network.training and not prepared.training
    assert [type(module) for module in network.modules()] == classes
    after_outputs, after_grads = training_pass()
    for got, want in zip(after_outputs, before_outputs, strict=True):
        assert torch.equal(got, want)
    assert after_grads.keys() == before_grads.keys() and before_grads
    for name, grad in after_grads.items():
        assert torch.equal(grad, before_grads[name]), name


def test_prepared_network_shares_parameters_and_buffers() -> None:
    """No second copy of the weights (S3-base has 140M parameters), the same state-dict keys."""
    network = build_network("s3", "tiny").eval()
    prepared = prepare_for_inference(network)
    assert is_prepared(prepared) and not is_prepared(network)
    assert prepare_for_inference(prepared) is prepared
    assert prepared is not network and prepared.pixel_encoder is not network.pixel_encoder
    assert list(prepared.state_dict()) == list(network.state_dict())
    for (name, ours), (_, theirs) in zip(prepared.named_parameters(), network.named_parameters(), strict=True):
        assert ours is theirs, name
    for (name, ours), (_, theirs) in zip(prepared.named_buffers(), network.named_buffers(), strict=True):
        assert ours is theirs, name


def test_prepared_network_follows_weight_updates() -> None:
    """One prepared network (as a predictor cached over validation epochs holds) computes with the current weights
    after optimizer steps (which also move the BatchNorm statistics) and after `load_state_dict`."""
    torch.manual_seed(0)
    network = build_network("s3", "tiny")
    randomise_batchnorms(network)
    prepared = prepare_for_inference(network.eval())
    images = torch.rand(2, 3, HEIGHT, WIDTH)

    def compare() -> list[torch.Tensor]:
        network.eval()
        with torch.inference_mode():
            got, _ = prepared.encode_image(images)
            want, _ = network.encode_image(images)
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        return got

    first = compare()
    optimizer = torch.optim.SGD([p for p in network.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):
        network.train()
        features, _ = network.encode_image(images)
        sum(f.square().mean() for f in features).backward()
        optimizer.step()
        optimizer.zero_grad()
    second = compare()
    assert not torch.allclose(second[2], first[2], atol=1e-3)  # the update changed the (cached) folded tail
    torch.manual_seed(1)
    network.load_state_dict(build_network("s3", "tiny").state_dict())
    third = compare()
    assert not torch.allclose(third[2], second[2], atol=1e-3)


def test_prepared_network_refuses_training() -> None:
    network = build_network("s3", "tiny")
    prepared = prepare_for_inference(network)
    with pytest.raises(InferenceOnlyError, match="prepared for inference"):
        prepared.train()
    with pytest.raises(InferenceOnlyError, match="without autograd"):
        prepared.encode_image(torch.rand(1, 3, HEIGHT, WIDTH))
    assert network.training  # preparing did not touch the reference's mode


def test_a_researchers_subclass_keeps_its_forward_in_the_prepared_network() -> None:
    """Only exact reference classes are swapped: an edited block (here a subclass) runs as written in both forms."""

    class ShiftedExtractor(SpatialExtractor):
        def forward(self, spatial, patch_tokens, reference_points, grid):  # noqa: ANN001, ANN201
            return super().forward(spatial, patch_tokens, reference_points, grid) + 1.0

    torch.manual_seed(0)
    network = build_network("s3", "tiny").eval()
    stage = network.pixel_encoder.interactions[-1]
    original = stage.extractor
    attn = original.attn
    shifted = ShiftedExtractor(attn.d_model, num_heads=attn.num_heads, num_points=attn.num_points)
    shifted.load_state_dict(original.state_dict())
    images = torch.rand(1, 3, HEIGHT, WIDTH)
    with torch.inference_mode():
        before = prepare_for_inference(network).encode_image(images)[0][0]
        stage.extractor = shifted.eval()
        prepared = prepare_for_inference(network)
        assert type(prepared.pixel_encoder.interactions[-1].extractor) is ShiftedExtractor
        after, reference = prepared.encode_image(images)[0][0], network.encode_image(images)[0][0]
    torch.testing.assert_close(after, reference, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(after, before, atol=1e-2)
