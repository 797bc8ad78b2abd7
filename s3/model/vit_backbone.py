"""The DINOv2-style ViT (Depth-Anything V1 encoder) used by S3, built on timm's VisionTransformer.

Differences from a stock timm ViT, all required to load the upstream checkpoints unchanged and reproduce their
features:

* patch size 16 with nominal image size 592, so the 37×37 (+CLS) position table of the 518/14 checkpoints is
  reused as-is and reinterpreted as a grid of 16-pixel patches;
* a `mask_token` parameter (present in the checkpoints, unused);
* position embeddings resized the DINOv2 way: bicubic with scale factor `(h + 0.1) / 37`, computed in fp32,
  CLS entry kept, untouched at exactly 37×37 — not timm's dynamic resize;
* freezing that keeps the frozen part in eval mode whatever the parent module does, with optional
  fine-tuning of selected blocks and activation checkpointing of the trainable ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from s3.model.errors import ConfigurationError

__all__ = ["DinoVisionTransformer", "interpolate_position_table"]

POSITION_INTERPOLATE_OFFSET = 0.1


def interpolate_position_table(position_embed: Tensor, grid_h: int, grid_w: int) -> Tensor:
    """Resize a square `1 (1+G²) C` position table (CLS first) to an h×w patch grid, DINOv2 style.

    The patch part is resized bicubically with `scale_factor = ((h + 0.1) / G, (w + 0.1) / G)` and
    `align_corners=False` (the scale factor, not the output size, defines the sampling positions), in fp32.
    A table already at G×G is returned unchanged.

    Returns:
        1 (1+hw) C in fp32.
    """
    num_patches = position_embed.shape[1] - 1
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f"position table with {num_patches} patch rows is not a square grid")
    table = position_embed.float()
    if grid_h == side and grid_w == side:
        return table
    channels = table.shape[-1]
    class_row = table[:, :1]
    patch_grid = table[:, 1:].reshape(1, side, side, channels).permute(0, 3, 1, 2)
    resized = F.interpolate(
        patch_grid,
        scale_factor=((grid_h + POSITION_INTERPOLATE_OFFSET) / side, (grid_w + POSITION_INTERPOLATE_OFFSET) / side),
        mode="bicubic",
        align_corners=False,
    )
    if resized.shape[-2:] != (grid_h, grid_w):
        raise RuntimeError(f"position table resized to {tuple(resized.shape[-2:])}, expected {(grid_h, grid_w)}")
    return torch.cat([class_row, resized.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, channels)], dim=1)


class DinoVisionTransformer(VisionTransformer):
    """DINOv2 ViT (LayerScale, no registers) with patch 16 and the S3 freezing policy.

    Args:
        embed_dim: token channels (768 for ViT-B).
        depth: number of blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden size over `embed_dim`.
        patch_size: patch (and stride) size; 16 in S3.
        img_size: nominal image size; `(img_size // patch_size)² + 1` rows of position table (592 → 1370).
        init_values: LayerScale init (overwritten by checkpoints).
        drop_path_rate: stochastic-depth rate of the last block (linear over depth); only acts on blocks
            that are trainable, since frozen blocks stay in eval mode.
        freeze: freeze every parameter (the S3 default).
        trainable_blocks: indices of blocks left trainable although `freeze` is set (partial fine-tuning).
    """

    def __init__(
        self,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        patch_size: int = 16,
        img_size: int = 592,
        init_values: float = 1e-5,
        drop_path_rate: float = 0.0,
        freeze: bool = True,
        trainable_blocks: Iterable[int] = (),
    ) -> None:
        super().__init__(
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=True,
            init_values=init_values,
            num_classes=0,
            global_pool="",
            drop_path_rate=drop_path_rate,
        )
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))
        self.patch_size = patch_size
        self._position_cache: dict[tuple, Tensor] = {}
        self.frozen = False
        self.trainable_blocks: frozenset[int] = frozenset()
        self.set_trainable(freeze=freeze, trainable_blocks=trainable_blocks)

    def set_trainable(self, freeze: bool, trainable_blocks: Iterable[int] = ()) -> None:
        """Freeze all parameters (or none), then unfreeze the listed blocks; updates train/eval modes."""
        blocks = frozenset(int(index) for index in trainable_blocks)
        out_of_range = sorted(index for index in blocks if not 0 <= index < len(self.blocks))
        if out_of_range:
            raise ConfigurationError(f"trainable_blocks {out_of_range} outside the ViT's {len(self.blocks)} blocks")
        self.frozen = freeze
        self.trainable_blocks = blocks if freeze else frozenset(range(len(self.blocks)))
        for parameter in self.parameters():
            parameter.requires_grad_(not freeze)
        for index in blocks:
            for parameter in self.blocks[index].parameters():
                parameter.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> DinoVisionTransformer:
        """Frozen parts stay in eval mode (no drop path, no dropout) even when the parent is training."""
        super().train(mode and not self.frozen)
        if self.frozen:
            for index in self.trainable_blocks:
                self.blocks[index].train(mode)
        return self

    def position_embedding(self, grid_h: int, grid_w: int) -> Tensor:
        """Position table for an h×w patch grid: 1 (1+hw) C, fp32; cached while the table is frozen."""
        if self.pos_embed.requires_grad and torch.is_grad_enabled():
            return interpolate_position_table(self.pos_embed, grid_h, grid_w)
        # `_version` changes on in-place updates (load_state_dict copies), invalidating stale entries.
        key = (grid_h, grid_w, self.pos_embed.device, self.pos_embed.data_ptr(), self.pos_embed._version)
        cached = self._position_cache.get(key)
        if cached is None:
            with torch.no_grad():
                cached = interpolate_position_table(self.pos_embed, grid_h, grid_w)
            self._position_cache.clear()
            self._position_cache[key] = cached
        return cached

    def prepare_tokens(self, image: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """Patch embedding, CLS prepended, position embedding added.

        Args:
            image: B 3 H W, normalised; H and W multiples of the patch size.

        Returns:
            tokens B (1+hw) C and the patch grid (h, w).
        """
        height, width = image.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"ViT input {height}×{width} is not a multiple of the patch size {self.patch_size}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.patch_embed.proj.weight.requires_grad):
            patches = self.patch_embed.proj(image)  # B C h w
            grid_h, grid_w = patches.shape[-2:]
            patches = patches.flatten(2).transpose(1, 2)
            cls = self.cls_token.expand(patches.shape[0], -1, -1).to(patches.dtype)
            tokens = torch.cat([cls, patches], dim=1)
            tokens = tokens + self.position_embedding(grid_h, grid_w).to(tokens.dtype)
        return tokens, (grid_h, grid_w)

    def run_blocks(self, tokens: Tensor, start: int, end: int, with_cp: bool = False) -> Tensor:
        """Blocks `start..end-1` on B L C tokens; frozen blocks run without autograd, trainable ones optionally
        with activation checkpointing."""
        for index in range(start, end):
            block = self.blocks[index]
            if index not in self.trainable_blocks:
                with torch.no_grad():
                    tokens = block(tokens)
            elif with_cp and torch.is_grad_enabled():
                tokens = checkpoint(block, tokens, use_reentrant=False)
            else:
                tokens = block(tokens)
        return tokens
