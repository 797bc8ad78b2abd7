"""The per-stage blocks of S3's spatial-semantic adapter.

Each interaction stage refines the spatial tokens `c` (stride-8 grid followed by the stride-16 grid, B 5hw C)
from the output of a group of frozen ViT blocks:

* semantic embedding (`read_from_cls`): `c` cross-attends to two tokens, the CLS token and the mean patch token;
* spatial dependency modelling (`extractor`): deformable attention from every spatial token into the stride-16
  ViT patch map, then a ConvFFN; the last stage has two more such extractors.

The ViT tokens themselves are never modified (no injector).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from s3.model.conv_ffn import ConvFFN
from s3.model.deformable_attention import MultiScaleDeformableAttention

__all__ = ["InteractionStage", "SemanticCrossAttention", "SpatialExtractor"]

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


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
        semantic = self.semantic_tokens(cls_token, patch_tokens).to(query.dtype)
        return query + self.cross_attn(query, semantic, semantic, need_weights=False)[0]

    @staticmethod
    def semantic_tokens(cls_token: Tensor, patch_tokens: Tensor) -> Tensor:
        """The two key/value tokens: B 2 C (the CLS token and the mean patch token)."""
        return torch.cat([cls_token, patch_tokens.mean(dim=1, keepdim=True)], dim=1)


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
        if self.read_from_cls is not None:
            spatial = self.read_from_cls(spatial, cls_token, patch_tokens)
        spatial = self.extractor(spatial, patch_tokens, reference_points, grid)
        for extractor in self.extra_extractors or ():
            spatial = extractor(spatial, patch_tokens, reference_points, grid)
        return spatial
