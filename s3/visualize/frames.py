"""The frame and mask of a feature figure: read from an image file or a video frame, resized for the network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from s3.errors import S3Error
from s3.inference.video_source import FrameSource

__all__ = ["FrameInputError", "fit_to_network", "read_frame", "read_index_mask"]


class FrameInputError(S3Error, ValueError):
    """A frame or mask that cannot be read or does not fit (the message names the file and the option)."""


def read_frame(frame: str | Path | None = None, video: str | Path | None = None, frame_index: int = 0) -> np.ndarray:
    """H W 3 uint8 RGB: the image file `frame`, or frame `frame_index` of `video` (an mp4 or a folder of frames)."""
    if (frame is None) == (video is None):
        raise FrameInputError("give either --frame IMAGE or --video VIDEO (with --frame_index), not both or neither")
    if video is not None:
        source = FrameSource(video)
        if not 0 <= frame_index < len(source):
            raise FrameInputError(f"--frame_index {frame_index}: {video} has frames 0..{len(source) - 1}")
        return source.read(frame_index)
    path = Path(frame)
    if not path.is_file():
        raise FrameInputError(f"--frame: image file not found: {path}")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise FrameInputError(f"--frame: {path} cannot be read as an image ({type(error).__name__})") from error


def read_index_mask(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """H W int64 object ids of an index PNG (mode P or L), checked against the frame's `size` (H, W)."""
    path = Path(path)
    if not path.is_file():
        raise FrameInputError(f"--mask: index PNG not found: {path}")
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "I", "1"):
                raise FrameInputError(f"--mask: {path} is a {image.mode} image; expected an index PNG (mode P or L)")
            mask = np.asarray(image).astype(np.int64)
    except (UnidentifiedImageError, OSError) as error:
        raise FrameInputError(f"--mask: {path} cannot be read as an image ({type(error).__name__})") from error
    if mask.shape != tuple(size):
        raise FrameInputError(f"--mask: {path} is {mask.shape[1]}×{mask.shape[0]}, the frame {size[1]}×{size[0]}")
    if not (mask > 0).any():
        raise FrameInputError(f"--mask: {path} has no object (every pixel is 0)")
    return mask


def centre_box_mask(size: tuple[int, int]) -> np.ndarray:
    """A stand-in object when no mask is given: the middle third of the frame in both directions."""
    height, width = size
    mask = np.zeros(size, dtype=np.int64)
    mask[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = 1
    return mask


def fit_to_network(frame: np.ndarray, mask: np.ndarray, height: int, multiple: int = 32) -> tuple[Tensor, Tensor]:
    """Resizes the frame to `height` rows (aspect kept), both sides rounded to `multiple`.

    frame: H W 3 uint8; mask: H W object ids. Returns (image 3 h w float in [0, 1], masks N h w float with one
    channel per object id in increasing order).
    """
    if height < multiple:
        raise FrameInputError(f"--height {height}: must be at least {multiple}")
    source_h, source_w = frame.shape[:2]
    target_h = max(multiple, round(height / multiple) * multiple)
    target_w = max(multiple, round(source_w * height / source_h / multiple) * multiple)
    image = torch.from_numpy(np.array(frame, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
    image = F.interpolate(image, size=(target_h, target_w), mode="bilinear", antialias=True, align_corners=False)
    ids = [int(i) for i in np.unique(mask) if i != 0]
    index = torch.from_numpy(mask)[None, None].float()
    index = F.interpolate(index, size=(target_h, target_w), mode="nearest")[0, 0]
    masks = torch.stack([(index == object_id).float() for object_id in ids])
    return image[0].clamp(0, 1), masks
