"""The object transformer's fg/bg attention mask, built once per object, equals the per-head formula it replaced."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from s3.model.layers import aggregate_with_background
from s3.model.object_transformer import ObjectTransformer


def reference_mask(logits: Tensor, selector: Tensor | None, num_queries: int, num_heads: int) -> Tensor:
    """The previous formula: the full (B·N·heads) Q hw mask first, then rows blocked everywhere unblocked."""
    prob = torch.sigmoid(logits.float())
    if selector is not None:
        prob = prob * selector.view(*prob.shape[:2], 1, 1)
    agg = aggregate_with_background(prob, dim=1)
    owned = (agg[:, 1:] >= agg.max(dim=1, keepdim=True).values).flatten(2)
    shape = (*owned.shape[:2], num_heads, num_queries // 2, owned.shape[-1])
    mask = torch.cat([(~owned)[:, :, None, None].expand(shape), owned[:, :, None, None].expand(shape)], dim=3)
    mask = mask.flatten(0, 2)
    return mask & ~mask.all(dim=-1, keepdim=True)


@pytest.mark.parametrize(("batch", "objects", "queries", "heads"), [(1, 2, 16, 8), (2, 3, 8, 4), (1, 1, 4, 2)])
def test_mask_equals_the_per_head_formula(batch: int, objects: int, queries: int, heads: int) -> None:
    torch.manual_seed(0)
    transformer = ObjectTransformer(embed_dim=32, num_queries=queries, num_blocks=1, num_heads=heads, ff_dim=16)
    logits = torch.randn(batch, objects, 6, 9) * 3
    logits[0, 0] = -20.0  # owns no pixel: its foreground rows are blocked everywhere, hence unblocked
    if objects > 1:
        logits[-1, 1] = 20.0  # may own every pixel: background rows unblocked
    selector = torch.ones(batch, objects, 1, 1)
    selector[-1, -1] = 0  # a padded object slot
    for sel in (None, selector):
        ours = transformer.attention_mask(logits, sel)
        expected = reference_mask(logits, sel, queries, heads)
        assert ours.dtype == torch.bool and ours.shape == expected.shape
        assert torch.equal(ours, expected)
        additive = transformer.attention_mask(logits, sel, additive=True)
        assert additive.dtype == torch.float32 and torch.equal(additive == float("-inf"), expected)
        assert torch.equal(additive[~expected], torch.zeros(int((~expected).sum())))
    # the edge cases were reached
    rows = reference_mask(logits, None, queries, heads)
    assert (~rows.any(dim=-1)).any()


@pytest.mark.parametrize("read_from_pixel", ["attention", "discriminative"])
def test_transformer_outputs_unchanged(monkeypatch: pytest.MonkeyPatch, read_from_pixel: str) -> None:
    torch.manual_seed(1)
    transformer = ObjectTransformer(
        embed_dim=32, num_queries=8, num_blocks=3, num_heads=4, ff_dim=16, read_from_pixel=read_from_pixel
    ).eval()
    pixel = torch.randn(1, 2, 32, 5, 7)
    memory = torch.rand(1, 2, 2, 8, 33)
    with torch.inference_mode():
        pixel_out, aux = transformer(pixel, memory)
        # the old path: the bool mask from the previous formula, converted by nn.MultiheadAttention itself
        monkeypatch.setattr(
            transformer,
            "attention_mask",
            lambda logits, sel, additive=False: reference_mask(logits, sel, 8, transformer.num_heads),
        )
        ref_pixel, ref_aux = transformer(pixel, memory)
    assert torch.equal(pixel_out, ref_pixel) and all(torch.equal(a, b) for a, b in zip(aux, ref_aux, strict=True))
