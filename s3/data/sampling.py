"""Which frames form a training clip (DATASETS.md §9.2-9.3) and the max-skip curriculum."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from s3.data.errors import DataError


@dataclass(frozen=True)
class MaxSkipSchedule:
    """Piecewise-constant global max skip: `values[i]` holds until `phase_ends[i]` x total steps.

    The paper's [5, 10, 15, 5] with phase ends [0.1, 0.3, 0.8, 1.0] equals Cutie's start fractions
    [0, 0.1, 0.3, 0.8]: value i applies from step round(start_i * total) on.
    """

    values: tuple[int, ...] = (5, 10, 15, 5)
    phase_ends: tuple[float, ...] = (0.1, 0.3, 0.8, 1.0)

    def __post_init__(self) -> None:
        if len(self.values) != len(self.phase_ends) or not self.values:
            raise DataError(
                f"data.curriculum: {len(self.values)} values but {len(self.phase_ends)} phase ends; "
                "expected one phase end per value"
            )
        if any(b < a for a, b in zip(self.phase_ends, self.phase_ends[1:], strict=False)):
            raise DataError(f"data.curriculum: phase ends must be ascending, got {list(self.phase_ends)}")
        if any(v < 1 for v in self.values):
            raise DataError(f"data.curriculum: values must be >= 1, got {list(self.values)}")

    def boundaries(self, total_steps: int) -> list[int]:
        """First step of phases 1..n-1 (steps at which the value changes)."""
        return [int(round(end * total_steps)) for end in self.phase_ends[:-1]]

    def at(self, step: int, total_steps: int) -> int:
        """The global max skip in force at optimiser step `step` of `total_steps`."""
        return self.values[bisect.bisect_right(self.boundaries(max(total_steps, 1)), step)]


def dataset_max_skip(global_max_skip: int, frame_interval: int, num_video_frames: int) -> int:
    """Max gap in positions for one video: floor(global / interval), capped by the video length, at least 1."""
    return max(1, min(num_video_frames, global_max_skip // max(frame_interval, 1)))


def sample_clip_positions(
    rng: np.random.Generator, num_video_frames: int, seed_position: int, num_frames: int, max_skip: int
) -> list[int]:
    """Grow a clip from `seed_position`: each new frame is drawn uniformly from the ±max_skip windows around
    the frames chosen so far (minus chosen ones). Returned sorted, so consecutive frames are <= max_skip apart.
    The caller decides about reversal.
    """
    if num_video_frames < num_frames:
        raise ValueError(f"a video of {num_video_frames} frames cannot give a clip of {num_frames}")
    chosen = [seed_position]
    taken = np.zeros(num_video_frames, dtype=bool)
    candidate = np.zeros(num_video_frames, dtype=bool)
    taken[seed_position] = True

    def open_window(center: int) -> None:
        candidate[max(0, center - max_skip) : center + max_skip + 1] = True

    open_window(seed_position)
    while len(chosen) < num_frames:
        options = np.flatnonzero(candidate & ~taken)
        pick = int(options[rng.integers(len(options))])
        chosen.append(pick)
        taken[pick] = True
        open_window(pick)
    return sorted(chosen)


def max_consecutive_gap(positions: Sequence[int]) -> int:
    ordered = sorted(positions)
    return max((b - a for a, b in zip(ordered, ordered[1:], strict=False)), default=0)
