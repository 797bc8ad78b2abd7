"""Modules kept in eval mode on purpose do not raise a warning at the start of training; accidental ones do."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
from torch.utils.data import DataLoader

from s3.training import S3Module
from s3.training.eval_mode import unexpected_eval_modules
from tests.gpu.agreement import clip_batch


@pytest.mark.parametrize("preset", ["cutie", "s3"])
def test_frozen_batchnorms_and_the_frozen_vit_are_expected_in_eval_mode(preset: str) -> None:
    module = S3Module(preset=preset, size="tiny").train()
    assert any(not m.training for m in module.modules())  # BatchNorms (and the frozen ViT) stay in eval
    assert unexpected_eval_modules(module) == []
    module.network.mask_decoder.eval()  # an accident: a trainable part left in eval mode
    names = unexpected_eval_modules(module)
    assert "network.mask_decoder" in names and all(name.startswith("network.mask_decoder") for name in names)


def eval_mode_warnings(module: S3Module) -> list[str]:
    """Messages about eval mode raised while fitting `module` for one step."""
    loader = DataLoader([clip_batch("cpu", batch=2, frames=3, size=64)], batch_size=None)
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        trainer.fit(module, train_dataloaders=loader)
    return [str(w.message) for w in caught if "eval mode" in str(w.message)]


def test_fit_warns_only_about_modules_left_in_eval_by_accident() -> None:
    module = S3Module(preset="s3", size="tiny", num_points=64, num_ref_frames=1)
    assert eval_mode_warnings(module) == []  # Lightning's count of the frozen parts is silenced
    module.network.mask_decoder.eval()
    messages = eval_mode_warnings(module)
    assert len(messages) == 1 and "network.mask_decoder" in messages[0] and "trainable module(s)" in messages[0]
