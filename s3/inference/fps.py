"""FPS over a whole evaluation split, in the convention of the Cutie/S3 evaluation scripts (METRICS.md §6).

Only the predictor step of each frame is timed (the device is synchronised around it); data loading, resizing of
the results, the argmax and writing are not. Frames before a video's first mask are not counted.
`FPS = frames / seconds` summed over the split, so long videos dominate; the first video is reported separately
as the warm-up (kernel selection, allocator growth) and left out of the main figure when there are others.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from s3.data.batch import VideoSample
from s3.inference.propagation import FramePredictor, propagate_video


@dataclass
class SplitTiming:
    """Timed frames and seconds of the videos after the first, and of the first (warm-up) video."""

    videos: int = 0
    frames: int = 0
    seconds: float = 0.0
    warmup_frames: int = 0
    warmup_seconds: float = 0.0

    @property
    def fps(self) -> float:
        """Frames per second without the warm-up video (with it when it is the only one)."""
        if self.frames:
            return self.frames / self.seconds
        return self.warmup_frames / self.warmup_seconds if self.warmup_seconds else 0.0

    @property
    def warmup_fps(self) -> float:
        return self.warmup_frames / self.warmup_seconds if self.warmup_seconds else 0.0


class TimedSteps:
    """Wraps a predictor: accumulates the wall time of `step` once a mask has been given in the current video."""

    def __init__(self, predictor: FramePredictor, device: torch.device) -> None:
        self.predictor = predictor
        self.device = device
        self.frames = 0
        self.seconds = 0.0
        self._engaged = False

    @property
    def object_ids(self) -> list[int]:
        return list(getattr(self.predictor, "object_ids", []))

    def reset(self) -> None:
        self.predictor.reset()
        self._engaged = False

    def index_mask(self, prob: Tensor) -> Tensor:
        return self.predictor.index_mask(prob)

    def step(
        self, frame: Tensor, mask: Tensor | None = None, object_ids: list[int] | None = None, *, end: bool = False
    ):
        self._engaged = self._engaged or mask is not None
        self._synchronize()
        start = time.perf_counter()
        prob = self.predictor.step(frame, mask, object_ids, end=end)
        self._synchronize()
        if self._engaged:
            self.seconds += time.perf_counter() - start
            self.frames += 1
        return prob

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def time_split(predictor: FramePredictor, videos: Iterable[VideoSample], device: torch.device) -> SplitTiming:
    """Runs `predictor` over every video (frames moved to `device` first, untimed) and returns the timing."""
    timed = TimedSteps(predictor, device)
    timing = SplitTiming()
    for video in videos:
        video = {**video, "images": video["images"].to(device), "masks": video["masks"].to(device)}
        frames_before, seconds_before = timed.frames, timed.seconds
        propagate_video(timed, video)
        frames, seconds = timed.frames - frames_before, timed.seconds - seconds_before
        if timing.videos == 0:
            timing.warmup_frames, timing.warmup_seconds = frames, seconds
        else:
            timing.frames += frames
            timing.seconds += seconds
        timing.videos += 1
    return timing
