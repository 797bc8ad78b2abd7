"""Multi-scale deformable attention (Deformable DETR / ViT-Adapter) in pure PyTorch.

No compiled extension: the attention-weighted bilinear sampling is one `F.embedding_bag` over a zero-bordered
table of the value maps (`value_table` / `sample_value_table`; numerically `grid_sample` with zero padding and
`align_corners=False`), so the module runs on CPU and GPU alike. Sampling positions and weights are always computed
and sampled in fp32 (a bf16 grid moves samples by up to ~0.2 px); the projections follow the ambient autocast dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.model.errors import ConfigurationError

__all__ = [
    "MultiScaleDeformableAttention",
    "ValueTable",
    "deformable_sample",
    "grid_reference_points",
    "level_start_indices",
    "sample_value_table",
    "value_table",
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


@dataclass(frozen=True)
class ValueTable:
    """The projected value maps of every level and head, zero-bordered and flattened for `embedding_bag`.

    Built once per value input (`value_table`) and sampled any number of times (`sample_value_table`), e.g. one
    block of queries after another.
    """

    table: Tensor  # (B·M·S') D in fp32, S' = sum((H_l + 2) * (W_l + 2)), rows ordered (b, head, level, y, x)
    spatial_shapes: tuple[tuple[int, int], ...]
    padded_starts: tuple[int, ...]  # where each bordered level starts within one (b, head) block of S' rows
    padded_total: int  # S'
    batch: int
    num_heads: int
    heights: Tensor  # L 1, fp32 (built once here, not per sampled block: on a GPU each is a host→device copy)
    widths: Tensor  # L 1, fp32

    @property
    def sizes(self) -> Tensor:
        """L 2 (W_l, H_l), the (x, y) normaliser of each level."""
        return torch.cat([self.widths, self.heights], dim=1)

    row_base: Tensor  # B 1 M L 1, long: first table row of each (b, head, level) block


def value_table(value: Tensor, spatial_shapes: Sequence[tuple[int, int]]) -> ValueTable:
    """value B S M D (levels concatenated in `spatial_shapes` order) -> its `ValueTable` (fp32)."""
    batch, num_tokens, num_heads, head_dim = value.shape
    expected = sum(height * width for height, width in spatial_shapes)
    if num_tokens != expected:
        raise ValueError(
            f"value_table: {num_tokens} value tokens, but spatial shapes {list(spatial_shapes)} need {expected}"
        )
    tables, padded_starts, padded_total, start = [], [], 0, 0
    for height, width in spatial_shapes:
        level = value[:, start : start + height * width].float().view(batch, height, width, num_heads, head_dim)
        level = F.pad(level.permute(0, 3, 1, 2, 4), (0, 0, 1, 1, 1, 1))  # B M H+2 W+2 D
        tables.append(level.reshape(batch, num_heads, -1, head_dim))
        padded_starts.append(padded_total)
        padded_total += (height + 2) * (width + 2)
        start += height * width
    table = torch.cat(tables, dim=2).reshape(-1, head_dim)
    shapes = tuple((int(height), int(width)) for height, width in spatial_shapes)
    device = value.device
    heights = torch.tensor([[h] for h, _ in shapes], device=device, dtype=torch.float32)
    widths = torch.tensor([[w] for _, w in shapes], device=device, dtype=torch.float32)
    row_base = torch.tensor(padded_starts, device=device, dtype=torch.long)[:, None] + (
        torch.arange(batch * num_heads, device=device) * padded_total
    ).view(batch, 1, num_heads, 1, 1)
    return ValueTable(table, shapes, tuple(padded_starts), padded_total, batch, num_heads, heights, widths, row_base)


def sample_value_table(values: ValueTable, pixel_x: Tensor, pixel_y: Tensor, attention_weights: Tensor) -> Tensor:
    """Attention-weighted bilinear sampling of a `ValueTable`.

    Numerically `grid_sample(bilinear, zeros padding, align_corners=False)` per level followed by the weighted
    sum over levels and points, computed as one `embedding_bag` over the 4 bilinear corners of every point: the
    attention weight is folded into the corner weights, so no B·M × D × Lq × P intermediate is built and all
    levels are handled in one call (≈5× faster than grid_sample on CPU, forward; ≈2× with backward). Positions
    are clamped into each level's one-pixel zero border, so out-of-map corners read zeros without masking.

    Args:
        values: the value maps (batch B, M heads, L levels).
        pixel_x, pixel_y: B Lq M L P sample positions in the pixels of each level, pixel centres at integers
            (`x = location_x * W_l - 0.5` for a normalised location).
        attention_weights: B Lq M L P, already normalised over (L, P).

    Returns:
        B Lq M·D (heads concatenated), in fp32.
    """
    batch, num_queries, num_heads, num_levels, num_points = attention_weights.shape
    if len(values.spatial_shapes) != num_levels or num_heads != values.num_heads or batch != values.batch:
        raise ValueError(
            f"sample_value_table: weights for batch {batch}, {num_heads} heads, {num_levels} levels; the table has "
            f"{values.batch}, {values.num_heads}, {len(values.spatial_shapes)}"
        )
    heights, widths = values.heights, values.widths
    # Outside [-1, W] both corners are off the map, so clamping there changes nothing; floor is capped at W-1 so
    # the right-hand corner stays inside the border.
    x = torch.clamp(pixel_x.float(), min=torch.full_like(widths, -1.0), max=widths)
    y = torch.clamp(pixel_y.float(), min=torch.full_like(heights, -1.0), max=heights)
    x0 = torch.minimum(x.detach().floor(), widths - 1)
    y0 = torch.minimum(y.detach().floor(), heights - 1)
    frac_x, frac_y = x - x0, y - y0

    padded_width = (widths + 2).long()
    top_left = values.row_base + (y0.long() + 1) * padded_width + (x0.long() + 1)
    index = torch.stack([top_left, top_left + 1, top_left + padded_width, top_left + padded_width + 1], dim=-1)
    weights = attention_weights.float()
    upper, lower = weights * (1.0 - frac_y), weights * frac_y
    left, right = 1.0 - frac_x, frac_x
    corner_weights = torch.stack([upper * left, upper * right, lower * left, lower * right], dim=-1)

    bag_size = num_levels * num_points * 4
    out = F.embedding_bag(
        index.reshape(-1, bag_size), values.table, per_sample_weights=corner_weights.reshape(-1, bag_size), mode="sum"
    )  # (B·Lq·M) D
    return out.view(batch, num_queries, -1)


def deformable_sample(
    value: Tensor,
    spatial_shapes: Sequence[tuple[int, int]],
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> Tensor:
    """Attention-weighted bilinear sampling of per-head value maps at normalised locations.

    Args:
        value: B S M D, the projected value tokens of all levels (`S = sum(H_l * W_l)`, level-major).
        spatial_shapes: (H_l, W_l) of each level.
        sampling_locations: B Lq M L P 2 in [0, 1] (x, y), top-left origin; points outside sample zeros.
        attention_weights: B Lq M L P, already normalised over (L, P).

    Returns:
        B Lq M·D (heads concatenated), in fp32.
    """
    if len(spatial_shapes) != sampling_locations.shape[3]:
        raise ValueError(
            f"deformable_sample: {len(spatial_shapes)} spatial shapes for {sampling_locations.shape[3]} levels"
        )
    values = value_table(value, spatial_shapes)
    pixels = sampling_locations.float() * values.sizes[:, None, :] - 0.5  # align_corners=False pixel coordinates
    return sample_value_table(values, pixels[..., 0], pixels[..., 1], attention_weights)


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
            raise ConfigurationError(
                f"MultiScaleDeformableAttention: d_model {d_model} is not divisible by {num_heads} heads"
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_levels = num_levels
        self.num_points = num_points
        self.sampling_offsets = nn.Linear(d_model, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(d_model, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    # The product of the queries with the fused offset/weight projection (`F.linear`; the deploy step's form swaps
    # in the oneDNN one).
    offset_projection = staticmethod(F.linear)

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
        return self.attend(query, reference_points, self.project_values(value, spatial_shapes, padding_mask))

    def project_values(
        self, value: Tensor, spatial_shapes: Sequence[tuple[int, int]], padding_mask: Tensor | None = None
    ) -> ValueTable:
        """The value half of `forward`: `value_proj`, padding zeroed, per-head maps ready for sampling.

        Computed once, it serves any number of `attend` calls (blocks of queries over the same values).
        """
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
        projected = self.value_proj(value)
        if padding_mask is not None:
            projected = projected.masked_fill(padding_mask[..., None], 0.0)
        projected = projected.view(value.shape[0], num_tokens, self.num_heads, self.d_model // self.num_heads)
        return value_table(projected, spatial_shapes)

    def attend(self, query: Tensor, reference_points: Tensor, values: ValueTable) -> Tensor:
        """The query half of `forward`: offsets and weights from `query`, sampling of `values`, `output_proj`.

        Args:
            query: B Lq C.
            reference_points: (B or 1) Lq L 2 in [0, 1], (x, y).
            values: from `project_values`.

        Returns:
            B Lq C, in the dtype of `query` (or of the ambient autocast).
        """
        if reference_points.shape[-1] != 2:
            raise ValueError("MultiScaleDeformableAttention: reference_points must end in (x, y) pairs")
        batch, num_queries, _ = query.shape
        heads, levels, points = self.num_heads, self.num_levels, self.num_points
        # Offsets and weights are tiny projections; computing them in fp32 keeps sub-pixel sampling exact under
        # bf16 autocast. One fused matmul serves both.
        num_offsets = self.sampling_offsets.out_features
        with torch.autocast(device_type=query.device.type, enabled=False):
            fused_weight = torch.cat([self.sampling_offsets.weight, self.attention_weights.weight]).float()
            fused_bias = torch.cat([self.sampling_offsets.bias, self.attention_weights.bias]).float()
            fused = self.offset_projection(query.float(), fused_weight, fused_bias)
            offsets = fused[..., :num_offsets].view(batch, num_queries, heads, levels, points, 2)
            weights = fused[..., num_offsets:].view(batch, num_queries, heads, levels * points).softmax(-1)
            weights = weights.view(batch, num_queries, heads, levels, points)
            # Location `r + Δ / (W, H)` in the level's pixels (align_corners=False) is `r · (W, H) - 0.5 + Δ`.
            base = reference_points.float() * values.sizes - 0.5  # . Lq L 2
            pixels = base[:, :, None, :, None, :] + offsets
            sampled = sample_value_table(values, pixels[..., 0], pixels[..., 1], weights)
        out_dtype = (
            torch.get_autocast_dtype(query.device.type) if torch.is_autocast_enabled(query.device.type) else query.dtype
        )
        return self.output_proj(sampled.to(out_dtype))
