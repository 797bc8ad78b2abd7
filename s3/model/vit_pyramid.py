"""The "+ViT" ablation encoder: a ViT with a ViTDet-style simple feature pyramid and no adapter.

The last block's stride-16 patch tokens become a map; transposed convolutions bring it to strides 8 and 4; each
scale then gets a 1×1 and a 3×3 conv (no bias), each followed by a channel LayerNorm. Keys match the release's
`fpn_vitbase` backbone (`simfp_2` = stride 4, `simfp_3` = stride 8, `simfp_4` = stride 16, then `vit_module`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3.model.vit_backbone import DinoVisionTransformer

__all__ = ["ChannelLayerNorm", "ConvNorm", "ViTPyramidEncoder"]


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a B C H W map (statistics per pixel)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """x: B C H W -> B C H W."""
        mean = x.mean(1, keepdim=True)
        variance = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(variance + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNorm(nn.Conv2d):
    """A bias-free conv followed by its channel LayerNorm, stored under `.norm` (detectron2's layout)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = ChannelLayerNorm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(super().forward(x))


class ViTPyramidEncoder(nn.Module):
    """ViT + simple feature pyramid → maps at strides 16, 8 and 4 (all `embed_dim` channels).

    Args:
        embed_dim / depth / num_heads / mlp_ratio / patch_size / img_size: ViT shape (ViT-B/16 at 592).
        freeze_vit: freeze the ViT (the faithful Table 3 row); the release fine-tunes it (False).
        keep_cls: run the blocks with the CLS token (as the full model does); the release drops it after the
            position embedding (False).
        drop_path_rate: stochastic depth of trainable ViT blocks.
        with_cp: activation checkpointing of trainable ViT blocks.
    """

    def __init__(
        self,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        patch_size: int = 16,
        img_size: int = 592,
        freeze_vit: bool = True,
        keep_cls: bool = True,
        drop_path_rate: float = 0.0,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        half, quarter = embed_dim // 2, embed_dim // 4
        self.ms_dims: tuple[int, int, int] = (embed_dim, embed_dim, embed_dim)
        self.keep_cls = keep_cls
        self.with_cp = with_cp
        self.simfp_2 = nn.Sequential(
            nn.ConvTranspose2d(embed_dim, half, kernel_size=2, stride=2),
            ChannelLayerNorm(half),
            nn.GELU(),
            nn.ConvTranspose2d(half, quarter, kernel_size=2, stride=2),
            ConvNorm(quarter, embed_dim, 1),
            ConvNorm(embed_dim, embed_dim, 3),
        )
        self.simfp_3 = nn.Sequential(
            nn.ConvTranspose2d(embed_dim, half, kernel_size=2, stride=2),
            ConvNorm(half, embed_dim, 1),
            ConvNorm(embed_dim, embed_dim, 3),
        )
        self.simfp_4 = nn.Sequential(ConvNorm(embed_dim, embed_dim, 1), ConvNorm(embed_dim, embed_dim, 3))
        self.vit_module = DinoVisionTransformer(
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            patch_size=patch_size,
            img_size=img_size,
            drop_path_rate=drop_path_rate,
            freeze=freeze_vit,
        )

    def forward(self, image: Tensor) -> list[Tensor]:
        """Multi-scale features of a normalised image.

        Args:
            image: B 3 H W, ImageNet-normalised; H and W multiples of 16.

        Returns:
            [f16 B C H/16 W/16, f8 B C H/8 W/8, f4 B C H/4 W/4].
        """
        tokens, (grid_h, grid_w) = self.vit_module.prepare_tokens(image)
        if not self.keep_cls:
            tokens = tokens[:, 1:]
        tokens = self.vit_module.run_blocks(tokens, 0, len(self.vit_module.blocks), with_cp=self.with_cp)
        patches = tokens[:, 1:] if self.keep_cls else tokens
        feature = patches.transpose(1, 2).reshape(image.shape[0], -1, grid_h, grid_w)
        return [self.simfp_4(feature), self.simfp_3(feature), self.simfp_2(feature)]
