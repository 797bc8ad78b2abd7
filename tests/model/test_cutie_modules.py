"""Output shapes of every Cutie stage, at a small resolution with the `tiny` and `small` widths."""

from __future__ import annotations

import pytest
import torch

from s3.model import build_network
from s3.model.layers import SinusoidalPositionalEncoding2D, aggregate_with_background, eca_kernel_size
from s3.model.memory_readout import similarity, softmax_affinity


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return build_network("cutie", "small").eval()


def test_stage_shapes(network) -> None:
    b, n, h, w = 2, 3, 64, 96
    image = torch.rand(b, 3, h, w)
    with torch.no_grad():
        ms, pix = network.encode_image(image)
        assert [tuple(f.shape) for f in ms] == [(b, 256, 4, 6), (b, 256, 8, 12), (b, 128, 16, 24)]  # f16, skips
        assert pix.shape == (b, 256, 4, 6)
        key, shrinkage, selection = network.transform_key(ms[0])
        assert key.shape == (b, 64, 4, 6) and shrinkage.shape == (b, 1, 4, 6) and selection.shape == key.shape
        assert (shrinkage >= 1).all() and ((selection > 0) & (selection < 1)).all()
        sensory = torch.zeros(b, n, 256, 4, 6)
        masks = torch.rand(b, n, h, w)
        value, sensory, summaries = network.encode_mask(image, pix, sensory, masks)
        assert value.shape == (b, n, 256, 4, 6) and sensory.shape == (b, n, 256, 4, 6)
        assert summaries.shape == (b, n, 16, 257)
        selector = torch.ones(b, n, 1, 1)
        readout, aux_in = network.read_memory(
            key, selection, key.unsqueeze(2), shrinkage.unsqueeze(2), value.unsqueeze(3),
            summaries.unsqueeze(2), pix, sensory, masks, selector,
        )  # fmt: skip
        assert readout.shape == (b, n, 256, 4, 6)
        assert len(aux_in["q_logits"]) == 4 and aux_in["q_logits"][0].shape == (b, n, 4, 6)
        aux = network.compute_aux(pix, aux_in, selector.view(b, n))
        assert aux["sensory_logits"].shape == (b, n + 1, 4, 6)
        assert aux["q_logits"].shape == (b, n + 1, 4, 4, 6)
        new_sensory, logits, prob = network.segment(ms, readout, sensory, selector=selector)
        assert new_sensory.shape == sensory.shape and logits.shape == (b, n + 1, h, w)
        torch.testing.assert_close(prob.sum(1), torch.ones(b, h, w))


def test_chunked_mask_encoding_matches_full(network) -> None:
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        _, pix = network.encode_image(image)
        sensory = torch.randn(1, 3, 256, 2, 2)
        masks = torch.rand(1, 3, 32, 32)
        full = network.encode_mask(image, pix, sensory, masks)
        chunked = network.encode_mask(image, pix, sensory, masks, chunk_size=1)
    for a, c in zip(full, chunked, strict=True):
        torch.testing.assert_close(a, c)


def test_pixel_encoder_batchnorm_stays_frozen(network) -> None:
    network.train()
    assert not network.pixel_encoder.bn1.training and not network.mask_encoder.bn1.training
    assert network.object_transformer.training


def test_aggregate_background_is_product_of_complements() -> None:
    prob = torch.tensor([[[0.2]], [[0.5]]]).unsqueeze(0)  # B=1, N=2, 1x1
    logits = aggregate_with_background(prob)
    soft = torch.softmax(logits, dim=1)
    # odds ratios: p/(1-p) for background 0.4, objects 0.2, 0.5 -> 0.4/0.6, 0.2/0.8, 0.5/0.5
    odds = torch.tensor([0.4 / 0.6, 0.25, 1.0])
    torch.testing.assert_close(soft.flatten(), odds / odds.sum())


def test_eca_kernel_and_positional_encoding() -> None:
    assert eca_kernel_size(256) == 5 and eca_kernel_size(64) == 3
    pe = SinusoidalPositionalEncoding2D(256, scale=32, temperature=128)(3, 4)
    assert pe.shape == (3, 4, 256)
    # column part varies along width only, row part along height only; position 0 encodes sin 0 / cos 0
    assert torch.allclose(pe[0, :, :128], pe[2, :, :128]) and torch.allclose(pe[:, 0, 128:], pe[:, 3, 128:])
    assert torch.allclose(pe[0, 0, 0::2], torch.zeros(128)) and torch.allclose(pe[0, 0, 1::2], torch.ones(128))
    # the last column sits at `scale`: sin(32 * inv_freq[0]) with inv_freq[0] = 1
    assert torch.isclose(pe[0, 3, 0], torch.sin(torch.tensor(32.0 * 3 / (3 + 1e-6))))


def test_similarity_matches_explicit_formula() -> None:
    torch.manual_seed(1)
    mk, qk = torch.randn(1, 8, 5), torch.randn(1, 8, 3)
    ms, qe = torch.rand(1, 1, 5) + 1, torch.rand(1, 8, 3)
    sim = similarity(mk, ms, qk, qe)
    expected = torch.empty(1, 5, 3)
    for i in range(5):
        for j in range(3):
            expected[0, i, j] = -(qe[0, :, j] * (mk[0, :, i] - qk[0, :, j]) ** 2).sum() * ms[0, 0, i] / 8**0.5
    torch.testing.assert_close(sim, expected)
    top = softmax_affinity(sim, top_k=2)
    assert ((top > 0).sum(dim=1) == 2).all()
    torch.testing.assert_close(top.sum(dim=1), torch.ones(1, 3))
