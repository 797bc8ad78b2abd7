"""Mean / Recall / Decay and the decay bin end points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from s3.metrics import decay_bin_indices, object_statistics


@pytest.mark.parametrize(
    ("n", "indices"),
    [
        (32, [0, 8, 16, 23, 31]),
        (38, [0, 9, 19, 28, 37]),
        (64, [0, 16, 32, 47, 63]),
        (67, [0, 17, 33, 50, 66]),
        (5, [0, 1, 2, 3, 4]),
        (1, [0, 0, 0, 0, 0]),
    ],
)
def test_decay_bins_match_the_spec_table(n: int, indices: list[int]) -> None:
    assert decay_bin_indices(n) == indices
    assert decay_bin_indices(n, "integer") == indices


def test_uint8_wrap_is_reproduced_and_integer_mode_avoids_it() -> None:
    assert decay_bin_indices(257)[4] == 0
    assert decay_bin_indices(300)[4] == 43
    assert decay_bin_indices(300, "integer")[4] == 299
    values = np.linspace(1, 0, 257)
    assert math.isnan(object_statistics(values)[2])  # last bin [192, 0] is empty upstream
    assert object_statistics(values, "integer")[2] > 0


def test_hand_computed_statistics() -> None:
    mean, recall, decay = object_statistics(np.array([0.2, 0.6, 0.7, 0.4, 1.0]))
    assert mean == pytest.approx(0.58)
    assert recall == pytest.approx(0.6)
    assert decay == pytest.approx(0.4 - 0.7)
    assert object_statistics(np.array([0.5, 0.5]))[1] == 0.0  # recall is strictly above 0.5
    assert object_statistics(np.array([0.9])) == (pytest.approx(0.9), 1.0, 0.0)


def test_nan_values_are_ignored_by_means_and_miss_in_recall() -> None:
    mean, recall, _ = object_statistics(np.array([1.0, np.nan, 0.0, 1.0]))
    assert mean == pytest.approx(2 / 3)
    assert recall == pytest.approx(0.5)
