"""Discriminative-query cross-attention: hard selection inside the mask, gradients, normalisation switch."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from s3.model.discriminative_query import DiscriminativeQueryAttention


def reference(module: DiscriminativeQueryAttention, x, pixel, x_pe, pixel_pe, mask):
    """Loop over (object, head, query): pick the most cosine-similar allowed pixel slice, then gate."""
    batch, queries, channels = x.shape
    heads = module.num_heads
    head_dim = channels // heads
    residual = module.norm(x)
    pixel_unit = F.normalize(pixel + pixel_pe, dim=-1)
    query_unit = F.normalize(residual + x_pe, dim=-1)
    picked = torch.zeros(batch, queries, channels)
    for b in range(batch):
        for m in range(heads):
            part = slice(m * head_dim, (m + 1) * head_dim)
            for q in range(queries):
                scores = pixel_unit[b, :, part] @ query_unit[b, q, part]
                if mask is not None:
                    scores = scores.masked_fill(mask[b * heads + m, q], float("-inf"))
                picked[b, q, part] = pixel_unit[b, int(scores.argmax()), part]
    gate = module.proj(picked * query_unit)
    gate = F.normalize(gate, dim=1 if module.normalization == "queries" else -1)
    return module.final(gate * module.alpha + picked) + residual


def random_inputs(batch=2, queries=4, pixels=12, channels=16, heads=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x, x_pe = torch.randn(2, batch, queries, channels, generator=generator)
    pixel, pixel_pe = torch.randn(2, batch, pixels, channels, generator=generator)
    mask = torch.rand(batch * heads, queries, pixels, generator=generator) < 0.6
    mask[..., 0] = False  # no row blocked everywhere (the caller guarantees this)
    return x, pixel, x_pe, pixel_pe, mask


@pytest.mark.parametrize("normalization", ["queries", "channels"])
@pytest.mark.parametrize("use_mask", [True, False])
def test_matches_loop_reference(normalization, use_mask):
    torch.manual_seed(0)
    module = DiscriminativeQueryAttention(dim=16, num_heads=4, normalization=normalization)
    torch.nn.init.normal_(module.alpha)
    x, pixel, x_pe, pixel_pe, mask = random_inputs()
    mask = mask if use_mask else None
    out, similarity = module(x, pixel, x_pe, pixel_pe, mask)
    assert out.shape == (2, 4, 16) and similarity.shape == (2, 4, 12, 4)
    torch.testing.assert_close(out, reference(module, x, pixel, x_pe, pixel_pe, mask), atol=1e-5, rtol=1e-5)


def test_normalisation_switch_changes_the_result():
    torch.manual_seed(0)
    queries = DiscriminativeQueryAttention(dim=16, num_heads=4, normalization="queries")
    channels = DiscriminativeQueryAttention(dim=16, num_heads=4, normalization="channels")
    channels.load_state_dict(queries.state_dict())
    inputs = random_inputs()
    assert not torch.allclose(queries(*inputs)[0], channels(*inputs)[0])
    with pytest.raises(ValueError, match="normalization"):
        DiscriminativeQueryAttention(16, 4, normalization="pixels")


def test_picks_the_argmax_token_inside_the_mask():
    """Pixel 5 matches the query best but is blocked; pixel 2 is the best allowed one and must be selected."""
    channels, heads, pixels = 8, 1, 6
    module = DiscriminativeQueryAttention(dim=channels, num_heads=heads)
    x = torch.zeros(1, 1, channels)
    x_pe = torch.zeros(1, 1, channels)
    x_pe[0, 0, 0] = 1.0  # LN(0) = 0, so the query direction is e0
    pixel = torch.randn(1, pixels, channels) * 0.1
    pixel[0, 5, 0] = 10.0
    pixel[0, 2, 0] = 5.0
    pixel_pe = torch.zeros_like(pixel)
    mask = torch.zeros(heads, 1, pixels, dtype=torch.bool)
    mask[0, 0, 5] = True
    pixel.requires_grad_(True)
    out, similarity = module(x, pixel, x_pe, pixel_pe, mask)
    assert similarity.shape == (1, 1, pixels, 1)
    assert similarity[0, 0, 5, 0] == float("-inf")
    assert similarity[0, 0, :, 0].argmax() == 2
    out.sum().backward()
    # Gradients reach the pixel stream only through the gathered (selected) token.
    touched = pixel.grad.abs().sum(-1)[0] > 0
    assert touched.tolist() == [False, False, True, False, False, False]


def test_heads_select_independently():
    """Head 0 prefers pixel 0, head 1 pixel 1, pixel 2 neither: only pixels 0 and 1 receive gradients (over all
    their channels, since the L2 normalisation spans the full channel axis)."""
    channels, heads = 4, 2
    module = DiscriminativeQueryAttention(dim=channels, num_heads=heads)
    x_pe = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]])
    pixel = torch.tensor([[[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [-1.0, 0.0, -1.0, 0.0]]], requires_grad=True)
    out, similarity = module(torch.zeros(1, 1, channels), pixel, x_pe, torch.zeros(1, 3, channels))
    assert similarity[0, 0, :, 0].argmax() == 0 and similarity[0, 1, :, 0].argmax() == 1
    out.sum().backward()
    per_pixel = pixel.grad[0].abs().sum(-1)
    assert per_pixel[0] > 0 and per_pixel[1] > 0 and per_pixel[2] == 0


def test_parameters_match_manifest(manifests_dir):
    manifest = json.loads((manifests_dir / "s3_full_vitb.json").read_text())
    prefix = "object_transformer.blocks.0.read_from_pixel."
    expected = [(key[len(prefix) :], shape) for key, shape in manifest.items() if key.startswith(prefix)]
    module = DiscriminativeQueryAttention()
    assert [(key, list(value.shape)) for key, value in module.state_dict().items()] == expected
    assert sum(p.numel() for p in module.parameters()) == 132_352
    assert torch.equal(module.alpha, torch.ones(1, 1, 256))


def test_bf16_autocast_runs():
    module = DiscriminativeQueryAttention(dim=16, num_heads=4)
    inputs = random_inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, similarity = module(*inputs)
    assert similarity.dtype == torch.float32
    torch.testing.assert_close(out.float(), module(*inputs)[0], atol=0.1, rtol=0.05)
