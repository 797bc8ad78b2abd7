"""A distributed sampler that stamps every index with the max skip of the step it will be trained at.

Why this design: the curriculum must follow `trainer.global_step`, survive resume, and agree across DDP
ranks and dataloader workers without rebuilding the loader. The sampler runs in the main process of each
rank; when an epoch's iterator is created it reads the current global step once, then derives the step of
every later sample from how many samples it has handed out (step = start + consumed // (batch size x
gradient accumulation)). The step therefore depends only on (start step, position in the epoch), which is
the same on every rank (they see the same step and consume batches in lock-step) and independent of
workers, prefetching and timing. Workers never read global state: the max skip and a per-sample seed ride
along in the `ClipRequest`.

Subclassing `DistributedSampler` keeps Lightning from replacing it, and `set_epoch` reshuffles as usual.

Exact resume: `state_dict()` records the epoch and its start step; after `load_state_dict()` the first
iterator of that epoch starts at the start step recorded and skips the samples of the steps already trained
(global step - start step), so a resumed run sees the same clips with the same max skips and seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from s3.data.clip_dataset import ClipRequest
from s3.data.sampling import MaxSkipSchedule


class CurriculumSampler(DistributedSampler):
    """Shuffled, rank-disjoint entry indices wrapped as `ClipRequest(index, max_skip, seed)`.

    Args:
        num_entries: length of the clip dataset.
        schedule: the global max-skip curriculum.
        total_steps: optimiser steps of the whole run (the curriculum's 100 %).
        batch_size: per-rank batch size.
        step_source: returns the current optimiser step (the DataModule passes `trainer.global_step`);
            read once per epoch, when iteration starts.
        accumulate_grad_batches: batches per optimiser step.
        num_replicas, rank: DDP world size and rank (explicit, so tests need no process group).
        seed: base seed for shuffling and per-sample randomness.
    """

    def __init__(
        self,
        num_entries: int,
        schedule: MaxSkipSchedule,
        total_steps: int,
        batch_size: int,
        step_source: Callable[[], int] | None = None,
        accumulate_grad_batches: int = 1,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        super().__init__(
            range(num_entries),  # type: ignore[arg-type]  # only its length is used
            num_replicas=num_replicas,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=drop_last,
        )
        self.schedule = schedule
        self.total_steps = max(int(total_steps), 1)
        self.batch_size = batch_size
        self.step_source = step_source
        self.accumulate_grad_batches = max(int(accumulate_grad_batches), 1)
        self.start_step = 0
        self._resume: tuple[int, int] | None = None  # (epoch, start step) from a checkpoint

    def state_dict(self) -> dict[str, Any]:
        """Position for exact resume: the current epoch and the optimiser step at which it started."""
        return {"epoch": int(self.epoch), "start_step": int(self.start_step)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = (int(state["epoch"]), int(state["start_step"]))

    def max_skip_at(self, step: int) -> int:
        return self.schedule.at(step, self.total_steps)

    def _indices(self) -> list[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.dataset), generator=generator).tolist()  # type: ignore[arg-type]
        if self.drop_last:
            order = order[: self.total_size]
        else:
            order += order[: self.total_size - len(order)]
        return order[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[ClipRequest]:  # type: ignore[override]
        current_step = int(self.step_source()) if self.step_source is not None else self.start_step
        samples_per_step = self.batch_size * self.accumulate_grad_batches
        skip = 0
        if self._resume is not None and self._resume[0] == self.epoch:
            self.start_step = self._resume[1]
            skip = max(current_step - self.start_step, 0) * samples_per_step
        else:
            self.start_step = current_step
        self._resume = None
        seed_stream = np.random.SeedSequence([self.seed, self.epoch, self.rank])
        seeds = seed_stream.generate_state(self.num_samples, dtype=np.uint32)
        for position, index in enumerate(self._indices()):
            if position < skip:
                continue
            step = self.start_step + position // samples_per_step
            yield ClipRequest(int(index), self.max_skip_at(step), int(seeds[position]))
