"""Pixel memory readout: anisotropic L2 similarity, (top-k) softmax and value aggregation.

`similarity` / `softmax_affinity` / `readout` are the reference (training and reference inference). The top-k read
below is their inference form (the predictor's memory read with `fast_paths`): query-major similarities, a top-k
over contiguous rows and a k-row gather instead of the dense M×P affinity product; same values up to rounding
(`tests/model/test_memory_readout.py`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


# ------------------------------------------------------------------------------- top-k read (inference form)
def similarity_by_query(
    memory_key: Tensor,
    memory_shrinkage: Tensor | None,
    query_key: Tensor,
    query_selection: Tensor | None,
) -> Tensor:
    """`similarity` transposed, B P M (query-major, so that a per-query top-k reads contiguous rows).

    The two memory-key products of the anisotropic distance, `-mk² · qs` and `2 mk · (qk qs)`, are one batched
    matmul over stacked channels. Same function as `similarity(...).transpose(1, 2)` up to rounding.
    memory_key: B CK M, memory_shrinkage: B 1 M, query_key / query_selection: B CK P -> B P M.
    """
    key_dim = memory_key.shape[1]
    qk = query_key.transpose(1, 2)  # B P CK
    if query_selection is not None:
        qs = query_selection.transpose(1, 2)
        left = torch.cat([qs, 2 * qk * qs], dim=2)  # B P 2CK
        right = torch.cat([-memory_key.pow(2), memory_key], dim=1)  # B 2CK M
        sim = torch.bmm(left, right)
        sim.sub_((qs * qk.pow(2)).sum(dim=2, keepdim=True))
    else:
        sim = torch.bmm(2 * qk, memory_key)
        sim.sub_(memory_key.pow(2).sum(dim=1, keepdim=True)).sub_(qk.pow(2).sum(dim=2, keepdim=True))
    scale = 1 / math.sqrt(key_dim)
    return sim.mul_(memory_shrinkage * scale if memory_shrinkage is not None else scale)


def topk_affinity(sim_by_query: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """The `top_k` memory tokens of each query and their softmax weights: (weights B P k, indices B P k).

    The non-zero part of `softmax_affinity(sim, top_k)` (sim_by_query = sim transposed): every other entry of
    that affinity is exactly zero.
    """
    values, indices = torch.topk(sim_by_query, k=top_k, dim=2)
    return torch.softmax(values, dim=2), indices


def topk_readout(weights: Tensor, indices: Tensor, memory_value: Tensor) -> Tensor:
    """`readout(affinity, memory_value)` for a top-k affinity given as (weights, indices) B P k: each query sums
    its k weighted memory values (a gather of k rows, not a product with the mostly-zero M×P affinity).

    memory_value: B C M -> B C P.
    """
    outputs = []
    for batch in range(memory_value.shape[0]):
        table = memory_value[batch].t().contiguous()  # M C: one row per memory token
        summed = F.embedding_bag(indices[batch], table, per_sample_weights=weights[batch], mode="sum")  # P C
        outputs.append(summed.t())
    return torch.stack(outputs)


def topk_usage(weights: Tensor, indices: Tensor, num_memory: int) -> Tensor:
    """`affinity.sum(dim=2)` (affinity mass received by each memory token, B M) of a top-k affinity."""
    usage = weights.new_zeros(weights.shape[0], num_memory)
    return usage.scatter_add_(1, indices.flatten(1), weights.flatten(1))
