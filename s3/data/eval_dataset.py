"""Evaluation: one full video per item, as a `VideoSample` (s3/data/batch.py), at native size."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from s3.data.batch import VideoSample
from s3.data.frames import load_frames, load_index_mask
from s3.data.index import VideoRecord


def take_single(batch: list[VideoSample]) -> VideoSample:
    """Collate function of evaluation loaders (batch size 1): the video itself, un-collated."""
    return batch[0]


class VideoEvalDataset(Dataset):
    """Full videos of an evaluation split; masks on annotated frames only.

    first_appearance maps each id to the first annotated frame that contains it: for dense ground truth
    (DAVIS) that is where the object is first visible, for sparse first-appearance masks (YouTube-VOS
    valid, LVOS first-only) the frame whose mask introduces it.
    """

    def __init__(self, videos: Sequence[VideoRecord]) -> None:
        self.videos = list(videos)

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
            path = record.mask_path(position)
            if path is None:
                continue
            mask = load_index_mask(path, (height, width))
            masks[position] = mask
            annotated[position] = True
            for object_id in np.unique(mask).tolist():
                if object_id != 0 and object_id not in first_appearance:
                    first_appearance[object_id] = position
        return VideoSample(
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
