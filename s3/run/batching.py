"""Global batch size -> per-device batch and gradient accumulation.

The paper trains with a global batch of 16 clips. On `devices x num_nodes` processes each device gets
`16 / world` clips; when that exceeds `max_per_device` (memory), the remainder is made up by gradient
accumulation: `global = per_device x world x accumulate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from s3.run.errors import RunConfigError


@dataclass(frozen=True)
class BatchSplit:
    per_device: int
    accumulate: int
    world_size: int

    @property
    def global_size(self) -> int:
        return self.per_device * self.accumulate * self.world_size


def count_devices(accelerator: str | object | None, devices: int | str | list[int] | None) -> int:
    """Processes per node that Lightning will start for `trainer.accelerator` / `trainer.devices`."""
    if isinstance(devices, list | tuple):
        return len(devices)
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if isinstance(devices, int) and devices >= 0:
        return max(devices, 1) if devices > 0 else 1
    # "auto" or -1: every device of the accelerator (CPU counts as one process).
    name = accelerator if isinstance(accelerator, str) else type(accelerator).__name__.lower()
    wants_gpu = name in ("gpu", "cuda", "auto") or "cuda" in str(name)
    if wants_gpu and torch.cuda.is_available():
        return torch.cuda.device_count()
    return 1


def split_global_batch(global_batch: int, world_size: int, max_per_device: int | None = None) -> BatchSplit:
    """Splits a global batch over `world_size` processes (and accumulation steps when `max_per_device` is set)."""
    if global_batch < 1:
        raise RunConfigError(f"global_batch_size: expected a positive integer, got {global_batch}")
    if global_batch % world_size:
        raise RunConfigError(
            f"global_batch_size {global_batch} is not divisible by devices x nodes = {world_size}; "
            "choose a batch size that is a multiple of the number of processes"
        )
    per_rank = global_batch // world_size
    if max_per_device is None or per_rank <= max_per_device:
        return BatchSplit(per_rank, 1, world_size)
    if max_per_device < 1:
        raise RunConfigError(f"max_batch_per_device: expected a positive integer, got {max_per_device}")
    accumulate = next(a for a in range(2, per_rank + 1) if per_rank % a == 0 and per_rank // a <= max_per_device)
    return BatchSplit(per_rank // accumulate, accumulate, world_size)
