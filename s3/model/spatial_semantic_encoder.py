"""S3's pixel encoder: a frozen DINOv2/Depth-Anything ViT wrapped in the spatial-semantic adapter.

Data flow (h×w = stride-16 grid):

    image ─► SPM ─► c1 (stride 4 map), c2 (4hw tokens), c3 (hw tokens) ─► c = [c2 + e0; c3 + e1]
    image ─► ViT tokens [CLS; hw patches] ─► 4 stages of frozen blocks, each followed by an InteractionStage
             that refines c from the stage's CLS / patch tokens
    c ─► split ─► c2, c3;  c1 = up(c2) + c1;  + ViT features of stages 1-3;  BatchNorms ─► [f16, f8, f4]

At inference the mask decoder's 1×1 skip projections are folded into this tail (see `forward`).

State-dict keys equal the official release's `pixel_encoder.*` keys (adapter first, then `vit_module.*`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.model.deformable_attention import MultiScaleDeformableAttention, grid_reference_points
from s3.model.fast_linear import linear
from s3.model.linear_folding import fold_norm_into_projection, project_tokens_to_map, project_transposed_conv
from s3.model.spatial_prior import SpatialPriorModule
from s3.model.spatial_semantic import InteractionStage
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

    folds_skip_projections = True  # forward() accepts the decoder's skip projections (see there)

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
            raise ValueError(
                f"stage_blocks needs at least 3 stages (their outputs feed f4, f8, f16), got {len(self.stage_blocks)}"
            )
        if covered != list(range(depth)):
            raise ValueError(f"stage_blocks {self.stage_blocks} must cover ViT blocks 0..{depth - 1} in order, once")
        bad_stages = [index for index in finetune_index if not 0 <= index < len(self.stage_blocks)]
        if bad_stages:
            raise ValueError(f"finetune_index {bad_stages} outside the {len(self.stage_blocks)} interaction stages")
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
        self._stride4_cache: tuple | None = None

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

    def forward(self, image: Tensor, skip_projections: Sequence[nn.Conv2d] | None = None) -> list[Tensor]:
        """Multi-scale features of a normalised image.

        Args:
            image: B 3 H W, ImageNet-normalised; H and W multiples of 16 (32 recommended, as upstream pads).
            skip_projections: optional 1×1 convolutions `(P8, P4)` (the mask decoder's skip projections). With
                them the result is `[f16, P8(f8), P4(f4)]`; when the BatchNorms use running statistics the
                projections are folded into the last linear maps, so the 768-channel stride-4 map is never built
                (the same values up to rounding, ~30 GFLOP less per 480p frame).

        Returns:
            [f16 B C H/16 W/16, f8 B C H/8 W/8, f4 B C H/4 W/4] with C = embed_dim, or the projected variant.
        """
        batch, _, height, width = image.shape
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

        fine_tokens = 4 * grid_h * grid_w
        c2 = spatial[:, :fine_tokens].transpose(1, 2).reshape(batch, -1, 2 * grid_h, 2 * grid_w)
        c3 = spatial[:, fine_tokens:].transpose(1, 2).reshape(batch, -1, grid_h, grid_w)
        # The last stage's ViT output only acts through its extractors (as upstream: it is not added).
        f16 = self.norm3(c3 + tokens_to_map(vit_tokens[2], grid).to(c3.dtype))
        if skip_projections is not None:
            projection8, projection4 = skip_projections
            folded8 = fold_norm_into_projection(self.norm2, projection8)
            folded4 = fold_norm_into_projection(self.norm1, projection4)
            if folded8 is not None and folded4 is not None:
                skip8 = self._folded_level(folded8, spatial[:, :fine_tokens], vit_tokens[1], grid, scale=2)
                skip4 = self._folded_stride4(folded4, spatial[:, :fine_tokens], s4, vit_tokens[0], grid)
                return [f16, skip8, skip4]
        c1 = self.up(c2) + self.spm.fc1(s4)
        c1 = c1 + upsample(tokens_to_map(vit_tokens[0], grid), 4).to(c1.dtype)
        c2 = c2 + upsample(tokens_to_map(vit_tokens[1], grid), 2).to(c2.dtype)
        f8, f4 = self.norm2(c2), self.norm1(c1)
        if skip_projections is not None:
            return [f16, skip_projections[0](f8), skip_projections[1](f4)]
        return [f16, f8, f4]

    @staticmethod
    def _folded_level(
        folded: tuple[Tensor, Tensor], spatial_tokens: Tensor, vit_tokens: Tensor, grid: tuple[int, int], scale: int
    ) -> Tensor:
        """`W (c + up(vit)) + b` for the stride-8 level: both terms are projected before the sum and upsampling."""
        matrix, bias = folded
        height, width = grid[0] * scale, grid[1] * scale
        vit = project_tokens_to_map(vit_tokens, matrix.to(vit_tokens.dtype), grid)
        out = upsample(vit, scale)
        out += project_tokens_to_map(spatial_tokens, matrix.to(out.dtype), (height, width), bias.to(out.dtype))
        return out

    def _folded_stride4(
        self, folded: tuple[Tensor, Tensor], fine_tokens: Tensor, s4: Tensor, vit_tokens: Tensor, grid: tuple[int, int]
    ) -> Tensor:
        """`W (up(c2) + fc1(s4) + up4(vit)) + b`, each term mapped to the skip width first.

        The 2×2 stride-2 transposed conv of the stride-8 tokens is one matmul to `O·2·2` channels per token followed
        by a pixel shuffle, accumulated straight into the upsampled ViT term.
        """
        matrix, bias = folded
        up_matrix, stem_matrix, total_bias = self._stride4_weights(matrix, bias)
        batch, dtype = fine_tokens.shape[0], fine_tokens.dtype
        fine_h, fine_w = 2 * grid[0], 2 * grid[1]
        out_channels = matrix.shape[0]
        out = upsample(project_tokens_to_map(vit_tokens, matrix.to(vit_tokens.dtype), grid), 4).to(dtype)
        # out[b, o, 2y + i, 2x + j] += Σ_c tokens[b, (y, x), c] · up[c, o, i, j]
        shuffled = linear(fine_tokens, up_matrix.to(dtype)).view(batch, fine_h, fine_w, out_channels, 2, 2)
        out.view(batch, out_channels, fine_h, 2, fine_w, 2).add_(shuffled.permute(0, 3, 1, 4, 2, 5))
        out += F.conv2d(s4, stem_matrix.to(s4.dtype)[:, :, None, None], total_bias.to(s4.dtype))
        return out

    def _stride4_weights(self, matrix: Tensor, bias: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The folded stride-4 weights: up-conv as an `(O·2·2) × C` matrix, `O × 64` stem matrix and total bias.

        The up-conv fold is a 768²×4×O product, so it is cached while `matrix`, `bias` and the weights are unchanged
        and autograd is off.
        """
        up, fc1 = self.up, self.spm.fc1
        if up.kernel_size != (2, 2) or up.stride != (2, 2) or up.padding != (0, 0):
            raise ValueError("SpatialSemanticEncoder: the folded tail expects a 2×2 stride-2 up-conv")
        parameters = [up.weight, up.bias, fc1.weight, fc1.bias]
        key = tuple((p.data_ptr(), p._version) for p in parameters if p is not None)
        cached = self._stride4_cache
        if (
            not torch.is_grad_enabled()
            and cached is not None
            and cached[0] == key
            and torch.equal(cached[1], matrix)
            and torch.equal(cached[2], bias)
        ):
            return cached[3]
        up_weight, up_bias = project_transposed_conv(up, matrix)  # C O 2 2
        up_matrix = up_weight.flatten(1).t().contiguous()  # (O·2·2) C, rows ordered (o, i, j)
        stem_matrix = matrix @ fc1.weight[:, :, 0, 0]
        total_bias = bias + up_bias + (matrix @ fc1.bias if fc1.bias is not None else 0.0)
        weights = (up_matrix, stem_matrix, total_bias)
        if not torch.is_grad_enabled():
            self._stride4_cache = (key, matrix.clone(), bias.clone(), tuple(w.detach() for w in weights))
        return weights


def tokens_to_map(tokens: Tensor, grid: tuple[int, int]) -> Tensor:
    """B (h·w) C -> contiguous B C h w (bilinear upsampling of the transposed view is ~4× slower on CPU)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *grid).contiguous()


def upsample(feature: Tensor, scale: int) -> Tensor:
    return F.interpolate(feature, scale_factor=scale, mode="bilinear", align_corners=False)
