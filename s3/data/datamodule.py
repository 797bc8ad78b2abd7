"""`VOSDataModule`: training clips from a mix of VOS datasets, full videos for validation.

Configured from YAML with typed arguments, e.g.

    data:
      class_path: s3.data.VOSDataModule
      init_args:
        data_root: data
        train_datasets: [{name: davis}, {name: youtube}]
        val_datasets: [{name: davis, split: val}]
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import lightning.pytorch as pl
import torch
from rich.progress import Progress
from torch.utils.data import DataLoader

from s3.data.augment import AugmentationConfig
from s3.data.clip_dataset import ClipDataset, ClipSamplingConfig
from s3.data.curriculum import CurriculumSampler
from s3.data.errors import DataError, DataRootNotFoundError
from s3.data.eval_dataset import VideoEvalDataset, take_single
from s3.data.index import VideoRecord
from s3.data.registry import DatasetSpec, EvalSpec, read_eval_dataset, read_train_dataset, train_multiplier
from s3.data.sampling import MaxSkipSchedule
from s3.data.synthetic import ensure_synthetic_davis

logger = logging.getLogger(__name__)

DEMO_HINT = "the synthetic demo data is created by `make demo` (configs/demo.yaml sets data.synthetic: true)"
# Data seed of a module built without `s3 fit` filling in the run seed (the historical default).
DEFAULT_SEED = 42


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def check_loader_arguments(
    crop_size: int,
    num_frames: int,
    num_objects: int,
    batch_size: int,
    num_workers: int,
    max_val_videos: int | None,
    crop: CropOptions | None,
) -> None:
    """Rejects values that cannot work, when the config is instantiated (before any data is read)."""
    minimum = {"crop_size": (crop_size, 1), "num_frames": (num_frames, 2), "num_objects": (num_objects, 1)}
    minimum |= {"batch_size": (batch_size, 1), "num_workers": (num_workers, 0)}
    if max_val_videos is not None:
        minimum["max_val_videos"] = (max_val_videos, 1)
    for name, (value, least) in minimum.items():
        if value < least:
            raise DataError(f"data.{name}: expected an integer >= {least}, got {value}")
    if crop is not None:
        low, high = crop.scale
        if not 0 < low <= high <= 1:
            raise DataError(f"data.crop.scale: expected 0 < min <= max <= 1, got {list(crop.scale)}")
        low, high = crop.ratio
        if not 0 < low <= high:
            raise DataError(f"data.crop.ratio: expected 0 < min <= max, got {list(crop.ratio)}")


@dataclass
class SyntheticOptions:
    """Size of the synthetic demo set generated when `synthetic` is on (see s3.data.synthetic)."""

    seed: int = 0
    num_train: int = 80
    num_val: int = 12
    num_frames: int = 24
    height: int = 128
    width: int = 160


@dataclass
class CropOptions:
    scale: tuple[float, float] = (0.36, 1.0)
    ratio: tuple[float, float] = (0.75, 4 / 3)
    rotate_degrees: float = 25.0
    shear_degrees: float = 20.0
    flip_probability: float = 0.5


@dataclass
class CurriculumOptions:
    """Max-skip curriculum in the paper's notation: `values[i]` until `phase_ends[i]` of the total steps."""

    values: list[int] = field(default_factory=lambda: [5, 10, 15, 5])
    phase_ends: list[float] = field(default_factory=lambda: [0.1, 0.3, 0.8, 1.0])
    total_steps: int | None = None  # default: trainer.max_steps, else epochs x batches per epoch


