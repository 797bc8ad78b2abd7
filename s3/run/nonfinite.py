"""Non-finite training is caught on the step it happens and never saved.

`NonFiniteGuard` is built into `S3Module` (its `configure_callbacks`), so every config is protected:

- after backward, before the optimiser update, it checks the step's loss terms and the gradient norm; every rank
  contributes to one all-reduced flag, so all ranks stop (or skip) together;
- a bad step raises `NonFiniteTrainingError` (one line: step, loss terms, learning rate) before the weights
  change, or, with `max_bad_steps > 0`, drops that step's update (no gradients reach the optimiser, the
  buffers such as BatchNorm statistics are restored) and logs a warning until the budget is spent;
- a checkpoint about to be saved is checked too: `on_save_checkpoint` refuses non-finite weights, so
  `last.ckpt` keeps the last good state whatever the callbacks order.

Under fp16 AMP (a `GradScaler`), non-finite gradients are routine: the scaler skips those steps and lowers its
scale. There only the loss is checked.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from s3.errors import S3Error
from s3.model.weights import nonfinite_tensor_names

log = logging.getLogger(__name__)

__all__ = ["NonFiniteGuard", "NonFiniteTrainingError", "describe_step"]


class NonFiniteTrainingError(S3Error):
    """Training produced a non-finite loss, gradient or weight; the run stopped before saving it."""


def describe_step(step: int, losses: Mapping[str, float], grad_norm: float | None, lr: float | None) -> str:
    """One line naming the step, every loss term, the gradient norm and the learning rate."""
    terms = ", ".join(f"{name}={value:.4g}" for name, value in losses.items()) or "no loss recorded"
    norm = "n/a" if grad_norm is None else f"{grad_norm:.4g}"
    rate = "n/a" if lr is None else f"{lr:.4g}"
    return f"step {step}: non-finite training (loss terms: {terms}; gradient norm {norm}; lr {rate})"


class NonFiniteGuard(Callback):
    """Stops (or skips a bounded number of) training steps whose loss or gradient norm is not finite.

    Args:
        max_bad_steps: bad steps whose update is dropped (with a warning) before the run stops; 0 stops at the
            first one.
    """

    def __init__(self, max_bad_steps: int = 0) -> None:
        if max_bad_steps < 0:
            raise NonFiniteTrainingError(f"model.max_bad_steps: expected >= 0, got {max_bad_steps}")
        self.max_bad_steps = max_bad_steps
        self.bad_steps = 0
        self._losses: dict[str, Tensor] = {}
        self._loss_finite: Tensor | None = None
        self._buffers: list[tuple[Tensor, Tensor]] = []
        self._snapshot_step = -1

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """With skipping allowed, keeps the step's starting buffers: a NaN forward also poisons BatchNorm's
        running statistics, which no optimiser step protects."""
        if self.max_bad_steps == 0 or trainer.global_step == self._snapshot_step:
            return  # first micro-batch of an optimiser step only
        self._snapshot_step = trainer.global_step
        self._buffers = [(b, b.detach().clone()) for b in pl_module.buffers()]

    def record_losses(self, losses: Mapping[str, Tensor]) -> None:
        """Called by `S3Module.training_step` for every micro-batch of the step (no host sync here)."""
        self._losses = {name: value.detach() for name, value in losses.items()}
        finite = torch.isfinite(torch.stack([v.float().reshape(()) for v in self._losses.values()])).all()
        self._loss_finite = finite if self._loss_finite is None else self._loss_finite & finite

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        grad_norm = None
        if grads and scaler is None:
            grad_norm = float(torch.nn.utils.get_total_norm(grads, norm_type=2.0))
        loss_finite = self._loss_finite is None or bool(self._loss_finite)
        bad_here = not loss_finite or (grad_norm is not None and not math.isfinite(grad_norm))
        bad = trainer.strategy.reduce_boolean_decision(bad_here, all=False)
        losses = {name: float(value) for name, value in self._losses.items()} if bad else {}
        self._losses, self._loss_finite = {}, None
        if not bad:
            return
        lr = max((group["lr"] for group in optimizer.param_groups), default=None)
        message = describe_step(trainer.global_step, losses, grad_norm, lr)
        if not bad_here:
            message += " (on another rank)"
        self.bad_steps += 1
        if self.bad_steps > self.max_bad_steps:
            budget = f"; {self.max_bad_steps} bad step(s) allowed (model.max_bad_steps)" if self.max_bad_steps else ""
            raise NonFiniteTrainingError(
                f"{message}; stopped before the update, checkpoints keep the last good weights{budget}"
            )
        if scaler is None and not grads:
            # DeepSpeed ZeRO keeps the gradients in its own partitions: there is nothing here to drop.
            raise NonFiniteTrainingError(
                f"{message}; stopped before the update (this strategy keeps the gradients outside the parameters, "
                "so model.max_bad_steps cannot drop the update)"
            )
        if scaler is None:
            # No gradient, no update: AdamW leaves parameters without a gradient (and their moments) untouched.
            for group in optimizer.param_groups:
                for param in group["params"]:
                    param.grad = None
        with torch.no_grad():
            for buffer, saved in self._buffers:
                buffer.copy_(saved)
        log.warning("%s; update skipped (%d of %d allowed)", message, self.bad_steps, self.max_bad_steps)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        state = checkpoint.get("state_dict")
        if not isinstance(state, Mapping):
            return
        bad = nonfinite_tensor_names(state)
        if bad:
            raise NonFiniteTrainingError(
                f"step {trainer.global_step}: refusing to save a checkpoint, {len(bad)} of {len(state)} tensors are "
                f"non-finite (e.g. {bad[0]}); the last saved checkpoint is kept"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"bad_steps": self.bad_steps}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.bad_steps = int(state_dict.get("bad_steps", 0))
