"""Multi-scale deformable attention (Deformable DETR / ViT-Adapter) in pure PyTorch.

No compiled extension: bilinear sampling is done with `F.grid_sample`, so the module runs on CPU and GPU alike.
The sampling grid is always built and sampled in fp32 (a bf16 grid moves samples by up to ~0.2 px); the
projections follow the ambient autocast dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.model.fast_linear import linear

__all__ = [
    "MultiScaleDeformableAttention",
    "deformable_sample",
    "grid_reference_points",
    "level_start_indices",
]


def level_start_indices(spatial_shapes: Sequence[tuple[int, int]]) -> list[int]:
    """Exclusive cumulative sums of `H_l * W_l`: where each level starts in the flattened value tokens."""
    starts, total = [], 0
    for height, width in spatial_shapes:
        starts.append(total)
        total += height * width
    return starts


def grid_reference_points(
    spatial_shapes: Sequence[tuple[int, int]], device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Normalised pixel centres of several grids, concatenated in the given order.

    For a grid of size H×W the points are `((j + 0.5) / W, (i + 0.5) / H)` in row-major order (x, y).

    Returns:
        1 Lq 1 2 with `Lq = sum(H_l * W_l)`, ready to broadcast over the batch and one value level.
    """
    points = []
    for height, width in spatial_shapes:
        ys = (torch.arange(height, device=device, dtype=torch.float64) + 0.5) / height
        xs = (torch.arange(width, device=device, dtype=torch.float64) + 0.5) / width
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=-1))
    return torch.cat(points, dim=0).to(dtype)[None, :, None, :]


