"""The top-k memory read (inference form) against the reference similarity / softmax_affinity / readout."""

from __future__ import annotations

import pytest
import torch

from s3.model.memory_readout import (
    readout,
    similarity,
    similarity_by_query,
    softmax_affinity,
    topk_affinity,
    topk_readout,
    topk_usage,
)


def memory_and_query(batch: int = 2, key_dim: int = 16, memory: int = 300, pixels: int = 120, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    memory_key = torch.randn(batch, key_dim, memory, generator=generator)
    shrinkage = torch.rand(batch, 1, memory, generator=generator) * 3 + 1
    query_key = torch.randn(batch, key_dim, pixels, generator=generator)
    selection = torch.rand(batch, key_dim, pixels, generator=generator)
    values = torch.randn(batch, 40, memory, generator=generator)
    return memory_key, shrinkage, query_key, selection, values


@pytest.mark.parametrize("with_selection", [True, False])
@pytest.mark.parametrize("with_shrinkage", [True, False])
def test_query_major_similarity_is_the_transposed_reference(with_selection, with_shrinkage):
    memory_key, shrinkage, query_key, selection, _ = memory_and_query()
    shrinkage = shrinkage if with_shrinkage else None
    selection = selection if with_selection else None
    expected = similarity(memory_key, shrinkage, query_key, selection).transpose(1, 2)
    got = similarity_by_query(memory_key, shrinkage, query_key, selection)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("top_k", [1, 7, 30])
def test_topk_read_equals_the_dense_top_k_affinity(top_k):
    memory_key, shrinkage, query_key, selection, values = memory_and_query(seed=top_k)
    affinity = softmax_affinity(similarity(memory_key, shrinkage, query_key, selection), top_k)  # B M P
    weights, indices = topk_affinity(similarity_by_query(memory_key, shrinkage, query_key, selection), top_k)
    assert weights.shape == indices.shape == (2, 120, top_k)
    dense = torch.zeros(2, 120, 300).scatter_(2, indices, weights).transpose(1, 2)
    torch.testing.assert_close(dense, affinity, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(topk_readout(weights, indices, values), readout(affinity, values), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(topk_usage(weights, indices, 300), affinity.sum(dim=2), rtol=1e-5, atol=1e-5)


def test_topk_readout_gathers_each_querys_own_tokens():
    values = torch.arange(12.0).view(1, 2, 6)  # channel 0: 0..5, channel 1: 6..11
    indices = torch.tensor([[[5, 0], [2, 2]]])  # query 0 reads tokens 5 and 0, query 1 token 2 twice
    weights = torch.tensor([[[0.25, 0.75], [0.5, 0.5]]])
    expected = torch.tensor([[[0.25 * 5, 2.0], [0.25 * 11 + 0.75 * 6, 8.0]]])
    torch.testing.assert_close(topk_readout(weights, indices, values), expected)
    torch.testing.assert_close(topk_usage(weights, indices, 6), torch.tensor([[0.75, 0, 1.0, 0, 0, 0.25]]))
