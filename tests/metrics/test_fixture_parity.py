"""Parity with the official toolkit's outputs on the OSVOS fixture (METRICS.md §1.11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from s3.metrics import VOSMetric, score_video

SEQUENCES = ("bike-packing", "dogs-jump", "judo", "shooting")


def test_lag1_per_frame_values_and_object_statistics(
    osvos_masks: dict[str, np.ndarray],
    lag1_expected: dict[str, Any],
    scenario_prediction: Callable[[np.ndarray, str], np.ndarray],
) -> None:
    for name in SEQUENCES:
        gt = osvos_masks[name]
        expected = lag1_expected[name]
        assert list(gt.shape[1:]) == expected["image_size_hw"]
        ids = sorted(int(key) for key in expected["objects"])
        scores = score_video(scenario_prediction(gt, "lag1"), gt, ids)
        for object_scores in scores:
            reference = expected["objects"][str(object_scores.object_id)]
            assert [f"{t:05d}" for t in object_scores.frames] == expected["evaluated_frames"]
            np.testing.assert_allclose(object_scores.j, reference["J"], atol=1e-6, rtol=0)
            np.testing.assert_allclose(object_scores.f, reference["F"], atol=1e-6, rtol=0)
            stats = object_scores.statistics()
            for field in ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"):
                assert getattr(stats, field.lower()) == pytest.approx(reference[field], abs=1e-6), (name, field)


# (J&F, J-M, J-R, J-D, F-M, F-R, F-D) from METRICS.md §1.11
SCENARIOS = {
    "identity": (1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0),
    "lag1": (0.612339, 0.565909, 0.655182, 0.066143, 0.658768, 0.735407, 0.037385),
    "drop_last_object": (0.615625, 0.615625, 0.615625, -0.055556, 0.615625, 0.615625, -0.055556),
    "all_background": (0.0296875, 0.0296875, 0.0296875, -0.079085, 0.0296875, 0.0296875, -0.079085),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_global_numbers_of_each_scenario(
    osvos_masks: dict[str, np.ndarray], scenario_prediction: Callable[[np.ndarray, str], np.ndarray], scenario: str
) -> None:
    metric = VOSMetric()
    for name in SEQUENCES:
        gt = osvos_masks[name]
        ids = list(range(1, int(gt[0].max()) + 1))
        metric.update(scenario_prediction(gt, scenario), gt, video=name, object_ids=ids)
    scores = metric.compute()
    keys = ("J&F", "J", "J-Recall", "J-Decay", "F", "F-Recall", "F-Decay")
    for key, value in zip(keys, SCENARIOS[scenario], strict=True):
        assert float(scores[key]) == pytest.approx(value, abs=1e-6), key
    assert len(metric.object_results()) == 10
