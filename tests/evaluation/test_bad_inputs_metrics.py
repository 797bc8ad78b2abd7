"""Sequences too short to score (DAVIS drops the first and last frames) are n/a, never a NaN global figure."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from s3.evaluation import evaluate_davis, write_csvs
from s3.metrics.vos_metric import VOSMetric
from tests.evaluation.conftest import build_davis_root, write_sequence


def square_masks(num_frames: int, object_id: int = 1, shift: int = 0) -> np.ndarray:
    masks = np.zeros((num_frames, 24, 32), np.uint8)
    masks[:, 6:18, 8 + shift : 20 + shift] = object_id
    return masks


@pytest.mark.parametrize("short_frames", [1, 2])
def test_short_sequence_is_na_and_the_global_figures_stay_defined(
    tmp_path: Path, short_frames: int, caplog: pytest.LogCaptureFixture
) -> None:
    long_gt = square_masks(6)
    root = build_davis_root(tmp_path / "DAVIS", {"long": long_gt, "short": square_masks(short_frames)})
    results = tmp_path / "results"
    write_sequence(results / "long", square_masks(6, shift=2))
    write_sequence(results / "short", square_masks(short_frames))
    with caplog.at_level(logging.WARNING):
        evaluation = evaluate_davis(root, results, workers=1)
    assert "short_1" in caplog.text and "no evaluated frame" in caplog.text
    table = evaluation.global_table
    assert table.num_objects == 1 and table.num_unscored == 1
    alone = evaluate_davis(build_davis_root(tmp_path / "ALONE", {"long": long_gt}), results, workers=1).global_table
    assert table.as_row() == alone.as_row()  # the long sequence's figures, defined
    assert np.isfinite(list(table.as_row().values())).all()
    global_csv, per_sequence_csv = write_csvs(evaluation, tmp_path / "csv")
    assert per_sequence_csv.read_text().splitlines()[2] == "short_1,n/a,n/a"
    assert "," + "," * 6 not in global_csv.read_text()  # no blank row


def test_vos_metric_leaves_unscorable_videos_out(caplog: pytest.LogCaptureFixture) -> None:
    metric = VOSMetric()
    gt = torch.from_numpy(square_masks(5).astype(np.int64))
    metric.update(gt, gt, video="long", object_ids=[1])
    short = torch.from_numpy(square_masks(2).astype(np.int64))
    metric.update(short, short, video="short", object_ids=[1])
    with caplog.at_level(logging.WARNING):
        scores = metric.compute()
    assert float(scores["J&F"]) == 1.0 and "short_1" in caplog.text
