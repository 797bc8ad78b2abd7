"""J and F on hand-computed masks, and against a brute-force per-pixel reference on random masks."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from s3.metrics import boundary_f, boundary_radius, disk_footprint, jaccard, seg2bmap
from s3.metrics.boundary import matched_count


def test_seg2bmap_square_is_ring_shifted_up_left() -> None:
    mask = np.zeros((5, 6), dtype=np.uint8)
    mask[1:4, 1:4] = 1
    expected = np.zeros((5, 6), dtype=bool)
    expected[0:4, 0:4] = True
    expected[1:3, 1:3] = False
    np.testing.assert_array_equal(seg2bmap(mask), expected)


def test_seg2bmap_full_mask_has_no_boundary_and_edges_follow_row_column_rules() -> None:
    assert not seg2bmap(np.ones((4, 7), dtype=bool)).any()
    mask = np.zeros((4, 5), dtype=bool)
    mask[3, 1] = True  # last row: only the horizontal change counts
    expected = np.zeros((4, 5), dtype=bool)
    expected[3, 0] = expected[3, 1] = True  # (3,0): value 0 vs east 1; (3,1): 1 vs east 0
    expected[2, 0] = expected[2, 1] = True  # row above: south / south-east neighbour differs
    np.testing.assert_array_equal(seg2bmap(mask), expected)
    corner = np.zeros((3, 3), dtype=bool)
    corner[2, 2] = True
    assert not seg2bmap(corner)[2, 2]  # the bottom-right pixel is never a boundary


@pytest.mark.parametrize(
    ("hw", "radius", "disk_pixels"),
    [
        ((480, 854), 8, 197),
        ((480, 910), 9, 253),
        ((480, 1152), 10, 317),
        ((720, 1280), 12, 441),
        ((1080, 1920), 18, 1009),
    ],
)
def test_radius_and_disk_match_the_spec_table(hw: tuple[int, int], radius: int, disk_pixels: int) -> None:
    assert boundary_radius(hw) == radius
    footprint = disk_footprint(radius)
    assert footprint.shape == (2 * radius + 1, 2 * radius + 1)
    assert int(footprint.sum()) == disk_pixels


def test_bound_th_of_one_or_more_is_pixels() -> None:
    assert boundary_radius((480, 854), 3) == 3
    with pytest.raises(ValueError, match="integer"):
        boundary_radius((480, 854), 2.5)


def test_jaccard_hand_values_empty_union_and_void() -> None:
    pred = np.zeros((4, 4), dtype=bool)
    gt = np.zeros((4, 4), dtype=bool)
    assert jaccard(pred, gt) == 1.0
    gt[0, :] = True  # 4 px
    assert jaccard(pred, gt) == 0.0
    pred[0, :2] = True
    pred[1, 0] = True  # I = 2, U = 5
    assert jaccard(pred, gt) == pytest.approx(2 / 5)
    void = np.zeros((4, 4), dtype=bool)
    void[1, 0] = True  # removes one prediction-only pixel: I = 2, U = 4
    assert jaccard(pred, gt, void) == pytest.approx(0.5)


def test_boundary_f_empty_cases() -> None:
    empty = np.zeros((6, 6), dtype=bool)
    blob = empty.copy()
    blob[2:4, 2:4] = True
    assert boundary_f(empty, empty) == 1.0
    assert boundary_f(empty, blob) == 0.0
    assert boundary_f(blob, empty) == 0.0
    full = np.ones((6, 6), dtype=bool)  # non-empty mask with an empty boundary map
    assert boundary_f(full, full) == 1.0
    assert boundary_f(full, blob) == 0.0  # n_p = 0, n_g > 0: precision 1, recall 0


def test_boundary_f_hand_computed_partial_match() -> None:
    # Ground truth: columns 0-2 (boundary = column 2). Prediction: columns 0-3 on rows 0-1 and 0-4 on rows
    # 2-4, whose boundary is (0,3) (1,3) (1,4) (2,4) (3,4) (4,4). Radius 1 (a plus-shaped disk):
    # precision 2/6, recall 2/5, F = 4/11.
    gt = np.zeros((5, 8), dtype=bool)
    gt[:, 0:3] = True
    pred = np.zeros((5, 8), dtype=bool)
    pred[0:2, 0:4] = True
    pred[2:5, 0:5] = True
    assert boundary_f(pred, gt, bound_th=1) == pytest.approx(4 / 11)
    assert boundary_f(pred, gt, bound_th=2) == 1.0


def _brute_force_f(pred: np.ndarray, gt: np.ndarray, radius: int) -> float:
    bp, bg = seg2bmap(pred), seg2bmap(gt)
    p_pts, g_pts = np.argwhere(bp), np.argwhere(bg)
    if len(p_pts) == 0 and len(g_pts) == 0:
        return 1.0
    if len(p_pts) == 0 or len(g_pts) == 0:
        return 0.0

    def matched(points: np.ndarray, others: np.ndarray) -> int:
        return sum(int(((others - point) ** 2).sum(axis=1).min() <= radius**2) for point in points)

    precision = matched(p_pts, g_pts) / len(p_pts)
    recall = matched(g_pts, p_pts) / len(g_pts)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("seed", range(6))
def test_boundary_f_matches_brute_force_on_random_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    height, width = 30 + seed, 41 - seed
    gt = np.zeros((height, width), dtype=bool)
    pred = np.zeros((height, width), dtype=bool)
    for mask in (gt, pred):
        for _ in range(3):
            y, x = rng.integers(0, height), rng.integers(0, width)
            mask[y : y + rng.integers(2, 15), x : x + rng.integers(2, 15)] = True
    radius = boundary_radius((height, width), 0.05)
    assert radius == math.ceil(0.05 * math.hypot(height, width))
    assert boundary_f(pred, gt, bound_th=0.05) == pytest.approx(_brute_force_f(pred, gt, radius), abs=1e-12)


def test_boundary_f_void_zeroes_both_masks_first() -> None:
    gt = np.zeros((10, 10), dtype=bool)
    gt[2:6, 2:6] = True
    pred = gt.copy()
    pred[2:6, 6:9] = True  # extra region, hidden by void
    void = np.zeros((10, 10), dtype=bool)
    void[:, 6:] = True
    assert boundary_f(pred, gt, bound_th=1) < 1.0
    assert boundary_f(pred, gt, void=void, bound_th=1) == 1.0


@pytest.mark.parametrize("radius", [0, 1, 3, 8, 10])
def test_sparse_matching_equals_disk_dilation(radius: int) -> None:
    rng = np.random.default_rng(radius)
    boundary = rng.random((40, 57)) < 0.05
    other = rng.random((40, 57)) < 0.02
    dilated = cv2.dilate(other.view(np.uint8), disk_footprint(radius))
    assert matched_count(boundary, other, radius) == int(np.count_nonzero(dilated[boundary]))
