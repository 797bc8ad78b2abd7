"""Optimizer and schedule come from the config (`model.optimizer`, `model.lr_scheduler`); groups stay as specified."""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from s3.cli import S3CLI
from s3.training import S3Module

DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")


def attach_trainer(module: S3Module, precision: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.trainer = pl.Trainer(accelerator="cpu", devices=1, precision=precision, logger=False)


def test_another_optimizer_gets_the_same_groups() -> None:
    sgd = partial(torch.optim.SGD, lr=0.2, momentum=0.9, weight_decay=1e-4)
    module = S3Module(size="tiny", optimizer=sgd, backbone_lr_ratio=0.5, embed_weight_decay=0.0)
    optimizer = module.configure_optimizers()["optimizer"]
    assert isinstance(optimizer, torch.optim.SGD)
    backbone, embeddings, others = optimizer.param_groups
    assert backbone["lr"] == pytest.approx(0.1) and backbone["weight_decay"] == 1e-4 and backbone["momentum"] == 0.9
    assert embeddings["lr"] == 0.2 and embeddings["weight_decay"] == 0.0
    assert others["lr"] == 0.2 and others["weight_decay"] == 1e-4
    assert all("backbone" not in group for group in optimizer.param_groups)  # the marker does not leak


@pytest.mark.parametrize(("precision", "eps"), [("32-true", 1e-8), ("bf16-mixed", 1e-6), ("16-mixed", 1e-6)])
def test_adamw_eps_follows_the_trainer_precision(precision: str, eps: float) -> None:
    module = S3Module(size="tiny")
    attach_trainer(module, precision)
    optimizer = module.configure_optimizers()["optimizer"]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [group["eps"] for group in optimizer.param_groups] == [eps] * 3
    assert optimizer.defaults["eps"] == eps


def test_default_optimizer_and_no_schedule() -> None:
    config = S3Module(size="tiny").configure_optimizers()
    optimizer = config["optimizer"]
    assert "lr_scheduler" not in config  # constant lr
    assert optimizer.defaults["lr"] == 1e-4 and optimizer.defaults["weight_decay"] == 1e-3
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)  # backbone at 0.1 x lr


def test_sgd_under_mixed_precision_has_no_eps() -> None:
    module = S3Module(size="tiny", optimizer=partial(torch.optim.SGD, lr=0.1))
    attach_trainer(module, "bf16-mixed")
    optimizer = module.configure_optimizers()["optimizer"]
    assert all("eps" not in group for group in optimizer.param_groups)


def test_schedule_is_stepped_per_iteration_from_the_scaled_lrs() -> None:
    module = S3Module(
        size="tiny",
        optimizer=partial(torch.optim.AdamW, lr=1e-3),
        lr_scheduler=partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[2], gamma=0.1),
    )
    config = module.configure_optimizers()
    scheduler = config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    optimizer = config["optimizer"]
    assert [g["initial_lr"] for g in optimizer.param_groups] == pytest.approx([1e-4, 1e-3, 1e-3])
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-5, 1e-4, 1e-4])


def cli_model(*args: str) -> S3Module:
    cli = S3CLI(args=["--config", DEMO, *args], run=False)
    return cli.model


def test_optimizer_and_scheduler_chosen_in_the_config() -> None:
    model = cli_model(
        "--model.optimizer=SGD",
        "--model.optimizer.lr=0.05",
        "--model.optimizer.momentum=0.9",
        "--model.lr_scheduler=StepLR",
        "--model.lr_scheduler.step_size=7",
    )
    config = model.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["momentum"] == 0.9
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR) and scheduler.step_size == 7
    assert model.hparams["optimizer"]["class_path"] == "torch.optim.SGD"  # recorded in the checkpoint


def test_demo_config_optimizer_is_unchanged() -> None:
    config = cli_model().configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [g["lr"] for g in optimizer.param_groups] == [5e-4] * 3  # backbone_lr_ratio 1.0
    assert [g["weight_decay"] for g in optimizer.param_groups] == [1e-3, 0.0, 1e-3]
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR) and dict(scheduler.milestones) == {320: 1}


def test_nonfinite_guard_is_attached_once_per_trainer(caplog) -> None:  # noqa: ANN001
    """fit then validate on one trainer (as `s3 demo` does): one guard, no "will override" line from Lightning."""
    import logging

    import lightning.pytorch as pl

    module = S3Module(size="tiny")
    assert module.configure_callbacks() == [module.nonfinite_guard]
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_steps=0)
    with caplog.at_level(logging.INFO):
        for _ in range(2):  # what each fit / validate call does with the module's callbacks
            trainer.strategy.connect(module)
            module.trainer = trainer
            trainer._callback_connector._attach_model_callbacks()
    assert [c for c in trainer.callbacks if c is module.nonfinite_guard] == [module.nonfinite_guard]
    assert "will override" not in caplog.text
