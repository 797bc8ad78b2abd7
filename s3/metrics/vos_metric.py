"""`VOSMetric`: DAVIS J / F / J&F (and YouTube-VOS-style G) as a torchmetrics `Metric`.

Usage from a LightningModule, one full video per `validation_step`::

    self.val_metric = VOSMetric()                       # in __init__ (a child module, so it follows the device)
    ...
    prediction = ...                                     # T H W integer index masks, same size as sample["masks"]
    self.val_metric.update_from_sample(prediction, sample)
    ...
    scores = self.val_metric.compute()                   # in on_validation_epoch_end; syncs across ranks
    self.log_dict({f"val/{k}": v for k, v in scores.items()}, sync_dist=False)
    self.val_metric.reset()

`update(pred, gt, video=..., object_ids=..., frames=...)` is the general form: pred and gt are T H W index
masks (torch tensors on any device, or NumPy arrays), `frames` the frame indices to score (default: the
DAVIS rule, every frame except the first and the last), `void` an optional T H W bool map. Each object's
per-frame J and F are reduced right away to (Mean, Recall, Decay) exactly as the DAVIS 2017 toolkit does;
`compute()` averages them over objects pooled across videos.

DDP: per-object rows (statistics, object id, seen flag and the UTF-8 bytes of the video name) live in a
"cat" list state, so after the all-gather every rank holds every row. Rows are de-duplicated by
(video name, object id), keeping the first, so a video evaluated twice because the DistributedSampler
padded the last batch is counted once. Give every video a unique name.

With `seen_categories`, objects whose category (passed to `update` via `categories`) is in the list count
as seen, others as unseen, and `compute()` adds G, J-seen, F-seen, J-unseen, F-unseen. A per-video or
per-object `seen` flag can be passed instead (LVOS groups objects by video).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from s3.data.batch import VideoSample
from s3.metrics.aggregate import ObjectResult, davis_global, seen_unseen, warn_unscored
from s3.metrics.boundary import DEFAULT_BOUND_TH
from s3.metrics.statistics import DecayIndexMode
from s3.metrics.video import ObjectStatistics, score_video

_NUM_STATS = 6
_SEEN_UNKNOWN, _SEEN_NO, _SEEN_YES = -1.0, 0.0, 1.0


def _to_numpy(masks: Tensor | np.ndarray, what: str) -> np.ndarray:
    array = masks.detach().cpu().numpy() if isinstance(masks, Tensor) else np.asarray(masks)
    if array.ndim != 3:
        raise ValueError(f"{what} must be T H W index masks, got shape {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must hold integer object ids, got dtype {array.dtype}")
    return array


class VOSMetric(Metric):
    """DAVIS-protocol J, F, J&F (with Recall and Decay) over videos, optionally YouTube-VOS-style G.

    Args:
        bound_th: boundary tolerance, a fraction of the image diagonal (< 1) or pixels (>= 1).
        exclude_first_last: default frame rule of `update` when `frames` is not given.
        decay_indices: "uint8" reproduces the toolkit's wrapping decay bins for > 256 frames, "integer" does not.
        seen_categories: category names seen in training; enables G.
        max_name_bytes: room for each video name (UTF-8) in the synced state.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    object_rows: list[Tensor]

    def __init__(
        self,
        bound_th: float = DEFAULT_BOUND_TH,
        exclude_first_last: bool = True,
        decay_indices: DecayIndexMode = "uint8",
        seen_categories: Iterable[str] | None = None,
        max_name_bytes: int = 256,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bound_th = bound_th
        self.exclude_first_last = exclude_first_last
        self.decay_indices: DecayIndexMode = decay_indices
        self.seen_categories = None if seen_categories is None else frozenset(seen_categories)
        self.max_name_bytes = max_name_bytes
        self.row_width = _NUM_STATS + 2 + max_name_bytes
        # One flat float64 row per object (float64 holds ids and name bytes exactly); flat so that a rank
        # without rows still gathers (torchmetrics then sends a 1-D empty tensor of the metric dtype).
        self.add_state("object_rows", default=[], dist_reduce_fx="cat")
        self.set_dtype(torch.float64)

    # ----------------------------------------------------------------------------------------- update

    def update(
        self,
        pred: Tensor | np.ndarray,
        gt: Tensor | np.ndarray,
        video: str,
        object_ids: Sequence[int] | None = None,
        frames: Sequence[int] | Tensor | None = None,
        void: Tensor | np.ndarray | None = None,
        object_frames: Mapping[int, Sequence[int]] | None = None,
        categories: Mapping[int, str] | None = None,
        seen: bool | Mapping[int, bool] | None = None,
    ) -> None:
        """Score one video.

        Args:
            pred, gt: T H W integer index masks of the same size.
            video: unique video name (used to de-duplicate under DDP).
            object_ids: objects to score (default: ids > 0 in the ground truth of the evaluated frames, plus frame 0).
            frames: indices of the evaluated frames (default: all but the first and last, or all when
                `exclude_first_last=False`).
            void: optional T H W bool map of pixels scored for neither mask.
            object_frames: per-object evaluated frames, overriding `frames` for those objects.
            categories: object id -> category name, for G with `seen_categories`.
            seen: explicit seen flag for the whole video or per object (overrides `categories`).
        """
        pred_np = _to_numpy(pred, "prediction")
        gt_np = _to_numpy(gt, "ground truth")
        if pred_np.shape != gt_np.shape:
            raise ValueError(f"video {video!r}: prediction {pred_np.shape} and ground truth {gt_np.shape} differ")
        num_frames = gt_np.shape[0]
        if frames is None:
            start, stop = (1, num_frames - 1) if self.exclude_first_last else (0, num_frames)
            frame_indices = np.arange(start, max(stop, start), dtype=np.int64)
        else:
            frame_indices = np.asarray(frames.cpu() if isinstance(frames, Tensor) else frames, dtype=np.int64)
        void_np = None if void is None else (void.detach().cpu().numpy() if isinstance(void, Tensor) else void)
        if object_ids is None:
            present = np.unique(gt_np[np.unique(np.concatenate([[0], frame_indices]))])
            object_ids = [int(i) for i in present if i > 0]
        scores = score_video(
            pred_np,
            gt_np,
            list(object_ids),
            frames=frame_indices,
            void=None if void_np is None else void_np.astype(bool),
            bound_th=self.bound_th,
            object_frames=object_frames,
        )
        name_bytes = self._encode_name(video)
        for object_scores in scores:
            stats = object_scores.statistics(self.decay_indices)
            flag = self._seen_flag(object_scores.object_id, categories, seen)
            row = np.concatenate(
                [
                    np.array(
                        [stats.j_mean, stats.j_recall, stats.j_decay, stats.f_mean, stats.f_recall, stats.f_decay],
                        dtype=np.float64,
                    ),
                    np.array([object_scores.object_id, flag], dtype=np.float64),
                    name_bytes,
                ]
            )
            self.object_rows.append(torch.from_numpy(row).to(device=self.device, dtype=torch.float64))

    def update_from_sample(self, pred: Tensor | np.ndarray, sample: VideoSample, **kwargs: Any) -> None:
        """Score the prediction of one evaluation `VideoSample`.

        Ground truth is `sample["masks"]`; each object is scored on the annotated frames after the frame
        where its mask was given (`first_appearance`), and, with `exclude_first_last`, before the last
        annotated frame. For DAVIS (every frame annotated, every object given on frame 0) this is exactly
        the toolkit's rule: frames 1 .. T-2.

        Args:
            pred: T H W integer index masks at the size of `sample["masks"]`.
            sample: the evaluation video.
            kwargs: forwarded to `update` (`void`, and `categories` / `seen`, which default to the sample's
                `object_categories` / `object_seen` when it has them).
        """
        flags = sample["annotated"]
        annotated = np.flatnonzero(np.asarray(flags.cpu() if isinstance(flags, Tensor) else flags, dtype=bool))
        last_annotated = int(annotated[-1]) if annotated.size else -1
        object_frames: dict[int, list[int]] = {}
        for object_id in sample["object_ids"]:
            given_at = sample["first_appearance"].get(object_id, 0)
            if self.exclude_first_last:
                chosen = annotated[(annotated > given_at) & (annotated < last_annotated)]
            else:
                chosen = annotated[annotated >= given_at]
            object_frames[int(object_id)] = chosen.tolist()
        if "object_seen" in sample:
            kwargs.setdefault("seen", sample["object_seen"])
        if "object_categories" in sample:
            kwargs.setdefault("categories", sample["object_categories"])
        self.update(
            pred,
            sample["masks"],
            video=sample["name"],
            object_ids=[int(i) for i in sample["object_ids"]],
            frames=[],
            object_frames=object_frames,
            **kwargs,
        )

    # ---------------------------------------------------------------------------------------- compute

    def object_results(self) -> list[ObjectResult]:
        """Every scored object once (first occurrence of each (video, id)), gathered from all ranks."""
        if self._is_synced:
            return self._rows_to_results()
        with self.sync_context(
            dist_sync_fn=self.dist_sync_fn, should_sync=self._to_sync, should_unsync=self._should_unsync
        ):
            return self._rows_to_results()

    def _rows_to_results(self) -> list[ObjectResult]:
        if isinstance(self.object_rows, Tensor):
            flat = self.object_rows
        elif len(self.object_rows) == 0:
            return []
        else:
            flat = dim_zero_cat(self.object_rows)
        table = flat.detach().cpu().to(torch.float64).reshape(-1, self.row_width).numpy()
        results: list[ObjectResult] = []
        seen_keys: set[tuple[str, int]] = set()
        for row in table:
            video = self._decode_name(row[_NUM_STATS + 2 :])
            object_id = int(row[_NUM_STATS])
            if (video, object_id) in seen_keys:
                continue
            seen_keys.add((video, object_id))
            flag = row[_NUM_STATS + 1]
            results.append(
                ObjectResult(
                    video=video,
                    object_id=object_id,
                    statistics=ObjectStatistics(*(float(v) for v in row[:_NUM_STATS])),
                    seen=None if flag == _SEEN_UNKNOWN else bool(flag == _SEEN_YES),
                )
            )
        return results

    def compute(self) -> dict[str, Tensor]:
        """Global table: J&F, J, J-Recall, J-Decay, F, F-Recall, F-Decay, objects (+ G and its parts when seen
        flags exist)."""
        results = self._rows_to_results()  # compute() runs on the synced state already
        warn_unscored(results)
        table = davis_global(results)
        out = {
            "J&F": table.jf_mean,
            "J": table.j_mean,
            "J-Recall": table.j_recall,
            "J-Decay": table.j_decay,
            "F": table.f_mean,
            "F-Recall": table.f_recall,
            "F-Decay": table.f_decay,
            "objects": float(len(results)),  # de-duplicated across ranks: a video seen twice counts once
        }
        if any(result.seen is not None for result in results):
            groups = seen_unseen(results)
            out.update(
                {
                    "G": groups.g,
                    "J-seen": groups.j_seen,
                    "F-seen": groups.f_seen,
                    "J-unseen": groups.j_unseen,
                    "F-unseen": groups.f_unseen,
                }
            )
        return {key: torch.tensor(value, dtype=torch.float64) for key, value in out.items()}

    # ---------------------------------------------------------------------------------------- helpers

    def _encode_name(self, video: str) -> np.ndarray:
        encoded = video.encode("utf-8")
        if not encoded or len(encoded) > self.max_name_bytes:
            raise ValueError(
                f"video name {video!r} must be 1..{self.max_name_bytes} UTF-8 bytes (raise max_name_bytes)"
            )
        padded = np.zeros(self.max_name_bytes, dtype=np.float64)
        padded[: len(encoded)] = np.frombuffer(encoded, dtype=np.uint8)
        return padded

    @staticmethod
    def _decode_name(codes: np.ndarray) -> str:
        raw = codes.astype(np.uint8).tobytes()
        return raw.rstrip(b"\0").decode("utf-8")

    def _seen_flag(
        self, object_id: int, categories: Mapping[int, str] | None, seen: bool | Mapping[int, bool] | None
    ) -> float:
        if isinstance(seen, bool):
            return _SEEN_YES if seen else _SEEN_NO
        if isinstance(seen, Mapping) and object_id in seen:
            return _SEEN_YES if seen[object_id] else _SEEN_NO
        if self.seen_categories is not None and categories is not None and object_id in categories:
            return _SEEN_YES if categories[object_id] in self.seen_categories else _SEEN_NO
        return _SEEN_UNKNOWN
