"""The inference forms of S3's encoder (row-blocked, in-place stages; BatchNorm-folded channels-last SPM; the
folded stride-4 tail; the folded semantic attention) compute what the reference modules compute, up to rounding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import s3.model.inference_forms as inference_forms
from s3.model.deformable_attention import MultiScaleDeformableAttention, grid_reference_points
from s3.model.deploy import inference_view
from s3.model.inference_forms import (
    BlockedInteractionStage,
    BlockedSpatialExtractor,
    FoldedSpatialPriorModule,
    FoldedTailEncoder,
    inference_blocks,
    row_blocks,
)
from s3.model.spatial_prior import SpatialPriorModule
from s3.model.spatial_semantic_block import InteractionStage, SpatialExtractor
from s3.model.spatial_semantic_encoder import SpatialSemanticEncoder
from tests.model.tiny_encoder import TINY


def randomise(module: nn.Module, seed: int = 0) -> None:
    """Every parameter and BatchNorm statistic random, so that no branch can hide behind a zero init."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        for norm in module.modules():
            if isinstance(norm, nn.BatchNorm2d):
                norm.running_mean.copy_(torch.randn(norm.num_features, generator=generator))
                norm.running_var.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 7 rows: every block boundary case (a short last block included) on tiny inputs."""
    monkeypatch.setattr(inference_forms, "INFERENCE_BLOCK_ROWS", 7)


def test_row_blocks_cover_the_rows_once():
    assert row_blocks(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert row_blocks(8, 8) == [slice(0, 8)]
    assert row_blocks(3, 2048) == [slice(0, 3)]


def test_inference_blocks_only_split_on_cpu():
    rows = 2 * inference_forms.INFERENCE_BLOCK_ROWS + 1
    assert len(inference_blocks(torch.empty(1, rows, 2))) == 3
    assert inference_blocks(torch.empty(1, rows, 2, device="meta")) == [slice(0, rows)]


def test_deformable_attention_in_query_blocks_equals_one_call():
    torch.manual_seed(0)
    attention = MultiScaleDeformableAttention(d_model=16, num_heads=4, num_levels=2, num_points=3)
    randomise(attention)
    shapes = [(4, 6), (2, 3)]
    query, value = torch.randn(2, 30, 16), torch.randn(2, 30, 16)
    reference = torch.rand(2, 30, 2, 2)
    whole = attention(query, reference, value, shapes)
    values = attention.project_values(value, shapes)
    blocked = torch.cat([attention.attend(query[:, rows], reference[:, rows], values) for rows in row_blocks(30, 8)], 1)
    torch.testing.assert_close(blocked, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("semantic", [True, False])
@pytest.mark.parametrize("extra", [0, 2])
def test_interaction_stage_inference_form_equals_reference(small_blocks, semantic, extra):
    torch.manual_seed(0)
    stage = InteractionStage(32, deform_num_heads=4, num_points=2, semantic=semantic, semantic_heads=4,
                             num_extra_extractors=extra).eval()  # fmt: skip
    randomise(stage)
    blocked = inference_view(stage).eval()
    assert type(blocked) is BlockedInteractionStage and type(blocked.extractor) is BlockedSpatialExtractor
    grid = (3, 4)
    spatial = torch.randn(2, 5 * 12, 32)
    cls_token, patch_tokens = torch.randn(2, 1, 32), torch.randn(2, 12, 32)
    reference = grid_reference_points([(6, 8), (3, 4)])
    expected = stage(spatial, cls_token, patch_tokens, reference, grid)  # the reference module, autograd on
    assert expected.requires_grad
    before = spatial.clone()
    with torch.inference_mode():
        actual = blocked(spatial, cls_token, patch_tokens, reference, grid)
        assert torch.equal(stage(spatial, cls_token, patch_tokens, reference, grid), expected.detach())
    torch.testing.assert_close(actual, expected.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(spatial, before, rtol=0, atol=0)  # the caller's tokens are not updated in place


def test_extractor_inference_form_leaves_its_input_alone(small_blocks):
    torch.manual_seed(1)
    extractor = SpatialExtractor(32, num_heads=4, num_points=2).eval()
    randomise(extractor)
    spatial, patch_tokens = torch.randn(1, 20, 32), torch.randn(1, 4, 32)
    reference = grid_reference_points([(4, 4), (2, 2)])
    expected = extractor(spatial, patch_tokens, reference, (2, 2)).detach()
    before = spatial.clone()
    with torch.no_grad():
        actual = inference_view(extractor).eval()(spatial, patch_tokens, reference, (2, 2))
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(spatial, before)


def test_reference_extractor_keeps_drop_path_without_autograd():
    """The reference forward draws its stochastic depth in training mode whatever the grad mode (no inference
    branch inside it)."""
    torch.manual_seed(0)
    extractor = SpatialExtractor(32, num_heads=4, num_points=2, drop_path=0.5)
    randomise(extractor)
    spatial, patch_tokens = torch.randn(4, 20, 32), torch.randn(4, 4, 32)
    reference = grid_reference_points([(4, 4), (2, 2)])
    with torch.no_grad():
        draws = {tuple(extractor(spatial, patch_tokens, reference, (2, 2))[:, 0, 0].tolist()) for _ in range(6)}
        assert len(draws) > 1
        extractor.eval()
        first = extractor(spatial, patch_tokens, reference, (2, 2))
        assert torch.equal(first, extractor(spatial, patch_tokens, reference, (2, 2)))


def test_spatial_prior_folded_form_equals_conv_bn_relu():
    torch.manual_seed(0)
    spm = SpatialPriorModule(inplanes=8, embed_dim=32).eval()
    randomise(spm)
    folded = inference_view(spm).eval()
    assert type(folded) is FoldedSpatialPriorModule
    image = torch.randn(2, 3, 64, 96)
    expected = spm.stem_features(image)  # autograd on: the module graph
    with torch.no_grad():
        actual = folded.stem_features(image)
        plain = spm.stem_features(image)
    for got, want, same in zip(actual, expected, plain, strict=True):
        assert got.is_contiguous(memory_format=torch.channels_last)
        assert not same.is_contiguous(memory_format=torch.channels_last)  # the reference never folds
        torch.testing.assert_close(got, want.detach(), rtol=1e-4, atol=1e-4)


def test_spatial_prior_in_training_mode_uses_batch_statistics():
    torch.manual_seed(0)
    spm = SpatialPriorModule(inplanes=8, embed_dim=32).train()
    image = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        s4, s8, s16 = spm.stem_features(image)
        assert spm.stem[1].running_mean.abs().sum() > 0  # statistics were updated
        folded_s4, _, _ = inference_view(spm).eval().stem_features(image)
    assert not s4.is_contiguous(memory_format=torch.channels_last)
    assert not torch.allclose(s4, folded_s4, atol=1e-3)


def test_encoder_folded_tail_equals_projected_reference(small_blocks):
    torch.manual_seed(0)
    encoder = SpatialSemanticEncoder(**TINY).eval()
    randomise(encoder.spm)
    randomise(encoder.interactions)
    randomise(encoder.up)
    with torch.no_grad():
        encoder.level_embed.normal_()
    for norm in (encoder.norm1, encoder.norm2, encoder.norm3):
        randomise(norm)
    folded = inference_view(encoder).eval()
    assert type(folded) is FoldedTailEncoder
    skips = (nn.Conv2d(32, 16, 1), nn.Conv2d(32, 8, 1))
    image = torch.randn(2, 3, 64, 96)

    def reference() -> list[torch.Tensor]:
        f16, f8, f4 = encoder(image)
        return [f16, skips[0](f8), skips[1](f4)]

    expected = reference()
    with torch.inference_mode():
        actual = folded.features_with_skips(image, skips)
        again = folded.features_with_skips(image, skips)  # cached tail weights
    assert [f.shape[1] for f in actual] == [32, 16, 8]
    for got, repeat, want in zip(actual, again, expected, strict=True):
        torch.testing.assert_close(got, want.detach(), rtol=1e-4, atol=1e-4)
        assert torch.equal(got, repeat)
    with torch.no_grad():  # weights changed in place: the cached stride-4 fold must follow
        encoder.up.weight.mul_(2.0)
    expected = reference()[2]
    with torch.inference_mode():
        torch.testing.assert_close(folded.features_with_skips(image, skips)[2], expected.detach(), rtol=1e-4, atol=1e-4)


def attention_pair(seed: int = 0) -> tuple[nn.MultiheadAttention, nn.Module]:
    reference = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    randomise(reference, seed)
    form = inference_view(reference)
    assert isinstance(form, inference_forms.BatchFirstAttention)
    return reference, form


def cutie_style_mask(batch: int, heads: int, length: int, sources: int) -> torch.Tensor:
    """A (B·heads) L S bool mask (True = blocked) with random holes; row 0 of every head keeps one open key."""
    mask = torch.rand(batch * heads, length, sources, generator=torch.Generator().manual_seed(3)) < 0.6
    mask[:, 0] = True
    mask[:, 0, 1] = False
    return mask


@pytest.mark.parametrize("kind", ["self", "cross-bool-mask", "cross-float-mask"])
@torch.inference_mode()
def test_batch_first_attention_equals_multihead_attention(kind):
    reference, form = attention_pair()
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(2, 300, 32, generator=generator)
    memory = query if kind == "self" else torch.randn(2, 9, 32, generator=generator)
    mask = None if kind == "self" else cutie_style_mask(2, 4, 300, 9)
    if kind == "cross-float-mask":
        mask = torch.zeros(mask.shape).masked_fill_(mask, float("-inf"))
    expected, _ = reference(query, memory + 1.0, memory, attn_mask=mask, need_weights=False)
    got, weights = form(query, memory + 1.0, memory, attn_mask=mask, need_weights=False)
    assert weights is None
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected_bf16, _ = reference(query, memory + 1.0, memory, attn_mask=mask, need_weights=False)
        got_bf16, _ = form(query, memory + 1.0, memory, attn_mask=mask, need_weights=False)
    assert got_bf16.dtype == expected_bf16.dtype == torch.bfloat16
    # bf16 rounding alone moves single outputs by ~0.1 here: compare the whole output's relative error
    for output in (got_bf16, expected_bf16):
        assert torch.linalg.norm(output.float() - expected) / torch.linalg.norm(expected) < 0.01
    assert torch.linalg.norm(got_bf16.float() - expected_bf16.float()) / torch.linalg.norm(expected) < 0.01


@torch.inference_mode()
def test_batch_first_attention_leaves_uncovered_calls_to_the_reference(monkeypatch):
    reference, form = attention_pair()
    query = torch.randn(2, 5, 32)
    calls = []
    original = nn.MultiheadAttention.forward
    monkeypatch.setattr(nn.MultiheadAttention, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    _, weights = form(query, query, query)  # need_weights defaults to True: only the reference returns weights
    assert weights is not None and weights.shape == (2, 5, 5) and len(calls) == 1
    form(query, query, query, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool), need_weights=False)
    assert len(calls) == 2
    form(query, query, query, need_weights=False)
    assert len(calls) == 2  # the covered call did not go through the reference forward
