"""Frame and mask geometry for inference: padding, internal resizing and input conversion."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from s3.errors import S3Error

Padding = tuple[int, int, int, int]  # left, right, top, bottom


class InferenceInputError(S3Error, ValueError):
    """A frame or mask given to the predictor has the wrong type, shape or ids (the message says which)."""


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, Padding]:
    """Zero-pads the last two axes to a multiple of `multiple`, split evenly (the extra pixel goes last)."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    if pad_h == 0 and pad_w == 0:
        return x, pads
    return F.pad(x, pads), pads


def unpad(x: Tensor, pads: Padding) -> Tensor:
    """Inverse of `pad_to_multiple` on the last two axes."""
    left, right, top, bottom = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


def internal_size(height: int, width: int, max_size: int) -> tuple[int, int] | None:
    """Processing size when the shorter side exceeds `max_size` (> 0), else None (no resize)."""
    shorter = min(height, width)
    if max_size <= 0 or shorter <= max_size:
        return None
    return int(height / shorter * max_size), int(width / shorter * max_size)


def shorter_side_size(height: int, width: int, side: int) -> tuple[int, int]:
    """Size whose shorter side equals `side`, keeping the aspect ratio (up- or down-scaling)."""
    shorter = min(height, width)
    return int(height / shorter * side), int(width / shorter * side)


def resize_image(image: Tensor, size: tuple[int, int], *, antialias: bool = False) -> Tensor:
    """3 H W (or B 3 H W) bilinear resize."""
    batched = image if image.dim() == 4 else image.unsqueeze(0)
    out = F.interpolate(batched, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return out if image.dim() == 4 else out[0]


def resize_index_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """H W integer index mask, nearest-exact resize (keeps ids)."""
    out = F.interpolate(mask[None, None].float(), size=size, mode="nearest-exact")
    return out[0, 0].round().to(mask.dtype)


def resize_probabilities(prob: Tensor, size: tuple[int, int]) -> Tensor:
    """C H W probabilities, bilinear resize."""
    return F.interpolate(prob[None], size=size, mode="bilinear", align_corners=False)[0]


def as_image_tensor(frame: Tensor | np.ndarray, device: torch.device) -> Tensor:
    """A frame as float32 3 H W in [0, 1] on `device`.

    Accepts a float 3 H W tensor in [0, 1], or uint8 H W 3 / 3 H W (numpy or torch) in 0..255.
    """
    if isinstance(frame, np.ndarray):
        frame = torch.from_numpy(np.ascontiguousarray(frame))
    if not isinstance(frame, Tensor) or frame.dim() != 3:
        shape = getattr(frame, "shape", None)
        raise InferenceInputError(f"frame must be a 3 H W or H W 3 array, got {type(frame).__name__} {shape}")
    if frame.dtype == torch.uint8:
        if frame.shape[-1] == 3 and frame.shape[0] != 3:
            frame = frame.permute(2, 0, 1)
        frame = frame.float().div_(255)
    elif not frame.is_floating_point():
        raise InferenceInputError(f"frame must be float in [0, 1] or uint8, got dtype {frame.dtype}")
    if frame.shape[0] != 3:
        raise InferenceInputError(f"frame must have 3 channels first (3 H W), got shape {tuple(frame.shape)}")
    return frame.to(device=device, dtype=torch.float32)


def as_index_mask(mask: Tensor | np.ndarray, device: torch.device) -> Tensor:
    """An H W integer index mask as int64 on `device`."""
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if not isinstance(mask, Tensor) or mask.dim() != 2:
        shape = getattr(mask, "shape", None)
        raise InferenceInputError(f"mask must be an H W index mask, got {type(mask).__name__} {shape}")
    if mask.is_floating_point() or mask.is_complex() or mask.dtype == torch.bool:
        raise InferenceInputError(f"mask must hold integer object ids, got dtype {mask.dtype}")
    return mask.to(device=device, dtype=torch.int64)
