"""`propagate_video`: segment a whole `VideoSample` under the semi-supervised protocol.

Each object's mask is given on the frame where it first appears (`first_appearance`), restricted to the
objects that appear there, so DAVIS (all objects on frame 0) and YouTube-VOS / LVOS (objects entering
later) follow the same path. Frames before the first given mask are background.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from s3.data.batch import VideoSample
from s3.errors import S3Error
from s3.inference.image_ops import resize_probabilities


class FramePredictor(Protocol):
    """What `propagate_video` needs: `VideoPredictor` and `MultiScalePredictor` both qualify."""

    def reset(self) -> None: ...

    def step(
        self,
        frame: Tensor | np.ndarray,
        mask: Tensor | np.ndarray | None = None,
        object_ids: list[int] | None = None,
        *,
        end: bool = False,
    ) -> Tensor: ...

    def index_mask(self, prob: Tensor) -> Tensor: ...


class VideoSampleError(S3Error, ValueError):
    """A `VideoSample` is inconsistent (first appearances outside the video, ids absent from their mask)."""


def given_masks(video: VideoSample) -> dict[int, tuple[Tensor, list[int]]]:
    """Frame index -> (H W mask holding only the objects first appearing there, their ids)."""
    num_frames = video["images"].shape[0]
    by_frame: dict[int, list[int]] = {}
    for object_id in video["object_ids"]:
        frame = video["first_appearance"].get(object_id)
        if frame is None:
            raise VideoSampleError(f"video {video['name']}: object {object_id} has no first_appearance entry")
        if not 0 <= frame < num_frames:
            raise VideoSampleError(
                f"video {video['name']}: object {object_id} first appears on frame {frame}, outside 0..{num_frames - 1}"
            )
        by_frame.setdefault(frame, []).append(object_id)
    masks = {}
    for frame, ids in sorted(by_frame.items()):
        full = video["masks"][frame]
        keep = torch.isin(full, torch.tensor(ids, dtype=full.dtype, device=full.device))
        masks[frame] = (torch.where(keep, full, torch.zeros_like(full)), sorted(ids))
    return masks


@torch.inference_mode()
def propagate_video(
    predictor: FramePredictor,
    video: VideoSample,
    *,
    output_size: tuple[int, int] | None = None,
    on_probabilities: Callable[[int, Tensor, list[int]], None] | None = None,
) -> Tensor:
    """Segments every frame of `video` (the predictor is reset first).

    video: `images` T 3 H W in [0, 1], `masks` T H W, `object_ids`, `first_appearance`.
    output_size: (H', W') to resize each frame's probabilities to (bilinear, then argmax, as the official
    evaluation does); default the video's `original_size` (the images' size when it has none), so a video
    brought to its test size by `s3.data.eval_dataset.resize_to_test_size` is answered at its native size.
    on_probabilities: called with (frame index, (N+1) H' W' probabilities, object ids of channels 1..N),
    e.g. to save maps for multi-scale averaging.
    Returns T H' W' int64 index masks with the video's object ids, on the CPU.
    """
    predictor.reset()
    images = video["images"]
    if output_size is None:
        output_size = tuple(video.get("original_size") or images.shape[-2:])  # type: ignore[assignment]
    num_frames = images.shape[0]
    masks = given_masks(video)
    predictions = []
    for t in range(num_frames):
        mask, ids = masks.get(t, (None, None))
        prob = predictor.step(images[t], mask, ids, end=t == num_frames - 1)
        if tuple(prob.shape[-2:]) != tuple(output_size):
            prob = resize_probabilities(prob, output_size)
        if on_probabilities is not None:
            on_probabilities(t, prob, list(getattr(predictor, "object_ids", [])))
        predictions.append(predictor.index_mask(prob).cpu())
    return torch.stack(predictions)
