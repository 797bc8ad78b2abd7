"""The per-stage blocks of S3's spatial-semantic adapter.

Each interaction stage refines the spatial tokens `c` (stride-8 grid followed by the stride-16 grid, B 5hw C)
from the output of a group of frozen ViT blocks:

* semantic embedding (`read_from_cls`): `c` cross-attends to two tokens, the CLS token and the mean patch token;
* spatial dependency modelling (`extractor`): deformable attention from every spatial token into the stride-16
  ViT patch map, then a ConvFFN; the last stage has two more such extractors.

The ViT tokens themselves are never modified (no injector).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from s3.model.conv_ffn import ConvFFN
from s3.model.deformable_attention import MultiScaleDeformableAttention

__all__ = [
    "FoldedFewKeyAttention",
    "InteractionStage",
    "SemanticCrossAttention",
    "SpatialExtractor",
    "fold_few_key_attention",
    "fused_few_key_attention",
    "inference_blocks",
    "row_blocks",
]

LayerNorm = partial(nn.LayerNorm, eps=1e-6)
# Rows of spatial tokens per block in the inference forms on CPU: 2048 × 768 fp32 (6 MiB) stays in a 2-core AMD
# EPYC's L3 and measured fastest on one 480p extractor (1024: +9 %, 4096: +4 %, all 8100 rows at once: +15 %).
# On a GPU blocks only add kernel launches, so all rows form one block there.
INFERENCE_BLOCK_ROWS = 2048


@dataclass(frozen=True)
class FoldedFewKeyAttention:
    """An `nn.MultiheadAttention` with its few key/value tokens folded into its projections (see
    `fold_few_key_attention`); `apply` attends any number of query blocks to them."""

    query_weight: Tensor  # B C M·K
    query_bias: Tensor  # B 1 M·K
    value_weight: Tensor  # B M·K C
    out_bias: Tensor  # C
    num_heads: int
    num_keys: int

    def apply(self, query: Tensor) -> Tensor:
        """query B N C -> attention output B N C."""
        logits = torch.baddbmm(self.query_bias.to(query.dtype), query, self.query_weight.to(query.dtype))
        probs = logits.unflatten(-1, (self.num_heads, self.num_keys)).softmax(-1).flatten(2)
        return torch.baddbmm(self.out_bias.to(probs.dtype), probs, self.value_weight.to(probs.dtype))


def fold_few_key_attention(attention: nn.MultiheadAttention, keys: Tensor) -> FoldedFewKeyAttention:
    """Folds a handful of key/value tokens into the query and output projections of `attention`.

    With K keys the logits of head m are `q_m · k_mj / √d = x · (W_q,mᵀ k_mj / √d) + b_q,m · k_mj / √d`, and the
    output is `Σ_j a_mj · (W_o,m v_mj) + b_o`. Folding the K keys into the query projection and the K values into
    the output projection turns two N×C×C matmuls into N×C×(M·K) ones (for K=2, M=12: 2×768² → 2×768×24 per
    token). Algebraically identical to the packed nn.MultiheadAttention (no dropout, no masks); same parameters.

    Args:
        attention: a batch-first nn.MultiheadAttention with equal q/k/v dims.
        keys: B K C (used as keys and values).
    """
    num_heads = attention.num_heads
    channels = attention.embed_dim
    head_dim = channels // num_heads
    num_keys = keys.shape[1]
    w_q, w_k, w_v = attention.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attention.in_proj_bias.chunk(3)
    scale = head_dim**-0.5
    key = F.linear(keys, w_k, b_k).view(-1, num_keys, num_heads, head_dim)  # B K M d
    value = F.linear(keys, w_v, b_v).view(-1, num_keys, num_heads, head_dim)
    query_weight = torch.einsum("mdc,bkmd->bcmk", w_q.view(num_heads, head_dim, channels), key) * scale
    query_bias = torch.einsum("md,bkmd->bmk", b_q.view(num_heads, head_dim), key) * scale  # B M K
    w_o = attention.out_proj.weight.view(channels, num_heads, head_dim)
    value_weight = torch.einsum("cmd,bkmd->bmkc", w_o, value).flatten(1, 2)  # B M·K C
    return FoldedFewKeyAttention(
        query_weight.flatten(2),
        query_bias.flatten(1)[:, None],
        value_weight,
        attention.out_proj.bias,
        num_heads,
        num_keys,
    )


def fused_few_key_attention(attention: nn.MultiheadAttention, query: Tensor, keys: Tensor) -> Tensor:
    """`attention(query, keys, keys)` for a handful of key/value tokens, without projecting every query
    (`fold_few_key_attention`). query B N C, keys B K C -> B N C."""
    return fold_few_key_attention(attention, keys).apply(query)


def row_blocks(num_rows: int, block_rows: int) -> list[slice]:
    """Consecutive slices of at most `block_rows` rows covering `num_rows`."""
    return [slice(start, min(start + block_rows, num_rows)) for start in range(0, num_rows, block_rows)]


def inference_blocks(tokens: Tensor) -> list[slice]:
    """The row blocks of B N C `tokens` for the inference forms (`INFERENCE_BLOCK_ROWS` on CPU, one elsewhere)."""
    num_rows = tokens.shape[1]
    return row_blocks(num_rows, INFERENCE_BLOCK_ROWS if tokens.device.type == "cpu" else max(num_rows, 1))


class SemanticCrossAttention(nn.Module):
    """Spatial tokens read the image-level semantics: `LN(c) + MHA(LN(c), [CLS, mean patch], same)`.

    Args:
        dim: token channels (768).
        num_heads: attention heads (12).
    """

    def __init__(self, dim: int = 768, num_heads: int = 12) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, spatial: Tensor, cls_token: Tensor, patch_tokens: Tensor) -> Tensor:
        """spatial B N C, cls_token B 1 C, patch_tokens B hw C -> B N C."""
        query = self.norm(spatial)
        return query + self.fold(cls_token, patch_tokens, query.dtype).apply(query)

    def fold(self, cls_token: Tensor, patch_tokens: Tensor, dtype: torch.dtype) -> FoldedFewKeyAttention:
        """The cross-attention with this image's two semantic tokens folded in; `apply` it to `norm(spatial)`."""
        semantic = torch.cat([cls_token, patch_tokens.mean(dim=1, keepdim=True)], dim=1)  # B 2 C
        return fold_few_key_attention(self.cross_attn, semantic.to(dtype))


