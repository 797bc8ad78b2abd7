"""Per-object statistics of the DAVIS toolkit over an object's evaluated frames: Mean, Recall, Decay."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

DecayIndexMode = Literal["uint8", "integer"]
NUM_DECAY_BINS = 4


def decay_bin_indices(num_frames: int, mode: DecayIndexMode = "uint8") -> list[int]:
    """The 5 shared end points of the 4 decay bins (0-based, both ends inclusive).

    They are the round-half-up values of a 1-based linspace from 1 to n, minus one. The toolkit stores
    them as uint8, so for n >= 257 they wrap modulo 256; `mode="uint8"` reproduces that (the default,
    for parity), `mode="integer"` keeps full integers (right for long videos).
    """
    if num_frames < 1:
        raise ValueError(f"decay needs at least one value, got {num_frames}")
    # floor(1 + k (n-1) / 4 + 1/2) - 1, in exact integer arithmetic.
    indices = [(2 + k * (num_frames - 1)) // NUM_DECAY_BINS for k in range(NUM_DECAY_BINS + 1)]
    if mode == "uint8":
        indices = [index % 256 for index in indices]
    elif mode != "integer":
        raise ValueError(f"decay index mode must be 'uint8' or 'integer', got {mode!r}")
    return indices


def object_statistics(values: np.ndarray, decay_indices: DecayIndexMode = "uint8") -> tuple[float, float, float]:
    """(Mean, Recall, Decay) of one object's per-frame J or F values.

    Mean and the bin means ignore NaNs; Recall is the fraction of frames with a value strictly above 0.5
    (a NaN counts as a miss); Decay = mean of the first bin - mean of the last bin.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"per-frame values must be 1-D, got shape {values.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN / empty bins give NaN, as upstream
        mean = float(np.nanmean(values)) if values.size else float("nan")
        recall = float(np.mean(values > 0.5)) if values.size else float("nan")
        if values.size == 0:
            return mean, recall, float("nan")
        ends = decay_bin_indices(values.size, decay_indices)
        first_bin = values[ends[0] : ends[1] + 1]
        last_bin = values[ends[3] : ends[4] + 1]
        decay = float(np.nanmean(first_bin) - np.nanmean(last_bin))
    return mean, recall, decay
