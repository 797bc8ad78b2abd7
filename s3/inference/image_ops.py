"""Frame and mask geometry for inference: padding, internal resizing, the evaluation test-size resize, input
conversion.

Two resizes live here and are not interchangeable:

* the predictor's own `max_internal_size` (`internal_size`, `resize_image`, `resize_index_mask`): plain bilinear
  and nearest-exact inside the step, for users who call the predictor directly (ARCHITECTURE.md §3.1);
* the official evaluation protocol (`reader_resize_size`, `resize_frames_for_test`, `resize_mask_for_test`): what the
  Cutie/S3 data reader does before the network sees a frame — torchvision's `Resize(size, BILINEAR,
  antialias=True)` on the [0, 1] image and PIL `NEAREST` on the given masks, only when the shorter side exceeds
  the test size (never upsampled); predictions go back to the original size by bilinear interpolation of the
  probabilities, then argmax (`resize_probabilities`). Multi-scale TTA (`s3.inference.tta`) applies the same
  resize at each of its sizes (`scaled_size`), up-scaling included.
"""

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


def reader_resize_size(height: int, width: int, size: int | None) -> tuple[int, int] | None:
    """(H', W') the official evaluation reader resizes an H W frame to, or None when it keeps it.

    The reader resizes only when `size` > 0 and the shorter side exceeds it (never upsampled). The shorter
    side becomes `size` and the longer one `int(size * longer / shorter)` (torchvision's rounding).
    """
    if size is None or size <= 0 or min(height, width) <= size:
        return None
    return scaled_size(height, width, size)


def scaled_size(height: int, width: int, size: int) -> tuple[int, int]:
    """torchvision `Resize(size)`'s output size: shorter side `size`, longer `int(size * longer / shorter)`."""
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def resize_frames_for_test(images: Tensor, size: tuple[int, int]) -> Tensor:
    """T 3 H W (or 3 H W) float images -> the same at `size`: bilinear with antialiasing, as torchvision's
    tensor `Resize(..., BILINEAR, antialias=True)` computes it (one call for the whole stack)."""
    batched = images if images.dim() == 4 else images.unsqueeze(0)
    out = F.interpolate(batched, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out if images.dim() == 4 else out[0]


def resize_mask_for_test(mask: Tensor | np.ndarray, size: tuple[int, int]) -> Tensor:
    """H W integer index mask -> int64 H' W' by PIL `NEAREST` (the official reader resizes the PNG with PIL).

    PIL's nearest picks the same source pixel in every mode, so ids above 255 go through a 32-bit image.
    """
    from PIL import Image

    array = mask.cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if array.size and (array.min() < 0 or array.max() > np.iinfo(np.int32).max):
        raise InferenceInputError(f"mask ids must lie in 0..{np.iinfo(np.int32).max}, got {array.min()}..{array.max()}")
    small = array.size == 0 or array.max() <= 255
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8 if small else np.int32))  # mode L or I
    resized = np.asarray(image.resize((size[1], size[0]), Image.Resampling.NEAREST))
    return torch.from_numpy(resized.astype(np.int64))


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
