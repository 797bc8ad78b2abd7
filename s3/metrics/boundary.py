"""Boundary accuracy F of the DAVIS 2017 toolkit: boundary maps, tolerance disk, precision/recall/F.

The boundary map marks pixels whose value differs from the east, south or south-east neighbour (the
boundary sits half a pixel toward the origin); the last row only looks east, the last column only
south, and the bottom-right pixel is never a boundary. Boundaries match when they lie within a digital
disk whose radius is `ceil(bound_th * image diagonal)` pixels (or `bound_th` itself when it is >= 1).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

DEFAULT_BOUND_TH = 0.008


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """Boundary map of a binary mask.

    Args:
        mask: H W, any dtype; non-zero = foreground.

    Returns:
        H W bool boundary map.
    """
    if mask.ndim != 2:
        raise ValueError(f"seg2bmap expects an H W mask, got shape {mask.shape}")
    seg = mask.astype(bool, copy=False)
    boundary = np.zeros_like(seg)
    # Interior pixels: any change toward the east, south or south-east neighbour.
    inner = seg[:-1, :-1]
    boundary[:-1, :-1] = (inner != seg[:-1, 1:]) | (inner != seg[1:, :-1]) | (inner != seg[1:, 1:])
    # Last row: horizontal change only; last column: vertical change only (neighbours outside count as 0).
    boundary[-1, :-1] = seg[-1, :-1] != seg[-1, 1:]
    boundary[:-1, -1] = seg[:-1, -1] != seg[1:, -1]
    boundary[-1, -1] = False
    return boundary


def boundary_radius(image_hw: tuple[int, int], bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Tolerance radius in pixels: `ceil(bound_th * sqrt(H^2 + W^2))`, or `bound_th` itself when >= 1."""
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a radius in pixels and must be an integer, got {bound_th}")
        return int(bound_th)
    if bound_th <= 0:
        raise ValueError(f"bound_th must be positive, got {bound_th}")
    height, width = image_hw
    return int(math.ceil(bound_th * math.hypot(height, width)))


_DISK_CACHE: dict[int, np.ndarray] = {}


