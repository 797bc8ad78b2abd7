"""Multi-scale deformable attention against a slow, loop-based bilinear reference written here."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from s3.model.deformable_attention import (
    MultiScaleDeformableAttention,
    deformable_sample,
    grid_reference_points,
    level_start_indices,
)


def bilinear_at(value_map: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Sample a D H W map at pixel coordinates (x, y) (pixel centres at integers), zeros outside."""
    _, height, width = value_map.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = torch.zeros(value_map.shape[0], dtype=torch.float64)
    for yi, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xi, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yi < height and 0 <= xi < width:
                out += wx * wy * value_map[:, yi, xi].double()
    return out


def loop_reference(value, spatial_shapes, locations, weights) -> torch.Tensor:
    """value B S M D, locations B Lq M L P 2 in [0,1], weights B Lq M L P -> B Lq M·D, one sample at a time."""
    batch, _, heads, head_dim = value.shape
    _, queries, _, levels, points, _ = locations.shape
    starts = level_start_indices(spatial_shapes)
    out = torch.zeros(batch, queries, heads, head_dim, dtype=torch.float64)
    for b in range(batch):
        for m in range(heads):
            for level, (height, width) in enumerate(spatial_shapes):
                tokens = value[b, starts[level] : starts[level] + height * width, m]  # HW D
                value_map = tokens.t().reshape(head_dim, height, width)
                for q in range(queries):
                    for p in range(points):
                        lx, ly = locations[b, q, m, level, p].tolist()
                        # align_corners=False: normalised 0 is the left edge of pixel 0.
                        sample = bilinear_at(value_map, lx * width - 0.5, ly * height - 0.5)
                        out[b, q, m] += weights[b, q, m, level, p].double() * sample
    return out.reshape(batch, queries, heads * head_dim)


