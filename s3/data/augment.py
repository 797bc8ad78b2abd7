"""Clip-consistent augmentation (DATASETS.md §9.4): one random draw shared by every frame of a clip.

Geometry (horizontal flip -> rotation/x-shear about the centre -> random-resized crop) is composed into a
single 2x3 affine matrix per clip and applied with one `cv2.warpAffine` per frame: bilinear for images with
the mean-colour fill, nearest for masks with fill 0, so masks keep their integer ids. One warp straight to
the crop size is also much cheaper than warping the full frame and then resizing the crop.
(albumentations' Affine on a whole clip applies a 3-channel fill inconsistently across frames, see
tests/data/test_augment.py, hence the own geometry.) Photometry uses albumentations on the whole clip, which
applies one draw to every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np

MEAN_FILL_RGB = (124, 116, 104)


@dataclass(frozen=True)
class AugmentationConfig:
    """Parameters of the training augmentation; defaults are the reference's (480 px crops)."""

    crop_size: int = 480
    crop_scale: tuple[float, float] = (0.36, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_probability: float = 0.5
    rotate_degrees: float = 25.0
    shear_degrees: float = 20.0
    grayscale_probability: float = 0.05
    clip_jitter: tuple[float, float, float, float] = (0.1, 0.03, 0.03, 0.0)
    frame_jitter: tuple[float, float, float, float] = (0.1, 0.05, 0.05, 0.0)


def _homogeneous(matrix_2x3: np.ndarray) -> np.ndarray:
    return np.vstack([matrix_2x3, [0.0, 0.0, 1.0]])


def _random_crop_box(rng: np.random.Generator, height: int, width: int, config: AugmentationConfig) -> tuple:
    """(top, left, h, w) of a random-resized crop: area fraction in `crop_scale`, log-uniform aspect ratio;
    after 10 failed draws, the largest centred box with a clamped aspect ratio (torchvision's rule)."""
    area = height * width
    log_low, log_high = math.log(config.crop_ratio[0]), math.log(config.crop_ratio[1])
    for _ in range(10):
        target = area * rng.uniform(*config.crop_scale)
        ratio = math.exp(rng.uniform(log_low, log_high))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    ratio = width / height
    if ratio < config.crop_ratio[0]:
        w, h = width, int(round(width / config.crop_ratio[0]))
    elif ratio > config.crop_ratio[1]:
        h, w = height, int(round(height * config.crop_ratio[1]))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def draw_clip_geometry(rng: np.random.Generator, height: int, width: int, config: AugmentationConfig) -> np.ndarray:
    """One random geometric draw for a clip of H x W frames: the 2x3 matrix mapping source to crop pixels."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    flip = np.eye(3)
    if rng.random() < config.flip_probability:
        flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    angle = math.radians(rng.uniform(-config.rotate_degrees, config.rotate_degrees))
    shear = math.radians(rng.uniform(-config.shear_degrees, config.shear_degrees))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shearing = np.array([[1.0, math.tan(shear)], [0.0, 1.0]])
    linear = rotation @ shearing
    centre = np.array([cx, cy])
    affine = np.eye(3)
    affine[:2, :2] = linear
    affine[:2, 2] = centre - linear @ centre
    top, left, h, w = _random_crop_box(rng, height, width, config)
    size = config.crop_size
    sx, sy = size / w, size / h
    crop = np.array([[sx, 0.0, -left * sx + 0.5 * sx - 0.5], [0.0, sy, -top * sy + 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    return (crop @ affine @ flip)[:2]


def warp_masks(masks: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """T H W uint8 id maps -> T S S (nearest neighbour, fill 0: ids never blend)."""
    return np.stack(
        [
            cv2.warpAffine(
                m, matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
            for m in masks
        ]
    )


def warp_images(images: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """T H W 3 uint8 -> T S S 3 (bilinear, mean-colour fill)."""
    return np.stack(
        [
            cv2.warpAffine(
                im,
                matrix,
                (size, size),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=MEAN_FILL_RGB,
            )
            for im in images
        ]
    )


def build_photometric_transform(config: AugmentationConfig) -> A.Compose:
    """albumentations colour pipeline; call as `transform(images=T H W 3 uint8)` (one draw for the clip)."""
    b1, c1, s1, h1 = config.clip_jitter
    b2, c2, s2, h2 = config.frame_jitter
    return A.Compose(
        [
            A.ColorJitter(brightness=b1, contrast=c1, saturation=s1, hue=h1, p=1.0),
            A.ToGray(p=config.grayscale_probability),
            A.ColorJitter(brightness=b2, contrast=c2, saturation=s2, hue=h2, p=1.0),
        ],
        strict=True,
    )


def apply_photometric(transform: A.Compose, images: np.ndarray, seed: int) -> np.ndarray:
    """T H W 3 uint8 -> T H W 3 uint8, one colour draw (seeded by `seed`) shared by all frames."""
    transform.set_random_seed(seed)
    return np.asarray(transform(images=images)["images"])