def disk_footprint(radius: int) -> np.ndarray:
    """The digital disk {(dy, dx): dy^2 + dx^2 <= r^2} as a (2r+1) (2r+1) uint8 array."""
    if radius not in _DISK_CACHE:
        offsets = np.arange(-radius, radius + 1)
        _DISK_CACHE[radius] = ((offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius**2).astype(np.uint8)
    return _DISK_CACHE[radius]


def f_from_counts(matched_pred: int, num_pred: int, matched_gt: int, num_gt: int) -> float:
    """F from boundary pixel counts, with the toolkit's rules for empty boundaries."""
    if num_pred == 0 and num_gt == 0:
        precision, recall = 1.0, 1.0
    elif num_pred == 0:
        precision, recall = 1.0, 0.0
    elif num_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = matched_pred / num_pred
        recall = matched_gt / num_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@functools.lru_cache(maxsize=64)
def disk_rectangles(radius: int) -> tuple[tuple[int, int], ...]:
    """The disk D_r as a union of centred rectangles (half-height h, half-width w), largest area first.

    Row dy of the disk spans |dx| <= isqrt(r^2 - dy^2), which never grows with |dy|, so the disk is the
    union over the distinct row widths w of the rectangle |dy| <= (last row with that width), |dx| <= w.
    """
    half_height_of_width: dict[int, int] = {}
    for dy in range(radius + 1):
        half_height_of_width[math.isqrt(radius * radius - dy * dy)] = dy
    rectangles = [(h, w) for w, h in half_height_of_width.items()]
    return tuple(sorted(rectangles, key=lambda hw: -(2 * hw[0] + 1) * (2 * hw[1] + 1)))


def matched_count(boundary: np.ndarray, other: np.ndarray, radius: int) -> int:
    """How many pixels of `boundary` have a pixel of `other` within the disk of `radius`.

    Equal to |boundary ∧ dilate(other, D_r)| with nothing outside the image, but computed sparsely: the
    summed-area table of `other` gives the count in each of the disk's rectangles around every boundary
    pixel (pixels lying on `other` itself are settled first).

    Args:
        boundary, other: h w bool, C-contiguous.
    """
    flat = np.flatnonzero(boundary)
    if flat.size == 0:
        return 0
    # Pixels that lie on `other` itself match under every radius: settle them with one cheap lookup.
    on_other = np.take(other.ravel(), flat)
    matched = int(np.count_nonzero(on_other))
    if matched == flat.size:
        return matched
    height, width = boundary.shape
    ys, xs = np.divmod(flat[~on_other], width)
    table = cv2.integral(other.view(np.uint8)).ravel()  # (h+1)(w+1) int32: [y, x] = sum of other[:y, :x]
    stride = width + 1
    rectangles = _rectangle_array(radius)
    half_heights, half_widths = rectangles[:, :1], rectangles[:, 1:]  # R 1 each, against n pixels
    top = np.maximum(ys - half_heights, 0) * stride
    bottom = np.minimum(ys + half_heights + 1, height) * stride
    left = np.maximum(xs - half_widths, 0)
    right = np.minimum(xs + half_widths + 1, width)
    counts = (
        np.take(table, bottom + right)
        - np.take(table, top + right)
        - np.take(table, bottom + left)
        + np.take(table, top + left)
    )  # R n: pixels of `other` in each rectangle around each boundary pixel
    return matched + int(np.count_nonzero((counts > 0).any(axis=0)))


@functools.lru_cache(maxsize=64)
def _rectangle_array(radius: int) -> np.ndarray:
    array = np.array(disk_rectangles(radius), dtype=np.int64)
    array.setflags(write=False)
    return array


def boundary_counts(pred: np.ndarray, gt: np.ndarray, radius: int) -> tuple[int, int, int, int]:
    """Matched and total boundary pixels of two binary masks of the same (possibly cropped) region.

    Cropping is exact as long as the crop keeps one background row/column past each mask on the
    bottom/right side (or reaches the image edge there) and starts at most one pixel before the masks:
    only boundary pixels are ever counted, and every boundary pixel of both maps lies inside such a crop.

    Args:
        pred, gt: h w bool.
        radius: tolerance radius in pixels (from the full image size, not the crop).

    Returns:
        (|Bp ∧ dilate(Bg)|, |Bp|, |Bg ∧ dilate(Bp)|, |Bg|).
    """
    pred_boundary = seg2bmap(pred)
    gt_boundary = seg2bmap(gt)
    num_pred = int(np.count_nonzero(pred_boundary))
    num_gt = int(np.count_nonzero(gt_boundary))
    if num_pred == 0 or num_gt == 0:
        return 0, num_pred, 0, num_gt
    matched_pred = matched_count(pred_boundary, gt_boundary, radius)
    matched_gt = matched_count(gt_boundary, pred_boundary, radius)
    return matched_pred, num_pred, matched_gt, num_gt


def crop_around(pred: np.ndarray, gt: np.ndarray) -> tuple[slice, slice] | None:
    """Smallest exact crop for `boundary_counts` of two H W bool masks; None when both are empty."""
    rows = np.flatnonzero(pred.any(axis=1) | gt.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(pred.any(axis=0) | gt.any(axis=0))
    height, width = pred.shape
    return expand_box(int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1]), height, width)


def expand_box(y0: int, y1: int, x0: int, x1: int, height: int, width: int) -> tuple[slice, slice]:
    """Inclusive box [y0, y1] x [x0, x1] grown by one pixel on each side, clipped to the image."""
    return slice(max(y0 - 1, 0), min(y1 + 2, height)), slice(max(x0 - 1, 0), min(x1 + 2, width))


def boundary_f(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, bound_th: float = DEFAULT_BOUND_TH
) -> float:
    """Boundary F of one binary prediction against one binary ground truth.

    Args:
        pred, gt: H W binary masks (non-zero = object).
        void: optional H W mask of pixels to ignore (both masks are zeroed there first).
        bound_th: tolerance as a fraction of the image diagonal (< 1) or in pixels (>= 1).
    """
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must be H W of the same size")
    pred = pred.astype(bool, copy=False)
    gt = gt.astype(bool, copy=False)
    if void is not None:
        keep = ~void.astype(bool, copy=False)
        pred, gt = pred & keep, gt & keep
    radius = boundary_radius(pred.shape, bound_th)
    box = crop_around(pred, gt)
    if box is None:
        return 1.0
    return f_from_counts(*boundary_counts(pred[box], gt[box], radius))
