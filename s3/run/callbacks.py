"""Training-run callbacks: lr / max-skip logging, per-step RNG seeding (exact resume) and mask overlays."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger
from PIL import Image

from s3.io.atomic import atomic_path
from s3.io.palette import voc_palette


class TrainingStatusLogger(Callback):
    """Logs `train/lr` (base lr: the largest of the parameter groups), `train/lr_backbone` (the smallest) and
    `train/max_skip` (the curriculum value) in force for the step being trained."""

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.optimizers:
            return
        rates = [group["lr"] for group in trainer.optimizers[0].param_groups]
        pl_module.log("train/lr", max(rates), on_step=True, on_epoch=False)
        pl_module.log("train/lr_backbone", min(rates), on_step=True, on_epoch=False)
        max_skip = current_max_skip(trainer)
        if max_skip is not None:
            pl_module.log("train/max_skip", float(max_skip), on_step=True, on_epoch=False)


def current_max_skip(trainer: pl.Trainer) -> int | None:
    """The datamodule's curriculum value at the current step, if it has one."""
    datamodule = getattr(trainer, "datamodule", None)
    lookup = getattr(datamodule, "max_skip_at", None)
    return int(lookup(trainer.global_step)) if lookup is not None else None


def step_seed(base_seed: int, step: int, micro_batch: int, rank: int) -> int:
    """A 32-bit seed that depends only on (base seed, optimiser step, batch within the step, rank)."""
    return int(np.random.SeedSequence([base_seed & 0xFFFFFFFF, step, micro_batch, rank]).generate_state(1)[0])


class StepSeeding(Callback):
    """Re-seeds torch / numpy / random before every training batch from (seed, global step, rank).

    Why: the unroll draws reference frames, deep-update coins and loss points from the global RNGs. Seeding
    them from the step makes the random stream after `--ckpt_path last` identical to an uninterrupted run's
    without depending on when the checkpoint was written or on what validation consumed in between. The
    base seed is stored in the checkpoint, so a resumed run keeps it even if `seed_everything` changed.

    Args:
        seed: base seed; default `seed_everything`'s value (Lightning's `PL_GLOBAL_SEED`), else 0.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._step = -1
        self._micro_batch = 0

    def base_seed(self) -> int:
        if self.seed is None:
            self.seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        return self.seed

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # Batches of one optimiser step (gradient accumulation) are told apart by their order within the step.
        self._micro_batch = self._micro_batch + 1 if trainer.global_step == self._step else 0
        self._step = trainer.global_step
        seed = step_seed(self.base_seed(), trainer.global_step, self._micro_batch, trainer.global_rank)
        torch.manual_seed(seed)  # also seeds every CUDA device
        np.random.seed(seed)
        random.seed(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.base_seed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seed = int(state_dict["seed"])


def overlay_masks(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """image: H W 3 uint8; mask: H W index mask -> H W 3 uint8 with objects tinted in the DAVIS palette."""
    colours = voc_palette(256).astype(np.float32)
    tinted = image.astype(np.float32)
    objects = mask > 0
    tinted[objects] = (1 - alpha) * tinted[objects] + alpha * colours[mask[objects] % 256]
    return tinted.clip(0, 255).astype(np.uint8)


def overlay_grid(images: torch.Tensor, gt: torch.Tensor, prediction: torch.Tensor) -> np.ndarray:
    """images: T 3 H W in [0, 1]; gt, prediction: T H W -> (2H) (T W) 3 uint8: ground truth above, prediction
    below."""
    frames = (images.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    top = np.concatenate([overlay_masks(f, m) for f, m in zip(frames, gt.numpy(), strict=True)], axis=1)
    bottom = np.concatenate([overlay_masks(f, m) for f, m in zip(frames, prediction.numpy(), strict=True)], axis=1)
    return np.concatenate([top, bottom], axis=0)


class MaskOverlayLogger(Callback):
    """Logs ground-truth / predicted mask overlays of the first validation videos.

    With a W&B logger the grids go to `val/overlays` (`WandbLogger.log_image`); otherwise they are written as
    PNGs to `<log dir>/overlays/step<N>_<video>.png`. Runs on global rank 0 only, on the first validation
    loader, re-segmenting `num_videos` videos truncated to `max_frames` frames.

    Args:
        num_videos: videos per validation.
        max_frames: frames per video in the grid.
    """

    def __init__(self, num_videos: int = 2, max_frames: int = 6) -> None:
        self.num_videos = num_videos
        self.max_frames = max_frames
        self.grids: list[tuple[str, np.ndarray]] = []

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.grids = []

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.global_rank != 0 or dataloader_idx != 0 or batch_idx >= self.num_videos or trainer.sanity_checking:
            return
        if not isinstance(outputs, torch.Tensor):  # the module's validation_step returns its T H W prediction
            return
        grid = self.render(batch, outputs)
        if grid is not None:
            self.grids.append((str(batch["name"]), grid))

    def render(self, video: dict[str, Any], prediction: torch.Tensor) -> np.ndarray | None:
        """Ground truth (top) over the model's prediction (bottom) for the first `max_frames` frames."""
        images = video["images"][: self.max_frames]
        gt = video["masks"][: self.max_frames]
        return overlay_grid(images.float().cpu(), gt.cpu(), prediction[: self.max_frames].cpu())

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.grids or trainer.sanity_checking:
            return
        wandb_loggers = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        for logger in wandb_loggers:
            logger.log_image(
                key="val/overlays",
                images=[grid for _, grid in self.grids],
                caption=[f"{name} (top: ground truth, bottom: prediction)" for name, _ in self.grids],
                step=trainer.global_step,
            )
        if not wandb_loggers:
            folder = Path(trainer.log_dir or trainer.default_root_dir) / "overlays"
            for name, grid in self.grids:
                with atomic_path(folder / f"step{trainer.global_step:07d}_{name}.png") as temporary:
                    Image.fromarray(grid).save(temporary, format="PNG")
        self.grids = []
