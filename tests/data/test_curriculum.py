from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from s3.data.augment import AugmentationConfig
from s3.data.clip_dataset import ClipDataset, ClipSamplingConfig
from s3.data.curriculum import CurriculumSampler
from s3.data.readers.davis import read_davis
from s3.data.sampling import MaxSkipSchedule


def test_schedule_matches_cutie_switch_points() -> None:
    schedule = MaxSkipSchedule()
    total = 175_000
    assert schedule.boundaries(total) == [17_500, 52_500, 140_000]
    expected = {0: 5, 17_499: 5, 17_500: 10, 52_499: 10, 52_500: 15, 139_999: 15, 140_000: 5, 174_999: 5}
    assert {step: schedule.at(step, total) for step in expected} == expected
    with pytest.raises(ValueError, match="one phase end per value"):
        MaxSkipSchedule((5, 10), (1.0,))


def _sampler(step: list[int], **kwargs) -> CurriculumSampler:
    defaults = dict(num_entries=20, schedule=MaxSkipSchedule(), total_steps=10, batch_size=2, seed=7)
    return CurriculumSampler(**{**defaults, **kwargs}, step_source=lambda: step[0])


def test_max_skip_follows_step_and_resume() -> None:
    step = [0]
    requests = list(_sampler(step))
    # 20 samples = 10 steps of batch 2: steps 0 -> 5, 1-2 -> 10, 3-7 -> 15, 8-9 -> 5
    assert [r.max_skip for r in requests[::2]] == [5, 10, 10, 15, 15, 15, 15, 15, 5, 5]
    step[0] = 3  # resumed at step 3: the first batch already trains at 15
    resumed = list(_sampler(step))
    assert resumed[0].max_skip == 15 and resumed[10].max_skip == 5
    step[0] = 0
    accumulated = list(_sampler(step, accumulate_grad_batches=2))
    assert [r.max_skip for r in accumulated[::4]] == [5, 10, 10, 15, 15]


def test_ranks_draw_disjoint_samples_with_the_same_curriculum() -> None:
    step = [4]
    ranks = [list(_sampler(step, num_entries=41, num_replicas=2, rank=r)) for r in range(2)]
    indices = [{r.index for r in requests} for requests in ranks]
    assert not indices[0] & indices[1]
    assert len(indices[0]) == len(indices[1]) == 20
    assert [r.max_skip for r in ranks[0]] == [r.max_skip for r in ranks[1]]
    assert [r.seed for r in ranks[0]] != [r.seed for r in ranks[1]]


def test_epochs_reshuffle() -> None:
    sampler = _sampler([0])
    first = [r.index for r in sampler]
    sampler.set_epoch(1)
    assert [r.index for r in sampler] != first


def test_workers_produce_the_same_batches(synthetic_root: Path) -> None:
    dataset = ClipDataset(
        [(read_davis(synthetic_root, image_set="train"), 1)],
        ClipSamplingConfig(num_frames=3, num_objects=2),
        AugmentationConfig(crop_size=24),
    )
    batches = []
    for workers in (0, 2):
        sampler = CurriculumSampler(len(dataset), MaxSkipSchedule(), 6, 2, step_source=lambda: 2, seed=1)
        loader = DataLoader(dataset, batch_size=2, sampler=sampler, num_workers=workers, drop_last=True)
        batches.append([b for _, b in zip(range(3), loader, strict=False)])
    for a, b in zip(*batches, strict=True):
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["masks"], b["masks"])
        assert a["names"] == b["names"]
