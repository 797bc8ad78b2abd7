"""The data contract between data modules and the LightningModule.

Training batches are dictionaries of fixed-length clips; evaluation yields one full video at a time.
Everything here is plain tensors so batches collate and move between devices without glue.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from torch import Tensor


class ClipBatch(TypedDict):
    """A collated batch of training clips.

    images:   B T 3 H W, float32 in [0, 1] (RGB, not normalised; the network normalises).
    masks:    B T N H W, float32 in {0, 1}; slot k holds object k+1 of the clip, slots past the clip's
              object count are all zero. N is the configured number of objects per clip (3 in the paper).
    selector: B N, float32, 1 for slots that hold a real object.
    """

    images: Tensor
    masks: Tensor
    selector: Tensor
    names: NotRequired[list[str]]
    frame_indices: NotRequired[Tensor]  # B T, long: which frames of the source video were sampled


class VideoSample(TypedDict):
    """One full evaluation video (loaders use batch size 1 and yield this dict un-collated).

    images:       T 3 H W, float32 in [0, 1], at the evaluation size.
    masks:        T H W, int64 index masks (0 = background, value = object id); only frames flagged in
                  `annotated` carry ground truth, the others are zeros.
    annotated:    T, bool.
    object_ids:   ids present in the video's ground truth, ascending.
    first_appearance: object id -> index of the first annotated frame that contains it (the frame whose
                  mask is given to the tracker under the semi-supervised protocol).
    frame_names:  file stems of the frames, used for writing results.
    original_size: (H, W) of the source frames, so outputs can be written at native resolution.
    frames_to_write: stems the submission must contain (YouTube-VOS valid meta.json, BURST annotated frames,
                  LVOS meta ranges); absent = every frame.
    object_categories: object id -> category name, where the dataset gives it.
    object_seen:  object id -> category seen in training (YouTube-VOS G), where known.
    object_frame_ranges: object id -> (first, last) annotated frame index (LVOS meta).
    """

    name: str
    images: Tensor
    masks: Tensor
    annotated: Tensor
    object_ids: list[int]
    first_appearance: dict[int, int]
    frame_names: list[str]
    original_size: tuple[int, int]
    dataset: NotRequired[str]
    void: NotRequired[Tensor]  # T H W bool: pixels scored for neither mask (DAVIS 2017's 255 label)
    frames_to_write: NotRequired[list[str]]
    object_categories: NotRequired[dict[int, str]]
    object_seen: NotRequired[dict[int, bool]]
    object_frame_ranges: NotRequired[dict[int, tuple[int, int]]]