class VOSDataModule(pl.LightningDataModule):
    """Training clips and validation videos for semi-supervised VOS.

    Args:
        data_root: folder with the datasets in the layout of DATASETS.md §0.2 (each dataset's `path`,
            relative to it or absolute, overrides its default location).
        train_datasets: datasets mixed for training; default DAVIS + YouTube-VOS (or the synthetic set).
        val_datasets: evaluation splits yielded by `val_dataloader`; default DAVIS 2017 val.
        test_datasets: evaluation splits yielded by `test_dataloader`; default: same as validation.
        synthetic: generate the synthetic demo set at `data_root` when missing (in `prepare_data`).
        synthetic_options: size of that set.
        crop_size: side of the square training crops.
        num_frames: frames per training clip.
        num_objects: object slots per clip (N of the batch contract).
        batch_size: clips per batch on each device.
        num_workers: dataloader worker processes.
        seed: base seed of shuffling and of every sample's randomness; None: the run's `seed_everything` under
            `s3 fit` (filled in by `s3.run.run_config.link_seed`, so configs write the seed once), else 42.
        merge_probability: chance of pasting a second clip's objects when a clip has < num_objects objects.
        crop: geometric augmentation options.
        curriculum: the max-skip schedule.
        max_val_videos: evaluate only the first videos of each split (quick checks); None = all.
        index_cache_dir: where built indexes are cached (keyed by the folders' contents); null disables.
    """

    def __init__(
        self,
        data_root: str = "data",
        train_datasets: list[DatasetSpec] | None = None,
        val_datasets: list[EvalSpec] | None = None,
        test_datasets: list[EvalSpec] | None = None,
        synthetic: bool = False,
        synthetic_options: SyntheticOptions | None = None,
        crop_size: int = 480,
        num_frames: int = 8,
        num_objects: int = 3,
        batch_size: int = 16,
        num_workers: int = 4,
        seed: int | None = None,
        merge_probability: float = 0.5,
        crop: CropOptions | None = None,
        curriculum: CurriculumOptions | None = None,
        max_val_videos: int | None = None,
        index_cache_dir: str | None = "~/.cache/s3/index",
    ) -> None:
        super().__init__()
        check_loader_arguments(crop_size, num_frames, num_objects, batch_size, num_workers, max_val_videos, crop)
        self.data_root = Path(data_root)
        self.synthetic = synthetic
        self.synthetic_options = synthetic_options or SyntheticOptions()
        if train_datasets is None:
            train_datasets = (
                [DatasetSpec(name="davis", path=".", subset=None, empty_masks=None)]
                if synthetic
                else [DatasetSpec(name="davis"), DatasetSpec(name="youtube")]
            )
        if val_datasets is None:
            val_datasets = [EvalSpec(name="davis", split="val", path="." if synthetic else None)]
        self.train_specs = list(train_datasets)
        self.val_specs = list(val_datasets)
        self.test_specs = list(test_datasets) if test_datasets is not None else list(val_datasets)
        crop = crop or CropOptions()
        self.augmentation = AugmentationConfig(
            crop_size=crop_size,
            crop_scale=tuple(crop.scale),
            crop_ratio=tuple(crop.ratio),
            flip_probability=crop.flip_probability,
            rotate_degrees=crop.rotate_degrees,
            shear_degrees=crop.shear_degrees,
        )
        self.sampling = ClipSamplingConfig(
            num_frames=num_frames, num_objects=num_objects, merge_probability=merge_probability
        )
        curriculum = curriculum or CurriculumOptions()
        self.schedule = MaxSkipSchedule(tuple(curriculum.values), tuple(curriculum.phase_ends))
        self.total_steps = curriculum.total_steps
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = DEFAULT_SEED if seed is None else seed
        self.max_val_videos = max_val_videos
        self.index_cache_dir = index_cache_dir
        self.train_set: ClipDataset | None = None
        self.train_sampler: CurriculumSampler | None = None
        self._sampler_state: dict | None = None  # from a checkpoint, applied to the next train sampler
        self._eval_sets: dict[str, list[VideoEvalDataset]] = {}

    # ---- preparation ------------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Generate the synthetic set when asked (Lightning calls this on one process per node)."""
        if self.synthetic:
            with Progress(transient=True) as progress:
                task = progress.add_task(f"synthetic videos -> {self.data_root}", total=None)
                ensure_synthetic_davis(
                    self.data_root,
                    **asdict(self.synthetic_options),  # the user-facing subset of SyntheticSpec's fields
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )

    def _check_root(self) -> None:
        if not self.data_root.is_dir():
            hint = "" if self.synthetic else f"; {DEMO_HINT}"
            raise DataRootNotFoundError(f"data root {self.data_root} not found{hint}")

    def setup(self, stage: str | None = None) -> None:
        self._check_root()
        if stage in (None, "fit") and self.train_set is None:
            groups: list[tuple[list[VideoRecord], int]] = []
            for spec in self.train_specs:
                groups.append((read_train_dataset(self.data_root, spec, self.index_cache_dir), train_multiplier(spec)))
            self.train_set = ClipDataset(groups, self.sampling, self.augmentation, self.schedule.values[0])
        if stage in (None, "fit", "validate") and "val" not in self._eval_sets:
            self._eval_sets["val"] = self._read_eval(self.val_specs)
        if stage in (None, "test", "predict") and "test" not in self._eval_sets:
            self._eval_sets["test"] = self._read_eval(self.test_specs)

    def _read_eval(self, specs: list[EvalSpec]) -> list[VideoEvalDataset]:
        sets = []
        for spec in specs:
            videos = read_eval_dataset(self.data_root, spec)
            if not videos:
                raise DataError(f"{spec.name}/{spec.split}: the split lists no video; nothing would be evaluated")
            if self.max_val_videos is not None:
                videos = videos[: self.max_val_videos]
            sets.append(VideoEvalDataset(videos))
        return sets

    # ---- curriculum ---------------------------------------------------------------------------------------
    def _current_step(self) -> int:
        trainer = self._trainer_or_none()
        return int(trainer.global_step) if trainer is not None else 0

    def _trainer_or_none(self) -> pl.Trainer | None:
        return getattr(self, "trainer", None)

    def resolve_total_steps(self) -> int:
        """Optimiser steps of the run: the explicit value, else trainer.max_steps, else epochs x batches."""
        if self.total_steps is not None:
            return self.total_steps
        trainer = self._trainer_or_none()
        if trainer is not None and trainer.max_steps and trainer.max_steps > 0:
            return int(trainer.max_steps)
        assert self.train_set is not None
        world = trainer.world_size if trainer is not None else 1
        accumulate = trainer.accumulate_grad_batches if trainer is not None else 1
        epochs = trainer.max_epochs if trainer is not None and trainer.max_epochs and trainer.max_epochs > 0 else 1
        per_epoch = len(self.train_set) // max(self.batch_size * world, 1) // max(accumulate, 1)
        return max(1, epochs * per_epoch)

    def max_skip_at(self, step: int) -> int:
        return self.schedule.at(step, self.resolve_total_steps())

    # ---- loaders ------------------------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup("fit")
        assert self.train_set is not None
        trainer = self._trainer_or_none()
        sampler = CurriculumSampler(
            len(self.train_set),
            self.schedule,
            self.resolve_total_steps(),
            self.batch_size,
            step_source=self._current_step,
            accumulate_grad_batches=trainer.accumulate_grad_batches if trainer is not None else 1,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
            seed=self.seed,
        )
        if self._sampler_state is not None:
            sampler.load_state_dict(self._sampler_state)
            self._sampler_state = None
        self.train_sampler = sampler
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            drop_last=True,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            worker_init_fn=_worker_init,
        )

    # ---- exact resume (Lightning stores this in checkpoints) ---------------------------------------------
    def state_dict(self) -> dict:
        return {"train_sampler": self.train_sampler.state_dict()} if self.train_sampler is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._sampler_state = state_dict.get("train_sampler")

    def _eval_loaders(self, key: str) -> DataLoader | list[DataLoader]:
        if key not in self._eval_sets:
            self.setup("validate" if key == "val" else "test")
        loaders = [
            DataLoader(
                dataset,
                batch_size=1,
                shuffle=False,
                num_workers=min(self.num_workers, 2),
                collate_fn=take_single,
                worker_init_fn=_worker_init,
            )
            for dataset in self._eval_sets[key]
        ]
        return loaders[0] if len(loaders) == 1 else loaders

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._eval_loaders("val")

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._eval_loaders("test")

    def predict_dataloader(self) -> DataLoader | list[DataLoader]:
        """The test splits, for writing benchmark submissions (`s3 predict`)."""
        return self._eval_loaders("test")
