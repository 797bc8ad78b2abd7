"""Checkpoints saved by the old S3Module signature (network overrides dict, lr / milestones) still load, and a
checkpoint saved after loading one (or one of `s3 fit`) reloads the same network and optimizer."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from s3.model.network_config import instantiate_network, network_components
from s3.training.evaluation import EvaluationOptions
from s3.training.legacy_checkpoint import is_legacy, legacy_network_config, migrated_hyperparameters
from s3.training.module import S3Module

DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")

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
    network = instantiate_network(legacy_network_config(hyperparameters))
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
    assert not is_legacy(migrated_hyperparameters(OLD_HYPERPARAMETERS))  # today's form: migrated once
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


def resave(module: S3Module, path: Path) -> Path:
    """Saves `module` as a trainer does when training goes on from it (no step needed: the hyper-parameters and
    state dict are what a later checkpoint carries)."""
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def clip_losses(module: S3Module) -> dict[str, torch.Tensor]:
    """Every loss of one seeded unroll (point sampling and deep updates drawn from the same seed)."""
    generator = torch.Generator().manual_seed(5)
    masks = torch.zeros(1, 3, 1, 32, 32)
    for t in range(3):
        masks[0, t, 0, 8 + t : 20 + t, 6:18] = 1
    batch = {"images": torch.rand(1, 3, 3, 32, 32, generator=generator), "masks": masks, "selector": torch.ones(1, 1)}
    torch.manual_seed(6)
    with torch.no_grad():
        return module.clip_losses(batch)


def assert_same_module(first: S3Module, second: S3Module) -> None:
    """Same network class and parameter names / shapes, a strict load either way, equal weights and outputs."""
    assert type(second.network) is type(first.network)
    assert type(second.network.pixel_encoder) is type(first.network.pixel_encoder)
    first_state, second_state = first.network.state_dict(), second.network.state_dict()
    assert {k: v.shape for k, v in second_state.items()} == {k: v.shape for k, v in first_state.items()}
    assert not any(second.network.load_state_dict(first_state, strict=True))  # no missing / unexpected keys
    for key, value in first_state.items():
        assert torch.equal(second_state[key], value), key
    first_losses, second_losses = clip_losses(first), clip_losses(second)
    assert first_losses.keys() == second_losses.keys()
    for name, value in first_losses.items():
        assert torch.equal(second_losses[name], value), name


OLD_NETWORKS = {
    "overrides": {"network": {"num_blocks": 2, "num_queries": 8, "pixel_dim": None}},
    "components": {"components": {"discriminative_query": True}, "transformer": "s3"},
}


@pytest.mark.parametrize("changes", OLD_NETWORKS.values(), ids=OLD_NETWORKS.keys())
def test_resaved_old_checkpoint_reloads_the_same_network_and_optimizer(tmp_path: Path, changes) -> None:  # noqa: ANN001
    """old checkpoint -> load -> trainer.save_checkpoint -> load: the re-saved file records the migrated network
    (a `class_path` tree, not None) and the optimizer settings, so the second load is the first module."""
    write_old_checkpoint(tmp_path / "old.ckpt", **changes)
    first = S3Module.load_from_checkpoint(tmp_path / "old.ckpt")
    resave(first, tmp_path / "resaved.ckpt")
    saved = torch.load(tmp_path / "resaved.ckpt", map_location="cpu", weights_only=True)["hyper_parameters"]
    assert saved["network"]["class_path"] == "s3.model.network.VOSNetwork"
    assert not is_legacy(saved)
    second = S3Module.load_from_checkpoint(tmp_path / "resaved.ckpt")

    assert_same_module(first, second)
    transformer = second.network.object_transformer
    if "network" in changes:  # the old overrides survive the second load
        assert (len(transformer.blocks), transformer.num_queries) == (2, 8)
    else:  # a component switched on and the S3 transformer size
        assert network_components(second.network) == {"discriminative_query"}
        assert (len(transformer.blocks), transformer.num_queries) == (5, 8)
    assert second.hparams.num_ref_frames == 2
    optimizer = second.configure_optimizers()
    adamw, scheduler = optimizer["optimizer"], optimizer["lr_scheduler"]["scheduler"]
    assert isinstance(adamw, torch.optim.AdamW)
    assert sorted({group["lr"] for group in adamw.param_groups}) == [2e-4 * 0.1, 2e-4]
    assert 0.05 in {group["weight_decay"] for group in adamw.param_groups}
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    assert sorted(scheduler.milestones) == [10, 20] and scheduler.gamma == 0.5

    third = S3Module.load_from_checkpoint(resave(second, tmp_path / "again.ckpt"))  # and so on
    assert_same_module(first, third)


def test_resaved_old_checkpoint_keeps_its_evaluation_options(tmp_path: Path) -> None:
    """Old checkpoints pickled `EvaluationOptions`: the re-saved file records them as plain values (a weights-only
    load reads it) and the second load has the same options."""
    options = EvaluationOptions(size=240, datasets={"davis": {"top_k": 20}})
    write_old_checkpoint(tmp_path / "old.ckpt", evaluation=options)
    first = S3Module.load_from_checkpoint(tmp_path / "old.ckpt", weights_only=False)  # a pickled dataclass
    assert first.evaluation == options
    second = S3Module.load_from_checkpoint(resave(first, tmp_path / "resaved.ckpt"))
    assert second.evaluation == options
    assert_same_module(first, second)


def test_resaved_cli_checkpoint_reloads_the_same_network(tmp_path: Path) -> None:
    """A module built by `s3 fit` (network and optimizer as config trees), reloaded and saved again, reloads with
    the config's network: the reloaded module keeps the trees rather than recording its objects as None."""
    from s3.cli import S3CLI

    cli = S3CLI(args=["--config", DEMO, "--model.network.init_args.num_blocks=2", "--trainer.logger=false"], run=False)
    first = S3Module.load_from_checkpoint(resave(cli.model, tmp_path / "cli.ckpt"))
    second = S3Module.load_from_checkpoint(resave(first, tmp_path / "resaved.ckpt"))
    assert len(second.network.object_transformer.blocks) == 2
    assert_same_module(cli.model, second)
    optimizer = second.configure_optimizers()
    assert [group["lr"] for group in optimizer["optimizer"].param_groups] == [5e-4] * 3  # the demo's AdamW
    assert sorted(optimizer["lr_scheduler"]["scheduler"].milestones) == [320]
