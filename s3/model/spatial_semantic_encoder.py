"""S3's pixel encoder: a frozen DINOv2/Depth-Anything ViT wrapped in the spatial-semantic adapter.

Data flow (h×w = stride-16 grid):

    image ─► SPM ─► c1 (stride 4 map), c2 (4hw tokens), c3 (hw tokens) ─► c = [c2 + e0; c3 + e1]
    image ─► ViT tokens [CLS; hw patches] ─► 4 stages of frozen blocks, each followed by an InteractionStage
             that refines c from the stage's CLS / patch tokens
    c ─► split ─► c2, c3;  c1 = up(c2) + c1;  + ViT features of stages 1-3;  BatchNorms ─► [f16, f8, f4]

`s3.model.deploy.prepare_for_inference` swaps in a form of this encoder whose tail has the mask decoder's 1×1
skip projections folded in (`s3.model.inference_forms.FoldedTailEncoder`); `forward` here is the reference math.

State-dict keys equal the official release's `pixel_encoder.*` keys (adapter first, then `vit_module.*`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.model.deformable_attention import MultiScaleDeformableAttention, grid_reference_points
from s3.model.errors import ConfigurationError
from s3.model.spatial_prior import SpatialPriorModule
from s3.model.spatial_semantic_block import InteractionStage
from s3.model.vit_backbone import DinoVisionTransformer

__all__ = ["SpatialSemanticEncoder", "init_adapter_weights"]

VIT_B_STAGES: tuple[tuple[int, int], ...] = ((0, 2), (3, 5), (6, 8), (9, 11))


def init_adapter_weights(module: nn.Module) -> None:
    """ViT-Adapter initialisation of one module: Linear trunc-normal(0.02)/0, LayerNorm 1/0,
    Conv/ConvTranspose N(0, √(2/fan_out)) with `fan_out = k·k·out/groups`, bias 0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm | nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class SpatialSemanticEncoder(nn.Module):
    """Frozen ViT + spatial prior + interaction stages → 768-channel maps at strides 16, 8 and 4.

    Args:
        embed_dim / depth / num_heads / mlp_ratio / patch_size / img_size: ViT shape (ViT-B/16 at 592 by default).
        stage_blocks: inclusive (first, last) ViT block of each interaction stage; the last stage gets the extra
            extractors.
        conv_inplanes: SPM stem channels.
        deform_num_heads / n_points: deformable attention of the extractors.
        cffn_ratio: ConvFFN hidden ratio.
        num_extra_extractors: extractors appended to the last stage.
        semantic: with the CLS/mean cross-attention (`read_from_cls`); False is the "+Spatial" ablation row.
        semantic_heads: heads of that cross-attention.
        drop_path_rate: stochastic depth of the (trainable) ViT blocks (linear over depth) and of the extractors'
            ConvFFN branch, as in ViT-Adapter; 0 in the release, 0.15 in the paper.
        freeze_vit: keep the ViT frozen (eval mode, no gradients).
        finetune_index: interaction stages whose ViT blocks are trained although `freeze_vit` is set.
        with_cp: activation checkpointing of the extractors (and of trainable ViT blocks) while training.
    """

    def __init__(
        self,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        patch_size: int = 16,
        img_size: int = 592,
        stage_blocks: Sequence[tuple[int, int]] = VIT_B_STAGES,
        conv_inplanes: int = 64,
        deform_num_heads: int = 12,
        n_points: int = 4,
        cffn_ratio: float = 0.25,
        num_extra_extractors: int = 2,
        semantic: bool = True,
        semantic_heads: int = 12,
        drop_path_rate: float = 0.0,
        freeze_vit: bool = True,
        finetune_index: Sequence[int] = (),
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.stage_blocks = [(int(first), int(last)) for first, last in stage_blocks]
        covered = [index for first, last in self.stage_blocks for index in range(first, last + 1)]
        if len(self.stage_blocks) < 3:
            raise ConfigurationError(
                f"stage_blocks needs at least 3 stages (their outputs feed f4, f8, f16), got {len(self.stage_blocks)}"
            )
        if covered != list(range(depth)):
            raise ConfigurationError(
                f"stage_blocks {self.stage_blocks} must cover ViT blocks 0..{depth - 1} in order, once"
            )
        bad_stages = [index for index in finetune_index if not 0 <= index < len(self.stage_blocks)]
        if bad_stages:
            raise ConfigurationError(
                f"finetune_index {bad_stages} outside the {len(self.stage_blocks)} interaction stages"
            )
        self.ms_dims: tuple[int, int, int] = (embed_dim, embed_dim, embed_dim)
        self.semantic = semantic
        self.with_cp = with_cp

        self.level_embed = nn.Parameter(torch.zeros(2, embed_dim))
        self.spm = SpatialPriorModule(inplanes=conv_inplanes, embed_dim=embed_dim)
        last = len(self.stage_blocks) - 1
        self.interactions = nn.ModuleList(
            InteractionStage(
                embed_dim,
                deform_num_heads=deform_num_heads,
                num_points=n_points,
                cffn_ratio=cffn_ratio,
                semantic=semantic,
                semantic_heads=semantic_heads,
                num_extra_extractors=num_extra_extractors if index == last else 0,
                drop_path=drop_path_rate,
                with_cp=with_cp,
            )
            for index in range(len(self.stage_blocks))
        )
        self.up = nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2)
        self.norm1 = nn.BatchNorm2d(embed_dim)
        self.norm2 = nn.BatchNorm2d(embed_dim)
        self.norm3 = nn.BatchNorm2d(embed_dim)
        self.reset_adapter_parameters()

        trainable_blocks = [
            block
            for stage in finetune_index
            for block in range(self.stage_blocks[stage][0], self.stage_blocks[stage][1] + 1)
        ]
        self.vit_module = DinoVisionTransformer(
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            patch_size=patch_size,
            img_size=img_size,
            drop_path_rate=drop_path_rate,
            freeze=freeze_vit,
            trainable_blocks=trainable_blocks,
        )
        self._reference_cache: dict[tuple, Tensor] = {}

    @torch.no_grad()
    def reset_adapter_parameters(self) -> None:
        """§4.9: ViT-Adapter init of SPM, stages and up-conv; deformable attention re-initialised; level
        embedding N(0, 1). The ViT keeps its own (pretrained) weights."""
        for part in (self.spm, self.interactions, self.up):
            part.apply(init_adapter_weights)
        for module in self.modules():
            if isinstance(module, MultiScaleDeformableAttention):
                module.reset_parameters()
        nn.init.normal_(self.level_embed)

    def reference_points(self, grid: tuple[int, int], device: torch.device) -> Tensor:
        """Pixel centres of the stride-8 grid then the stride-16 grid: 1 5hw 1 2 (cached per size)."""
        key = (grid, device)
        points = self._reference_cache.get(key)
        if points is None:
            grid_h, grid_w = grid
            points = grid_reference_points([(2 * grid_h, 2 * grid_w), (grid_h, grid_w)], device=device)
            self._reference_cache[key] = points
        return points

    def adapter_tokens(self, image: Tensor) -> AdapterTokens:
        """SPM, ViT and interaction stages: everything before the tail that builds the three maps.

        Args:
            image: B 3 H W, ImageNet-normalised; H and W multiples of 16 (32 recommended, as upstream pads).
        """
        _, _, height, width = image.shape
        if height % 16 or width % 16:
            raise ValueError(f"SpatialSemanticEncoder: input {height}×{width} must be a multiple of 16 (pad it)")
        s4, s8, s16 = self.spm.stem_features(image)
        c2 = self.spm.fc2(s8).flatten(2).transpose(1, 2)
        c3 = self.spm.fc3(s16).flatten(2).transpose(1, 2)
        spatial = torch.cat([c2 + self.level_embed[0], c3 + self.level_embed[1]], dim=1)  # B 5hw C

        tokens, grid = self.vit_module.prepare_tokens(image)
        grid_h, grid_w = grid
        if c3.shape[1] != grid_h * grid_w:
            raise ValueError(f"SpatialSemanticEncoder: patch grid {grid} does not match the SPM's stride-16 grid")
        reference_points = self.reference_points(grid, image.device)

        vit_tokens = []
        for (first, last), stage in zip(self.stage_blocks, self.interactions, strict=True):
            tokens = self.vit_module.run_blocks(tokens, first, last + 1, with_cp=self.with_cp)
            cls_token, patch_tokens = tokens[:, :1], tokens[:, 1:]
            spatial = stage(spatial, cls_token, patch_tokens, reference_points, grid)
            vit_tokens.append(patch_tokens)
        return AdapterTokens(s4, spatial, tuple(vit_tokens), grid)

    def stride16_map(self, tokens: AdapterTokens) -> Tensor:
        """f16 = BN(c3 + stage-3 ViT map): B C h w. The last stage's ViT output only acts through its extractors
        (as upstream: it is not added)."""
        batch, fine_tokens = tokens.spatial.shape[0], tokens.fine_tokens
        c3 = tokens.spatial[:, fine_tokens:].transpose(1, 2).reshape(batch, -1, *tokens.grid)
        return self.norm3(c3 + tokens_to_map(tokens.vit[2], tokens.grid).to(c3.dtype))

    def forward(self, image: Tensor) -> list[Tensor]:
        """Multi-scale features of a normalised image.

        Args:
            image: B 3 H W, ImageNet-normalised; H and W multiples of 16 (32 recommended, as upstream pads).

        Returns:
            [f16 B C H/16 W/16, f8 B C H/8 W/8, f4 B C H/4 W/4] with C = embed_dim.
        """
        tokens = self.adapter_tokens(image)
        grid_h, grid_w = tokens.grid
        batch = image.shape[0]
        f16 = self.stride16_map(tokens)
        c2 = tokens.spatial[:, : tokens.fine_tokens].transpose(1, 2).reshape(batch, -1, 2 * grid_h, 2 * grid_w)
        c1 = self.up(c2) + self.spm.fc1(tokens.s4)
        c1 = c1 + upsample(tokens_to_map(tokens.vit[0], tokens.grid), 4).to(c1.dtype)
        c2 = c2 + upsample(tokens_to_map(tokens.vit[1], tokens.grid), 2).to(c2.dtype)
        return [f16, self.norm2(c2), self.norm1(c1)]


@dataclass(frozen=True)
class AdapterTokens:
    """What the encoder's tail reads: the SPM's stride-4 map, the refined spatial tokens, the ViT patch tokens
    after each interaction stage and the stride-16 grid."""

    s4: Tensor  # B 64 H/4 W/4 (SPM stem, before its 1×1 projection)
    spatial: Tensor  # B 5hw C: stride-8 tokens then stride-16 tokens
    vit: tuple[Tensor, ...]  # per stage: B hw C
    grid: tuple[int, int]  # (h, w) of the stride-16 grid

    @property
    def fine_tokens(self) -> int:
        """Number of stride-8 tokens (4hw)."""
        return 4 * self.grid[0] * self.grid[1]


def tokens_to_map(tokens: Tensor, grid: tuple[int, int]) -> Tensor:
    """B (h·w) C -> contiguous B C h w (bilinear upsampling of the transposed view is ~4× slower on CPU)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *grid).contiguous()


def upsample(feature: Tensor, scale: int) -> Tensor:
    return F.interpolate(feature, scale_factor=scale, mode="bilinear", align_corners=False)
