"""A callback that stops a training process at a chosen step so a test can SIGKILL it there."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback


class PauseAtStep(Callback):
    """Before training batch `step` (all earlier steps and their checkpoints are done): writes `marker` and
    sleeps until the test kills the process."""

    def __init__(self, step: int, marker: str) -> None:
        self.step = step
        self.marker = Path(marker)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            self.marker.write_text(str(trainer.global_step))
            while True:
                time.sleep(1)


class PauseAfterPrediction(Callback):
    """After predict batch `index` (that video is published): writes `marker` and sleeps until killed."""

    def __init__(self, index: int, marker: str) -> None:
        self.index = index
        self.marker = Path(marker)

    def on_predict_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int, *args: Any
    ) -> None:
        if batch_idx == self.index:
            self.marker.write_text(str(batch_idx))
            while True:
                time.sleep(1)
