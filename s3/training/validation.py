"""Per-object J&F bookkeeping for validation (DAVIS definitions via `s3.metrics.video`), DDP-safe."""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from s3.metrics.video import score_video


class VideoScorer:
    """Collects per-object mean J and F for several methods (e.g. the model and a baseline).

    Videos are keyed by name, so a video seen twice (a padded DistributedSampler) counts once.
    """

    def __init__(self) -> None:
        self.records: dict[str, dict[tuple[str, int], tuple[float, float]]] = {}

    def add(self, video: str, prediction: Tensor, gt: Tensor, object_ids: list[int], method: str) -> None:
        """prediction, gt: T H W index masks; scores frames 1…T−2 (the DAVIS rule)."""
        scores = score_video(prediction.numpy(), gt.numpy(), object_ids)
        per_method = self.records.setdefault(method, {})
        for obj in scores:
            per_method[(video, obj.object_id)] = (float(np.mean(obj.j)), float(np.mean(obj.f)))

    def compute(self, strategy=None) -> dict[str, dict[str, float]]:
        """Global J, F and J&F per method: means over all objects of all videos (gathered over ranks)."""
        records = self.records
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, records)
            records = {}
            for part in gathered:
                for method, values in part.items():
                    records.setdefault(method, {}).update(values)
        results = {}
        for method, values in records.items():
            if not values:
                continue
            j = float(np.mean([v[0] for v in values.values()]))
            f = float(np.mean([v[1] for v in values.values()]))
            results[method] = {"J": j, "F": f, "JF": (j + f) / 2, "objects": float(len(values))}
        return results


def as_tensor(value: float) -> Tensor:
    return torch.tensor(value, dtype=torch.float32)
