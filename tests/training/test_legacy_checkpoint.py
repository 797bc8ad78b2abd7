"""Checkpoints saved by the old S3Module signature (network overrides dict, lr / milestones) still load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s3.training.legacy_checkpoint import is_legacy, migrated_arguments
from s3.training.module import S3Module

OLD_HYPERPARAMETERS = {
    "preset": "cutie", "size": "tiny", "network": None, "components": None, "transformer": None,
    "weights": "/nowhere/cutie-base-mega.pth", "vit_weights": None, "num_ref_frames": 2, "lr": 2e-4,
    "weight_decay": 0.05, "lr_milestones": [10, 20], "lr_gamma": 0.5, "backbone_lr_ratio": 0.1,
    "embed_weight_decay": 0.0, "evaluation": None,
}  # fmt: skip


def write_old_checkpoint(path: Path, **changes) -> dict[str, torch.Tensor]:  # noqa: ANN003
    """A checkpoint in the old layout; its network state dict built with the old overrides applied."""
    hyperparameters = {**OLD_HYPERPARAMETERS, **changes}
    torch.manual_seed(3)
    network = migrated_arguments(hyperparameters)["network"]
    state = {f"network.{key}": value for key, value in network.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": hyperparameters, "pytorch-lightning_version": "2.5.0",
                "global_step": 3, "epoch": 0}, path)  # fmt: skip
    return state


@pytest.mark.parametrize("overrides", [None, {"num_blocks": 2, "num_queries": 8, "pixel_dim": None}])
def test_old_checkpoint_loads_with_its_network_and_optimizer(tmp_path: Path, overrides) -> None:  # noqa: ANN001
    state = write_old_checkpoint(tmp_path / "old.ckpt", network=overrides)
    module = S3Module.load_from_checkpoint(tmp_path / "old.ckpt")
    for key, value in module.state_dict().items():
        if key.startswith("network."):
            assert torch.equal(value, state[key]), key
    if overrides:
        transformer = module.network.object_transformer  # the overrides reached the network
        assert len(transformer.blocks) == 2 and transformer.num_queries == 8
    assert module.hparams.num_ref_frames == 2
    optimizer = module.configure_optimizers()
    adamw = optimizer["optimizer"]
    assert isinstance(adamw, torch.optim.AdamW)
    assert {group["lr"] for group in adamw.param_groups} == {2e-4, 2e-4 * 0.1}  # backbone at lr × ratio
    assert 0.05 in {group["weight_decay"] for group in adamw.param_groups}
    scheduler = optimizer["lr_scheduler"]["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    assert sorted(scheduler.milestones) == [10, 20] and scheduler.gamma == 0.5


def test_only_old_hyperparameters_are_migrated() -> None:
    assert is_legacy(OLD_HYPERPARAMETERS)
    assert is_legacy({"preset": "s3", "network": {"num_blocks": 2}})
    assert not is_legacy({"preset": "s3", "size": "tiny", "optimizer": None, "network": None})
    cli_network = {"class_path": "s3.model.network.VOSNetwork", "init_args": {}}
    assert not is_legacy({"preset": "s3", "network": cli_network})


def test_todays_checkpoint_loads_as_before(tmp_path: Path) -> None:
    torch.manual_seed(4)
    module = S3Module(size="tiny", num_ref_frames=2)
    assert not is_legacy(module.hparams)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": "2.5.0"}, tmp_path / "new.ckpt")  # fmt: skip
    loaded = S3Module.load_from_checkpoint(tmp_path / "new.ckpt")
    assert loaded.hparams.num_ref_frames == 2
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, module.state_dict()[key]), key