def random_case(spatial_shapes, batch=2, queries=7, heads=3, head_dim=4, points=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    tokens = sum(h * w for h, w in spatial_shapes)
    levels = len(spatial_shapes)
    value = torch.randn(batch, tokens, heads, head_dim, generator=generator)
    # Locations from -0.3 to 1.3: many points fall partly or fully outside the maps.
    locations = torch.rand(batch, queries, heads, levels, points, 2, generator=generator) * 1.6 - 0.3
    weights = torch.rand(batch, queries, heads, levels * points, generator=generator).softmax(-1)
    return value, locations, weights.view(batch, queries, heads, levels, points)


@pytest.mark.parametrize("spatial_shapes", [[(5, 7)], [(6, 4), (3, 2), (2, 5)]])
def test_deformable_sample_matches_loop_reference(spatial_shapes):
    value, locations, weights = random_case(spatial_shapes)
    expected = loop_reference(value, spatial_shapes, locations, weights)
    actual = deformable_sample(value, spatial_shapes, locations, weights)
    torch.testing.assert_close(actual.double(), expected, atol=1e-5, rtol=1e-5)


def test_deformable_sample_far_outside_and_on_the_edges():
    """Points far outside every map, exactly on the borders and exactly on pixel centres."""
    spatial_shapes = [(3, 4), (2, 2)]
    value, locations, weights = random_case(spatial_shapes, queries=6, points=4, seed=5)
    edges = torch.tensor([-7.0, -0.5, 0.0, 1.0, 1.5, 9.0, 0.125, 0.875])
    pick = torch.randint(0, len(edges), locations.shape, generator=torch.Generator().manual_seed(6))
    locations = torch.where(torch.rand(locations.shape) < 0.7, edges[pick], locations)
    expected = loop_reference(value, spatial_shapes, locations, weights)
    actual = deformable_sample(value, spatial_shapes, locations, weights)
    torch.testing.assert_close(actual.double(), expected, atol=1e-5, rtol=1e-5)


def test_deformable_sample_matches_grid_sample_gradients():
    """Gradients w.r.t. values, locations and weights equal those of the grid_sample formulation."""
    spatial_shapes = [(4, 6), (2, 3)]
    value, locations, weights = random_case(spatial_shapes, batch=1, queries=5, heads=2, points=2, seed=3)

    def via_grid_sample(value, locations, weights):
        batch, _, heads, head_dim = value.shape
        queries = locations.shape[1]
        result = 0
        for level, ((height, width), start) in enumerate(
            zip(spatial_shapes, level_start_indices(spatial_shapes), strict=True)
        ):
            maps = (
                value[:, start : start + height * width]
                .permute(0, 2, 3, 1)
                .reshape(batch * heads, head_dim, height, width)
            )
            grid = (2 * locations[:, :, :, level] - 1).permute(0, 2, 1, 3, 4).reshape(batch * heads, queries, -1, 2)
            sampled = F.grid_sample(maps, grid, align_corners=False)  # (B·M) D Lq P
            level_weights = weights[:, :, :, level].permute(0, 2, 1, 3).reshape(batch * heads, 1, queries, -1)
            result = result + (sampled * level_weights).sum(-1)
        return result.view(batch, heads, head_dim, queries).permute(0, 3, 1, 2).reshape(batch, queries, -1)

    inputs_a = [t.clone().double().requires_grad_(True) for t in (value, locations, weights)]
    inputs_b = [t.clone().double().requires_grad_(True) for t in (value, locations, weights)]
    upstream = torch.randn(1, 5, 2 * value.shape[-1], dtype=torch.float64)
    (deformable_sample(*inputs_a[:1], spatial_shapes, *inputs_a[1:]).double() * upstream).sum().backward()
    (via_grid_sample(*inputs_b) * upstream).sum().backward()
    for a, b in zip(inputs_a, inputs_b, strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-5)


def test_module_matches_reference_with_random_parameters():
    torch.manual_seed(0)
    spatial_shapes = [(4, 5), (2, 3)]
    attention = MultiScaleDeformableAttention(d_model=12, num_heads=3, num_levels=2, num_points=2)
    for parameter in attention.parameters():
        torch.nn.init.normal_(parameter, std=0.5)
    query = torch.randn(2, 6, 12)
    value = torch.randn(2, 26, 12)
    reference = torch.rand(2, 6, 2, 2)
    out = attention(query, reference, value, spatial_shapes)

    # The same computation written out by hand with the loop sampler.
    projected = attention.value_proj(value).view(2, 26, 3, 4)
    offsets = attention.sampling_offsets(query).view(2, 6, 3, 2, 2, 2)
    weights = attention.attention_weights(query).view(2, 6, 3, 4).softmax(-1).view(2, 6, 3, 2, 2)
    normaliser = torch.tensor([[5.0, 4.0], [3.0, 2.0]])
    locations = reference[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None, :]
    sampled = loop_reference(projected.detach(), spatial_shapes, locations.detach(), weights.detach())
    expected = attention.output_proj(sampled.float())
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_initialisation_follows_spec():
    attention = MultiScaleDeformableAttention(d_model=768, num_heads=12, num_levels=1, num_points=4)
    assert attention.sampling_offsets.weight.shape == (96, 768)
    assert attention.attention_weights.weight.shape == (48, 768)
    assert attention.value_proj.weight.shape == (768, 768)
    assert torch.count_nonzero(attention.sampling_offsets.weight) == 0
    assert torch.count_nonzero(attention.attention_weights.weight) == 0
    assert torch.count_nonzero(attention.attention_weights.bias) == 0
    bias = attention.sampling_offsets.bias.view(12, 1, 4, 2)
    # Head 0 points along +x, head 3 along +y (θ = π/2), head 6 along -x; point p at distance p+1.
    torch.testing.assert_close(bias[0, 0, :, 0], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(bias[0, 0, :, 1], torch.zeros(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(bias[3, 0, :, 1], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(bias[6, 0, :, 0], -torch.tensor([1.0, 2.0, 3.0, 4.0]))
    # θ = π/6: (cos, sin) / cos = (1, tan 30°).
    torch.testing.assert_close(bias[1, 0, 0], torch.tensor([1.0, math.tan(math.pi / 6)]))
    assert torch.count_nonzero(attention.value_proj.bias) == 0


def test_reference_points_are_pixel_centres():
    points = grid_reference_points([(2, 3), (1, 2)])
    assert points.shape == (1, 8, 1, 2)
    expected = torch.tensor(
        [[1 / 6, 1 / 4], [3 / 6, 1 / 4], [5 / 6, 1 / 4], [1 / 6, 3 / 4], [3 / 6, 3 / 4], [5 / 6, 3 / 4]]
        + [[1 / 4, 1 / 2], [3 / 4, 1 / 2]]
    )
    torch.testing.assert_close(points[0, :, 0], expected)


def test_bf16_autocast_keeps_fp32_sampling():
    torch.manual_seed(1)
    attention = MultiScaleDeformableAttention(d_model=16, num_heads=2, num_levels=1, num_points=4)
    query, value = torch.randn(1, 20, 16), torch.randn(1, 20, 16)
    reference = grid_reference_points([(4, 5)])
    full = attention(query, reference, value, [(4, 5)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = attention(query, reference, value, [(4, 5)])
    assert mixed.dtype == torch.bfloat16
    torch.testing.assert_close(mixed.float(), full, atol=5e-2, rtol=5e-2)


def test_rejects_wrong_value_length():
    attention = MultiScaleDeformableAttention(d_model=8, num_heads=2)
    with pytest.raises(ValueError, match="need 12"):
        attention(torch.randn(1, 3, 8), torch.rand(1, 3, 1, 2), torch.randn(1, 10, 8), [(3, 4)])
