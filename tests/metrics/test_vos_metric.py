"""`VOSMetric`: de-duplication, seen/unseen G, `VideoSample` frame rule and DDP state sync."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torchmetrics.utilities.data import dim_zero_cat

from s3.data.batch import VideoSample
from s3.metrics import VOSMetric


def _square_video(num_frames: int = 6, shift: int = 0, object_id: int = 1) -> torch.Tensor:
    video = torch.zeros(num_frames, 24, 32, dtype=torch.int64)
    video[:, 4:14, 6 + shift : 16 + shift] = object_id
    return video


def test_same_video_twice_counts_once() -> None:
    gt = _square_video()
    pred = _square_video(shift=2)
    once, twice = VOSMetric(), VOSMetric()
    once.update(pred, gt, video="a")
    twice.update(pred, gt, video="a")
    twice.update(pred, gt, video="a")
    assert len(twice.object_results()) == 1
    for key, value in once.compute().items():
        assert torch.equal(value, twice.compute()[key])


def test_perfect_and_wrong_videos_average_over_objects() -> None:
    metric = VOSMetric()
    gt = _square_video()
    metric.update(gt.clone(), gt, video="perfect")
    metric.update(torch.zeros_like(gt), gt, video="missed")
    scores = metric.compute()
    assert float(scores["J"]) == pytest.approx(0.5)
    assert float(scores["F"]) == pytest.approx(0.5)
    assert float(scores["J&F"]) == pytest.approx(0.5)
    assert "G" not in scores


def test_object_ids_default_to_ground_truth_ids_and_missing_prediction_scores_zero() -> None:
    gt = _square_video()
    gt[:, 16:20, 20:30] = 7  # second object with a non-contiguous id
    pred = gt.clone()
    pred[pred == 7] = 0
    metric = VOSMetric()
    metric.update(pred, gt, video="v")
    results = {r.object_id: r.statistics for r in metric.object_results()}
    assert set(results) == {1, 7}
    assert results[1].j_mean == 1.0 and results[7].j_mean == 0.0


def test_g_is_plain_mean_of_four_group_means() -> None:
    metric = VOSMetric(seen_categories=["cat"])
    gt = _square_video()
    metric.update(gt.clone(), gt, video="seen-perfect", categories={1: "cat"})
    metric.update(torch.zeros_like(gt), gt, video="seen-missed", categories={1: "cat"})
    metric.update(gt.clone(), gt, video="unseen-perfect", categories={1: "zebra"})
    scores = metric.compute()
    assert float(scores["J-seen"]) == pytest.approx(0.5)
    assert float(scores["J-unseen"]) == pytest.approx(1.0)
    assert float(scores["G"]) == pytest.approx((0.5 + 0.5 + 1.0 + 1.0) / 4)
    assert float(scores["J"]) == pytest.approx(2 / 3)  # the DAVIS table still pools all objects


def test_explicit_seen_flag_per_video() -> None:
    metric = VOSMetric()
    gt = _square_video()
    metric.update(gt.clone(), gt, video="a", seen=True)
    metric.update(torch.zeros_like(gt), gt, video="b", seen=False)
    scores = metric.compute()
    assert float(scores["G"]) == pytest.approx(0.5)


def test_update_from_sample_scores_late_objects_after_their_given_frame() -> None:
    num_frames = 8
    masks = torch.zeros(num_frames, 24, 32, dtype=torch.int64)
    masks[:, 2:10, 2:10] = 1
    masks[3:, 12:20, 12:20] = 4  # object 4 is given on frame 3
    pred = masks.clone()
    pred[:4, 12:20, 12:20] = 4  # wrong before (and on) its given frame: must not count
    pred[num_frames - 1] = 0  # the last frame is never scored
    sample: VideoSample = {
        "name": "late",
        "images": torch.zeros(num_frames, 3, 24, 32),
        "masks": masks,
        "annotated": torch.ones(num_frames, dtype=torch.bool),
        "object_ids": [1, 4],
        "first_appearance": {1: 0, 4: 3},
        "frame_names": [f"{t:05d}" for t in range(num_frames)],
        "original_size": (24, 32),
    }
    metric = VOSMetric()
    metric.update_from_sample(pred, sample)
    scores = metric.compute()
    assert float(scores["J&F"]) == 1.0
    assert float(scores["J-Decay"]) == 0.0
    assert "G" not in scores
    sample["object_seen"] = {1: True, 4: False}
    grouped = VOSMetric()
    grouped.update_from_sample(pred, sample)
    assert {r.object_id: r.seen for r in grouped.object_results()} == {1: True, 4: False}
    assert float(grouped.compute()["G"]) == 1.0


def test_bad_inputs_are_rejected_with_the_video_name() -> None:
    metric = VOSMetric()
    with pytest.raises(ValueError, match="'clip'"):
        metric.update(torch.zeros(3, 4, 4, dtype=torch.int64), torch.zeros(3, 4, 5, dtype=torch.int64), video="clip")
    with pytest.raises(ValueError, match="integer"):
        metric.update(torch.zeros(3, 4, 4), torch.zeros(3, 4, 4, dtype=torch.int64), video="clip")


class _TwoRankGroup:
    """Two metrics whose sync behaves like a 2-process all-gather: each rank receives both local states."""

    def __init__(self) -> None:
        self.ranks = [
            VOSMetric(dist_sync_fn=self._gather_for(rank), distributed_available_fn=lambda: True) for rank in range(2)
        ]

    def _gather_for(self, rank: int) -> Callable[..., list[torch.Tensor]]:
        def gather(tensor: torch.Tensor, group: object = None) -> list[torch.Tensor]:
            other = self.ranks[1 - rank]
            rows = other.object_rows  # the other rank's local (unsynced) state
            theirs = dim_zero_cat(rows) if rows else torch.tensor([], dtype=other.dtype)
            return [tensor, theirs] if rank == 0 else [theirs, tensor]

        return gather


def test_ddp_sync_counts_a_padded_duplicate_once() -> None:
    group = _TwoRankGroup()
    gt = _square_video()
    # Rank 0 scores videos a and b; rank 1 scores b again (DistributedSampler padding) and c.
    for rank, items in {0: [("a", 0), ("b", 2)], 1: [("b", 2), ("c", 5)]}.items():
        for name, shift in items:
            group.ranks[rank].update(_square_video(shift=shift), gt, video=name)
    reference = VOSMetric()
    for name, shift in [("a", 0), ("b", 2), ("c", 5)]:
        reference.update(_square_video(shift=shift), gt, video=name)
    expected = reference.compute()
    for metric in group.ranks:
        assert sorted(r.video for r in metric.object_results()) == ["a", "b", "c"]
        scores = metric.compute()
        for key, value in expected.items():
            assert torch.allclose(scores[key], value), key
        assert len(metric.object_rows) == 2  # local state restored after the sync


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric VOSMetric was called before")
def test_ddp_sync_with_a_rank_that_scored_nothing() -> None:
    group = _TwoRankGroup()
    group.ranks[0].update(_square_video(shift=1), _square_video(), video="only")
    reference = VOSMetric()
    reference.update(_square_video(shift=1), _square_video(), video="only")
    for metric in group.ranks:
        assert torch.allclose(metric.compute()["J&F"], reference.compute()["J&F"])