class SpatialExtractor(nn.Module):
    """`c += DeformAttn(LN(c), LN(vit tokens))`, then `c += ConvFFN(LN(c))`.

    Args:
        dim: token channels.
        num_heads: deformable-attention heads.
        num_points: sampling points per head.
        cffn_ratio: ConvFFN hidden size over `dim`.
        drop_path: stochastic-depth probability of the ConvFFN branch.
        with_cp: activation checkpointing of the whole extractor while training.
    """

    def __init__(
        self,
        dim: int = 768,
        num_heads: int = 12,
        num_points: int = 4,
        cffn_ratio: float = 0.25,
        drop_path: float = 0.0,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.query_norm = LayerNorm(dim)
        self.feat_norm = LayerNorm(dim)
        self.attn = MultiScaleDeformableAttention(dim, num_heads=num_heads, num_levels=1, num_points=num_points)
        self.ffn = ConvFFN(dim, int(dim * cffn_ratio))
        self.ffn_norm = LayerNorm(dim)
        self.drop_path = drop_path
        self.with_cp = with_cp

    def _forward(
        self, spatial: Tensor, patch_tokens: Tensor, reference_points: Tensor, grid: tuple[int, int]
    ) -> Tensor:
        spatial = spatial + self.attn(self.query_norm(spatial), reference_points, self.feat_norm(patch_tokens), [grid])
        update = self.ffn(self.ffn_norm(spatial), grid)
        if self.training and self.drop_path > 0:
            keep = update.new_empty(update.shape[0], 1, 1).bernoulli_(1.0 - self.drop_path)
            update = update * keep / (1.0 - self.drop_path)
        return spatial + update

    def updates_in_place(self) -> bool:
        """True when the in-place, row-blocked inference form (`update_`) computes `forward`: no autograd and no
        active stochastic depth."""
        return not torch.is_grad_enabled() and not (self.training and self.drop_path > 0)

    def update_(
        self,
        spatial: Tensor,
        patch_tokens: Tensor,
        reference_points: Tensor,
        grid: tuple[int, int],
        blocks: list[slice],
    ) -> Tensor:
        """Inference form of `forward`: adds both residual branches to `spatial` in place, one block of rows at a
        time, so the per-token work (norms, offsets, sampling, adds) stays in cache and no full-size temporaries
        are allocated. Same values as `forward` up to rounding; no autograd."""
        values = self.attn.project_values(self.feat_norm(patch_tokens), [grid])
        for rows in blocks:
            spatial[:, rows] += self.attn.attend(self.query_norm(spatial[:, rows]), reference_points[:, rows], values)
        self.ffn.add_to_(spatial, self.ffn_norm, grid, blocks)
        return spatial

    def forward(self, spatial: Tensor, patch_tokens: Tensor, reference_points: Tensor, grid: tuple[int, int]) -> Tensor:
        """Refine the spatial tokens from the ViT patch tokens.

        Args:
            spatial: B 5hw C (stride-8 tokens then stride-16 tokens).
            patch_tokens: B hw C, ViT tokens without CLS.
            reference_points: 1 5hw 1 2, each spatial token's own pixel centre on its grid, (x, y) in [0, 1].
            grid: (h, w) of the stride-16 grid.

        Returns:
            B 5hw C.
        """
        if self.updates_in_place():
            blocks = inference_blocks(spatial)
            return self.update_(spatial.clone(), patch_tokens, reference_points, grid, blocks)
        if self.with_cp and self.training and torch.is_grad_enabled():
            return checkpoint(self._forward, spatial, patch_tokens, reference_points, grid, use_reentrant=False)
        return self._forward(spatial, patch_tokens, reference_points, grid)


class InteractionStage(nn.Module):
    """Semantic cross-attention (optional), one extractor and `num_extra_extractors` more.

    Args:
        dim: token channels.
        deform_num_heads / num_points / cffn_ratio / drop_path / with_cp: see `SpatialExtractor`.
        semantic: include `read_from_cls`; False gives the "+Spatial" ablation row (identity instead).
        semantic_heads: heads of the semantic cross-attention.
        num_extra_extractors: 2 in the last stage, 0 elsewhere.
    """

    def __init__(
        self,
        dim: int = 768,
        deform_num_heads: int = 12,
        num_points: int = 4,
        cffn_ratio: float = 0.25,
        semantic: bool = True,
        semantic_heads: int = 12,
        num_extra_extractors: int = 0,
        drop_path: float = 0.0,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        make_extractor = partial(
            SpatialExtractor,
            dim,
            num_heads=deform_num_heads,
            num_points=num_points,
            cffn_ratio=cffn_ratio,
            drop_path=drop_path,
            with_cp=with_cp,
        )
        self.extractor = make_extractor()
        if num_extra_extractors:
            self.extra_extractors = nn.ModuleList(make_extractor() for _ in range(num_extra_extractors))
        else:
            self.extra_extractors = None
        self.read_from_cls = SemanticCrossAttention(dim, semantic_heads) if semantic else None

    def forward(
        self,
        spatial: Tensor,
        cls_token: Tensor,
        patch_tokens: Tensor,
        reference_points: Tensor,
        grid: tuple[int, int],
    ) -> Tensor:
        """Refine the spatial tokens after this stage's ViT blocks.

        Args:
            spatial: B 5hw C.
            cls_token: B 1 C, after the stage's blocks.
            patch_tokens: B hw C, after the stage's blocks.
            reference_points: 1 5hw 1 2.
            grid: (h, w) of the stride-16 grid.

        Returns:
            B 5hw C.
        """
        if self.extractor.updates_in_place():
            return self._forward_inference(spatial, cls_token, patch_tokens, reference_points, grid)
        if self.read_from_cls is not None:
            spatial = self.read_from_cls(spatial, cls_token, patch_tokens)
        spatial = self.extractor(spatial, patch_tokens, reference_points, grid)
        for extractor in self.extra_extractors or ():
            spatial = extractor(spatial, patch_tokens, reference_points, grid)
        return spatial

    def _forward_inference(
        self, spatial: Tensor, cls_token: Tensor, patch_tokens: Tensor, reference_points: Tensor, grid: tuple[int, int]
    ) -> Tensor:
        """`forward` without autograd, in blocks of rows: the semantic read writes one new tensor block by block,
        then every extractor updates it in place (`SpatialExtractor.update_`)."""
        blocks = inference_blocks(spatial)
        if self.read_from_cls is None:
            out = spatial.clone()
        else:
            semantic = self.read_from_cls.fold(cls_token, patch_tokens, spatial.dtype)
            out = torch.empty_like(spatial)
            for rows in blocks:
                tokens = self.read_from_cls.norm(spatial[:, rows])
                out[:, rows] = tokens + semantic.apply(tokens)
        for extractor in [self.extractor, *(self.extra_extractors or ())]:
            extractor.update_(out, patch_tokens, reference_points, grid, blocks)
        return out
