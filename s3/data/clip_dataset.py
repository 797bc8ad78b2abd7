"""Training clips: frame-weighted seeds, max-skip clip growth, non-empty first frame, clip-consistent
augmentation, merge augmentation and object selection (DATASETS.md §9).

Items are requested with a `ClipRequest` (entry index, global max skip, random seed) produced by
`CurriculumSampler`, so the curriculum and the randomness travel with each index: every worker process
and every DDP rank computes the same clip for the same request, with no shared state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from s3.data.augment import (
    AugmentationConfig,
    apply_photometric,
    build_photometric_transform,
    draw_clip_geometry,
    warp_images,
    warp_masks,
)
from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.frames import load_frames, load_record_mask
from s3.data.index import VideoRecord
from s3.data.sampling import dataset_max_skip, sample_clip_positions

logger = logging.getLogger(__name__)


class ClipRequest(NamedTuple):
    """What the sampler asks of the dataset: entry `index`, the global `max_skip`, a per-sample `seed`."""

    index: int
    max_skip: int
    seed: int


class ClipUnavailableError(RuntimeError):
    """No admissible clip could be drawn from this video (all seeds and crops failed)."""


@dataclass(frozen=True)
class ClipSamplingConfig:
    num_frames: int = 8
    num_objects: int = 3
    reverse_probability: float = 0.5
    merge_probability: float = 0.5
    sequence_attempts: int = 100
    seed_attempts: int = 5
    crop_attempts: int = 5
    video_attempts: int = 100


class ClipDataset(Dataset):
    """Flat list of (video, seed frame) entries, each video's frames repeated `multiplier` times.

    `videos` is a list of (records, multiplier) groups, one per dataset. Videos shorter than the clip
    length are not admitted.
    """

    def __init__(
        self,
        videos: Sequence[tuple[Sequence[VideoRecord], int]],
        sampling: ClipSamplingConfig,
        augmentation: AugmentationConfig,
        default_max_skip: int = 5,
    ) -> None:
        self.sampling = sampling
        self.augmentation = augmentation
        self.default_max_skip = default_max_skip
        self.videos: list[VideoRecord] = []
        video_ids: list[np.ndarray] = []
        positions: list[np.ndarray] = []
        self.too_short: dict[str, int] = {}
        for records, multiplier in videos:
            if multiplier < 0:
                raise DataError(f"train_datasets: multiplier must be >= 0, got {multiplier}")
            for record in records:
                if record.num_frames < sampling.num_frames:
                    self.too_short[record.dataset] = self.too_short.get(record.dataset, 0) + 1
                    continue
                video_id = len(self.videos)
                self.videos.append(record)
                for _ in range(multiplier):
                    video_ids.append(np.full(record.num_frames, video_id, dtype=np.int32))
                    positions.append(np.arange(record.num_frames, dtype=np.int32))
        for dataset, count in self.too_short.items():
            logger.warning("%s: %d videos shorter than %d frames are not sampled", dataset, count, sampling.num_frames)
        if not video_ids:
            raise DataError(
                f"train_datasets: no training video has >= {sampling.num_frames} frames (or every multiplier is 0): "
                "nothing to sample"
            )
        self.entry_video = np.concatenate(video_ids)
        self.entry_position = np.concatenate(positions)
        self._photometric = build_photometric_transform(augmentation)

    def __len__(self) -> int:
        return len(self.entry_video)

    def dataset_shares(self) -> dict[str, float]:
        """Fraction of entries (= of sampled clips) drawn from each dataset."""
        names = np.array([self.videos[v].dataset for v in self.entry_video])
        values, counts = np.unique(names, return_counts=True)
        return {str(name): float(count) / len(names) for name, count in zip(values, counts, strict=True)}

    # ---- one clip ---------------------------------------------------------------------------------------
    def _load(self, record: VideoRecord, positions: list[int]) -> tuple[np.ndarray, np.ndarray]:
        images = load_frames(record, positions)
        masks = []
        for p in positions:
            mask = load_record_mask(record, p, images.shape[1:3])  # a palette PNG or RLE from a JSON annotation
            if mask is None:
                raise DataFileNotFoundError(f"{record.image_path(p)}: training frame has no annotation")
            masks.append(mask)
        return images, np.stack(masks)

    def _draw_positions(
        self, rng: np.random.Generator, record: VideoRecord, seed_position: int, skip: int
    ) -> list[int]:
        positions = sample_clip_positions(rng, record.num_frames, seed_position, self.sampling.num_frames, skip)
        if rng.random() < self.sampling.reverse_probability:
            positions.reverse()
        return positions

    def _augmented_clip(
        self, rng: np.random.Generator, record: VideoRecord, seed_position: int, global_max_skip: int
    ) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """An augmented clip whose first frame keeps at least one object pixel: T S S 3, T S S, positions."""
        skip = dataset_max_skip(global_max_skip, record.frame_interval, record.num_frames)
        size = self.augmentation.crop_size
        for seed_try in range(self.sampling.seed_attempts):
            if seed_try > 0:
                seed_position = int(rng.integers(record.num_frames))
            positions = None
            for _ in range(self.sampling.sequence_attempts):
                candidate = self._draw_positions(rng, record, seed_position, skip)
                if candidate[0] not in record.empty_positions:
                    positions = candidate
                    break
            if positions is None:
                continue
            images, masks = self._load(record, positions)
            if not masks[0].any():
                continue  # an empty first frame the empty-frame list did not know about
            height, width = masks.shape[1:]
            for _ in range(self.sampling.crop_attempts):
                matrix = draw_clip_geometry(rng, height, width, self.augmentation)
                first = warp_masks(masks[:1], matrix, size)
                if first.any():
                    warped = warp_images(images, matrix, size)
                    warped = apply_photometric(self._photometric, warped, int(rng.integers(2**31)))
                    return warped, warp_masks(masks, matrix, size), positions
        raise ClipUnavailableError(record.name)

    def _merge(self, rng: np.random.Generator, images: np.ndarray, masks: np.ndarray, max_skip: int) -> None:
        """Paste the first-frame objects of a second random clip into this one, in place (§9.5)."""
        second_images, second_masks, _, _ = self._clip_from_random_entry(rng, max_skip)
        used = set(np.unique(masks).tolist())
        for label in np.unique(second_masks[0]).tolist():
            if label == 0:
                continue
            hard = second_masks == label  # T S S
            alpha = np.stack([cv2.GaussianBlur(h.astype(np.float32), (5, 5), 1.0) for h in hard])[..., None]
            images[:] = (images * (1 - alpha) + second_images * alpha).round().clip(0, 255).astype(np.uint8)
            new_label = (label + 10) % 255
            while new_label in used or new_label == 0:
                new_label = (new_label + 1) % 255
            used.add(new_label)
            masks[hard] = new_label

    def _clip_from_random_entry(
        self, rng: np.random.Generator, max_skip: int, index: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[int], VideoRecord]:
        for _ in range(self.sampling.video_attempts):
            entry = int(rng.integers(len(self))) if index is None else index
            record = self.videos[int(self.entry_video[entry])]
            try:
                images, masks, positions = self._augmented_clip(rng, record, int(self.entry_position[entry]), max_skip)
                return images, masks, positions, record
            except ClipUnavailableError:
                logger.debug("no admissible clip in %s/%s; drawing another video", record.dataset, record.name)
                index = None
        raise RuntimeError(f"no admissible clip after {self.sampling.video_attempts} videos; check the masks")

    def __getitem__(self, request: ClipRequest | int) -> dict[str, torch.Tensor | str]:
        """One training clip: images T 3 S S float [0,1], masks T N S S float {0,1}, selector N float."""
        if not isinstance(request, tuple):
            request = ClipRequest(int(request), self.default_max_skip, int(request))
        rng = np.random.default_rng(request.seed)
        images, masks, positions, record = self._clip_from_random_entry(rng, request.max_skip, request.index)
        num_objects = self.sampling.num_objects
        first_ids = [i for i in np.unique(masks[0]).tolist() if i != 0]
        if len(first_ids) < num_objects and rng.random() < self.sampling.merge_probability:
            self._merge(rng, images, masks, request.max_skip)
            first_ids = [i for i in np.unique(masks[0]).tolist() if i != 0]
        if len(first_ids) > num_objects:
            targets = rng.choice(first_ids, size=num_objects, replace=False).tolist()
        else:
            targets = first_ids
        one_hot = np.zeros((masks.shape[0], num_objects, *masks.shape[1:]), dtype=np.float32)
        for slot, object_id in enumerate(targets):
            one_hot[:, slot] = masks == object_id
        selector = np.zeros(num_objects, dtype=np.float32)
        selector[: len(targets)] = 1.0
        return {
            "images": torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0),
            "masks": torch.from_numpy(one_hot),
            "selector": torch.from_numpy(selector),
            "names": f"{record.dataset}/{record.name}",
            "frame_indices": torch.tensor(positions, dtype=torch.long),
        }
