"""Global tables from per-object statistics: the DAVIS averages and the YouTube-VOS-style G.

DAVIS averages over objects pooled across videos (a 5-object video weighs 5x a 1-object one).
G is the plain mean of J-seen, F-seen, J-unseen and F-unseen, each averaged over the objects of its group.

Objects with no evaluated frame (DAVIS drops a video's first and last frames, so 1- and 2-frame videos have
none) have no score: they are left out of every average with a warning naming them, and reported as `n/a`
per object, so one such video does not turn a whole split's figures into NaN. (The official toolkit never
meets them on DAVIS, whose shortest sequence has 25 frames; its `np.mean` would return NaN.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from s3.metrics.video import ObjectStatistics

logger = logging.getLogger(__name__)

DAVIS_GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


@dataclass(frozen=True)
class ObjectResult:
    """One scored object: its video, id, statistics and (optionally) whether its category was seen in training."""

    video: str
    object_id: int
    statistics: ObjectStatistics
    seen: bool | None = None

    @property
    def row_name(self) -> str:
        """The toolkit's per-object row name, `<video>_<id>`."""
        return f"{self.video}_{self.object_id}"

    @property
    def scored(self) -> bool:
        """False for an object with no evaluated frame (its statistics are NaN): it has no score."""
        return not (math.isnan(self.statistics.j_mean) and math.isnan(self.statistics.f_mean))


@dataclass(frozen=True)
class DavisGlobal:
    """The DAVIS global table (fractions in [0, 1])."""

    j_mean: float
    j_recall: float
    j_decay: float
    f_mean: float
    f_recall: float
    f_decay: float
    num_objects: int
    num_unscored: int = 0  # objects without an evaluated frame, left out of the averages

    @property
    def jf_mean(self) -> float:
        return (self.j_mean + self.f_mean) / 2

    def as_row(self) -> dict[str, float]:
        """Values keyed by the toolkit's column names, in its column order."""
        values = (self.jf_mean, self.j_mean, self.j_recall, self.j_decay, self.f_mean, self.f_recall, self.f_decay)
        return dict(zip(DAVIS_GLOBAL_COLUMNS, values, strict=True))


@dataclass(frozen=True)
class SeenUnseen:
    """YouTube-VOS-style overall score G and its four parts; a part is NaN when its group has no object."""

    j_seen: float
    f_seen: float
    j_unseen: float
    f_unseen: float
    num_seen: int
    num_unseen: int

    @property
    def g(self) -> float:
        return (self.j_seen + self.f_seen + self.j_unseen + self.f_unseen) / 4


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64))) if len(values) else math.nan


def warn_unscored(results: Sequence[ObjectResult]) -> None:
    """Warns once, naming the objects without an evaluated frame (videos too short to score)."""
    unscored = [result.row_name for result in results if not result.scored]
    if unscored:
        shown = ", ".join(unscored[:5]) + (f", ... (+{len(unscored) - 5} more)" if len(unscored) > 5 else "")
        logger.warning(
            "%d object(s) have no evaluated frame (video too short: the first and last frames are not scored): "
            "%s; reported as n/a and left out of the averages",
            len(unscored),
            shown,
        )


def davis_global(results: Sequence[ObjectResult]) -> DavisGlobal:
    """Average each statistic over the scored objects (NaN when there are none)."""
    scored = [result for result in results if result.scored]
    stats = [result.statistics for result in scored]
    return DavisGlobal(
        j_mean=_mean([s.j_mean for s in stats]),
        j_recall=_mean([s.j_recall for s in stats]),
        j_decay=_mean([s.j_decay for s in stats]),
        f_mean=_mean([s.f_mean for s in stats]),
        f_recall=_mean([s.f_recall for s in stats]),
        f_decay=_mean([s.f_decay for s in stats]),
        num_objects=len(stats),
        num_unscored=len(results) - len(scored),
    )


def seen_unseen(results: Sequence[ObjectResult]) -> SeenUnseen:
    """J/F means of the seen and unseen groups; objects with `seen=None` are left out."""
    seen = [r.statistics for r in results if r.seen is True and r.scored]
    unseen = [r.statistics for r in results if r.seen is False and r.scored]
    return SeenUnseen(
        j_seen=_mean([s.j_mean for s in seen]),
        f_seen=_mean([s.f_mean for s in seen]),
        j_unseen=_mean([s.j_mean for s in unseen]),
        f_unseen=_mean([s.f_mean for s in unseen]),
        num_seen=len(seen),
        num_unseen=len(unseen),
    )