def deformable_sample(
    value: Tensor,
    spatial_shapes: Sequence[tuple[int, int]],
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> Tensor:
    """Attention-weighted bilinear sampling of per-head value maps.

    Numerically `grid_sample(bilinear, zeros padding, align_corners=False)` per level followed by the weighted
    sum over levels and points, but computed as one `embedding_bag` over the 4 bilinear corners of every point:
    the attention weight is folded into the corner weights, so no B·M × D × Lq × P intermediate is built and all
    levels are handled in one call (≈5× faster than grid_sample on CPU, forward; ≈2× with backward). Each level's
    map gets a one-pixel zero border and sample positions are clamped into it, so out-of-map corners read zeros
    without any per-corner masking.

    Args:
        value: B S M D, the projected value tokens of all levels (`S = sum(H_l * W_l)`, level-major).
        spatial_shapes: (H_l, W_l) of each level.
        sampling_locations: B Lq M L P 2 in [0, 1] (x, y), top-left origin; points outside sample zeros.
        attention_weights: B Lq M L P, already normalised over (L, P).

    Returns:
        B Lq M·D (heads concatenated), in fp32.
    """
    batch, num_tokens, num_heads, head_dim = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    if len(spatial_shapes) != num_levels:
        raise ValueError(f"deformable_sample: {len(spatial_shapes)} spatial shapes for {num_levels} levels")
    device = value.device

    # B M S' D table of the zero-bordered level maps; bags are ordered (b, query, head) so the output is B Lq M·D.
    tables, padded_starts, padded_total, start = [], [], 0, 0
    for height, width in spatial_shapes:
        level = value[:, start : start + height * width].float().view(batch, height, width, num_heads, head_dim)
        level = F.pad(level.permute(0, 3, 1, 2, 4), (0, 0, 1, 1, 1, 1))  # B M H+2 W+2 D
        tables.append(level.reshape(batch, num_heads, -1, head_dim))
        padded_starts.append(padded_total)
        padded_total += (height + 2) * (width + 2)
        start += height * width
    table = torch.cat(tables, dim=2).reshape(-1, head_dim)

    heights = torch.tensor([[h] for h, _ in spatial_shapes], device=device, dtype=torch.float32)  # L 1
    widths = torch.tensor([[w] for _, w in spatial_shapes], device=device, dtype=torch.float32)
    locations = sampling_locations.float()  # B Lq M L P 2
    # Pixel coordinates of grid_sample(align_corners=False). Outside [-1, W] both corners are off the map, so
    # clamping there changes nothing; floor is capped at W-1 so the right-hand corner stays inside the border.
    x = torch.clamp(locations[..., 0] * widths - 0.5, min=torch.full_like(widths, -1.0), max=widths)
    y = torch.clamp(locations[..., 1] * heights - 0.5, min=torch.full_like(heights, -1.0), max=heights)
    x0 = torch.minimum(x.detach().floor(), widths - 1)
    y0 = torch.minimum(y.detach().floor(), heights - 1)
    frac_x, frac_y = x - x0, y - y0

    padded_width = (widths + 2).long()
    row_base = torch.tensor(padded_starts, device=device, dtype=torch.long)[:, None] + (
        torch.arange(batch * num_heads, device=device) * padded_total
    ).view(batch, 1, num_heads, 1, 1)
    top_left = row_base + (y0.long() + 1) * padded_width + (x0.long() + 1)
    index = torch.stack([top_left, top_left + 1, top_left + padded_width, top_left + padded_width + 1], dim=-1)
    weights = attention_weights.float()
    upper, lower = weights * (1.0 - frac_y), weights * frac_y
    left, right = 1.0 - frac_x, frac_x
    corner_weights = torch.stack([upper * left, upper * right, lower * left, lower * right], dim=-1)

    bag_size = num_levels * num_points * 4
    out = F.embedding_bag(
        index.reshape(-1, bag_size), table, per_sample_weights=corner_weights.reshape(-1, bag_size), mode="sum"
    )  # (B·Lq·M) D
    return out.view(batch, num_queries, num_heads * head_dim)


class MultiScaleDeformableAttention(nn.Module):
    """Each query attends to `P` learned sampling points around its reference point on each of `L` levels.

    Args:
        d_model: channels of queries and values (C).
        num_heads: attention heads (M); `d_model` must be divisible by it.
        num_levels: value levels (L).
        num_points: sampling points per head and level (P).
    """

    def __init__(self, d_model: int = 768, num_heads: int = 12, num_levels: int = 1, num_points: int = 4) -> None:
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"MultiScaleDeformableAttention: d_model {d_model} is not divisible by {num_heads} heads")
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_levels = num_levels
        self.num_points = num_points
        self.sampling_offsets = nn.Linear(d_model, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(d_model, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Deformable-DETR initialisation: point `p` of head `m` starts at `(p+1)` pixels along direction `2πm/M`
        (scaled so the larger component is 1), uniform attention, xavier-uniform projections."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
        directions = torch.stack([angles.cos(), angles.sin()], dim=-1)  # M 2
        directions = directions / directions.abs().max(dim=-1, keepdim=True).values
        bias = directions[:, None, None, :].repeat(1, self.num_levels, self.num_points, 1)  # M L P 2
        bias *= torch.arange(1, self.num_points + 1, dtype=torch.float32)[None, None, :, None]
        self.sampling_offsets.bias.copy_(bias.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for projection in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(projection.weight)
            nn.init.zeros_(projection.bias)

    def forward(
        self,
        query: Tensor,
        reference_points: Tensor,
        value: Tensor,
        spatial_shapes: Sequence[tuple[int, int]],
        padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Deformable attention of `query` over the flattened multi-level `value`.

        Args:
            query: B Lq C.
            reference_points: (B or 1) Lq L 2 in [0, 1], (x, y), top-left origin.
            value: B S C with `S = sum(H_l * W_l)`, levels concatenated in `spatial_shapes` order.
            spatial_shapes: (H_l, W_l) per level.
            padding_mask: B S bool, True where the value token is padding (zeroed before sampling).

        Returns:
            B Lq C.
        """
        batch, num_queries, _ = query.shape
        num_tokens = sum(height * width for height, width in spatial_shapes)
        if value.shape[1] != num_tokens:
            raise ValueError(
                f"MultiScaleDeformableAttention: value has {value.shape[1]} tokens, but spatial shapes "
                f"{list(spatial_shapes)} need {num_tokens}"
            )
        if len(spatial_shapes) != self.num_levels:
            raise ValueError(
                f"MultiScaleDeformableAttention: expected {self.num_levels} levels, got {len(spatial_shapes)}"
            )
        heads, levels, points = self.num_heads, self.num_levels, self.num_points

        projected_value = self.value_proj(value)
        if padding_mask is not None:
            projected_value = projected_value.masked_fill(padding_mask[..., None], 0.0)
        projected_value = projected_value.view(batch, num_tokens, heads, self.d_model // heads)

        # Offsets and weights are tiny projections; computing them in fp32 keeps sub-pixel sampling exact under
        # bf16 autocast. One fused matmul serves both.
        num_offsets = self.sampling_offsets.out_features
        with torch.autocast(device_type=query.device.type, enabled=False):
            fused_weight = torch.cat([self.sampling_offsets.weight, self.attention_weights.weight]).float()
            fused_bias = torch.cat([self.sampling_offsets.bias, self.attention_weights.bias]).float()
            fused = linear(query.float(), fused_weight, fused_bias)
            offsets = fused[..., :num_offsets].view(batch, num_queries, heads, levels, points, 2)
            weights = fused[..., num_offsets:].view(batch, num_queries, heads, levels * points).softmax(-1)
            weights = weights.view(batch, num_queries, heads, levels, points)
            normaliser = torch.tensor(
                [[width, height] for height, width in spatial_shapes], dtype=torch.float32, device=query.device
            )  # L 2, (x, y)
            if reference_points.shape[-1] != 2:
                raise ValueError("MultiScaleDeformableAttention: reference_points must end in (x, y) pairs")
            locations = (
                reference_points.float()[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None]
            )
            sampled = deformable_sample(projected_value, spatial_shapes, locations, weights)
        return self.output_proj(sampled.to(projected_value.dtype))
