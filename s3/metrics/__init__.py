"""DAVIS 2017 region (J) and boundary (F) measures, their per-object statistics and the `VOSMetric`.

The NumPy functions import no torch, so folder evaluators and their worker processes start fast;
`VOSMetric` (torchmetrics) is imported on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s3.metrics.aggregate import DavisGlobal, ObjectResult, SeenUnseen, davis_global, seen_unseen
from s3.metrics.boundary import boundary_f, boundary_radius, disk_footprint, seg2bmap
from s3.metrics.region import jaccard
from s3.metrics.statistics import decay_bin_indices, object_statistics
from s3.metrics.video import ObjectScores, ObjectStatistics, frame_scores, score_video

if TYPE_CHECKING:
    from s3.metrics.vos_metric import VOSMetric

__all__ = [
    "DavisGlobal",
    "ObjectResult",
    "ObjectScores",
    "ObjectStatistics",
    "SeenUnseen",
    "VOSMetric",
    "boundary_f",
    "boundary_radius",
    "davis_global",
    "decay_bin_indices",
    "disk_footprint",
    "frame_scores",
    "jaccard",
    "object_statistics",
    "score_video",
    "seen_unseen",
    "seg2bmap",
]


def __getattr__(name: str) -> Any:
    if name == "VOSMetric":
        from s3.metrics.vos_metric import VOSMetric

        return VOSMetric
    raise AttributeError(f"module 's3.metrics' has no attribute {name!r}")
