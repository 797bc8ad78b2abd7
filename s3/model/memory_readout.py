"""Pixel memory readout: anisotropic L2 similarity, (top-k) softmax and value aggregation."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def similarity(
    memory_key: Tensor,
    memory_shrinkage: Tensor | None,
    query_key: Tensor,
    query_selection: Tensor | None,
) -> Tensor:
    """Negative anisotropic squared L2 distance between memory and query keys, scaled by shrinkage.

    memory_key: B CK M, memory_shrinkage: B 1 M, query_key: B CK P, query_selection: B CK P -> B M P.
    """
    key_dim = memory_key.shape[1]
    mk = memory_key.transpose(1, 2)  # B M CK
    if query_selection is not None:
        a_sq = mk.pow(2) @ query_selection
        two_ab = 2 * (mk @ (query_key * query_selection))
        b_sq = (query_selection * query_key.pow(2)).sum(dim=1, keepdim=True)
    else:
        a_sq = mk.pow(2).sum(dim=2, keepdim=True)
        two_ab = 2 * (mk @ query_key)
        b_sq = query_key.pow(2).sum(dim=1, keepdim=True)
    sim = -a_sq + two_ab - b_sq
    if memory_shrinkage is not None:
        sim = sim * memory_shrinkage.transpose(1, 2)
    return sim / math.sqrt(key_dim)


def softmax_affinity(sim: Tensor, top_k: int | None = None) -> Tensor:
    """Softmax over the memory axis (dim 1) of B M P similarities; with `top_k`, only the k best per query."""
    if top_k is None or top_k >= sim.shape[1]:
        return torch.softmax(sim, dim=1)
    values, indices = torch.topk(sim, k=top_k, dim=1)
    weights = torch.softmax(values, dim=1)
    return torch.zeros_like(sim).scatter_(1, indices, weights)


def readout(affinity: Tensor, memory_value: Tensor) -> Tensor:
    """affinity: B M P, memory_value: B C M -> B C P."""
    return memory_value @ affinity
