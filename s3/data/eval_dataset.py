"""Evaluation: one full video per item, as a `VideoSample` (s3/data/batch.py), at native size or the test size.

`resize_to_test_size` is the official evaluation reader's resize (Cutie/S3 `VideoReader`): frames whose shorter
side exceeds the test size are brought to it before the network sees them (antialiased bilinear on the image, PIL
nearest on the given masks); `original_size` keeps the native size the predictions are brought back to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from s3.data.batch import VideoSample
from s3.data.frames import load_frames, load_record_mask
from s3.data.index import VideoRecord
from s3.inference.image_ops import reader_resize_size, resize_frames_for_test, resize_mask_for_test


def take_single(batch: list[VideoSample]) -> VideoSample:
    """Collate function of evaluation loaders (batch size 1): the video itself, un-collated."""
    return batch[0]


# DAVIS 2017 marks unlabelled pixels with 255: the official toolkit scores them for neither mask (void) and treats
# them as background when reading the given masks. (In DAVIS 2016, 255 is the object itself.)
VOID_LABEL = {"davis": 255}


class VideoEvalDataset(Dataset):
    """Full videos of an evaluation split; masks on annotated frames only.

    first_appearance maps each id to the first annotated frame that contains it: for dense ground truth
    (DAVIS) that is where the object is first visible, for sparse first-appearance masks (YouTube-VOS
    valid, LVOS first-only) the frame whose mask introduces it. Records flagged `first_appearance_only`
    (LVOS) keep each object only on that frame, so dense ground truth is never fed twice.
    """

    def __init__(self, videos: Sequence[VideoRecord], size: int | None = None) -> None:
        """size: the test size (shorter side) frames larger than it are read at, as `resize_to_test_size`
        does; None keeps the native size (what scoring needs: the module resizes a copy itself)."""
        self.videos = list(videos)
        self.size = size

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> VideoSample:
        """images T 3 H W float [0,1]; masks T H W int64 (zeros where not annotated); annotated T bool."""
        record = self.videos[index]
        frames = load_frames(record, list(range(record.num_frames)))
        num_frames, height, width = frames.shape[:3]
        masks = np.zeros((num_frames, height, width), dtype=np.int64)
        annotated = np.zeros(num_frames, dtype=bool)
        first_appearance: dict[int, int] = {}
        for position in record.annotated_positions:
            mask = load_record_mask(record, position, (height, width))
            if mask is None:
                continue
            present = [i for i in np.unique(mask).tolist() if i != 0]
            if record.first_appearance_only:
                given = [i for i in present if i not in first_appearance]
                if position in record.frame_object_ids:
                    given = [i for i in given if i in record.frame_object_ids[position]]
                if not given:
                    continue
                if len(given) < len(present):
                    mask = np.where(np.isin(mask, given), mask, 0)
                present = given
            masks[position] = mask
            annotated[position] = True
            for object_id in present:
                first_appearance.setdefault(object_id, position)
        void_label = VOID_LABEL.get(record.dataset)
        void = None
        if void_label is not None and (masks == void_label).any():
            void = masks == void_label
            masks[void] = 0
            for object_id in [i for i in first_appearance if i == void_label]:
                first_appearance.pop(object_id)
        sample = VideoSample(
            name=record.name,
            images=torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0),
            masks=torch.from_numpy(masks),
            annotated=torch.from_numpy(annotated),
            object_ids=sorted(first_appearance),
            first_appearance=first_appearance,
            frame_names=record.frame_stems,
            original_size=(height, width),
            dataset=record.dataset,
        )
        if void is not None:
            sample["void"] = torch.from_numpy(void)
        if record.frames_to_write is not None:
            sample["frames_to_write"] = list(record.frames_to_write)
        if record.object_categories:
            sample["object_categories"] = dict(record.object_categories)
        if record.object_seen:
            sample["object_seen"] = dict(record.object_seen)
        if record.object_frame_ranges:
            sample["object_frame_ranges"] = dict(record.object_frame_ranges)
        return resize_to_test_size(sample, self.size)


def resize_to_test_size(video: VideoSample, size: int | None) -> VideoSample:
    """`video` as the official evaluation reader feeds it to the network at test size `size`.

    When the frames' shorter side exceeds `size` (never upsampled), returns a copy whose `images` (T 3 H' W') are
    resized with antialiased bilinear interpolation and whose annotated `masks` (T H' W') with PIL nearest; every
    other entry, `original_size` included, is shared with `video`, so scoring can keep using the native ground
    truth. Otherwise returns `video` itself.
    """
    height, width = video["images"].shape[-2:]
    target = reader_resize_size(height, width, size)
    if target is None:
        return video
    masks = torch.zeros((video["masks"].shape[0], *target), dtype=video["masks"].dtype)
    for position in torch.nonzero(video["annotated"]).flatten().tolist():
        masks[position] = resize_mask_for_test(video["masks"][position], target)
    resized: VideoSample = {**video}  # type: ignore[typeddict-item]
    resized["images"] = resize_frames_for_test(video["images"], target)
    resized["masks"] = masks.to(video["masks"].device)
    resized.pop("void", None)  # void pixels are a scoring matter, at the native size
    return resized
