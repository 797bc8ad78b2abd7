"""Checkpoints of modules built in Python (a notebook: `S3Module(network=build_network(...), optimizer=partial(...))`)
reload what was trained: the network and the optimizer / schedule are recorded as `s3 fit` records them
(`class_path` / `init_args` trees); a network that cannot be described gives one clear line on reload."""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import pytest
import torch

from s3.errors import S3Error
from s3.model.factory import build_network
from s3.model.network_config import instantiate_network, network_config
from s3.run.errors import NetworkNotRecordedError
from s3.training.evaluation import EvaluationOptions
from s3.training.legacy_checkpoint import CLI_INSTANTIATOR
from s3.training.module import S3Module
from tests.training.test_legacy_checkpoint import assert_same_module, resave

# Non-default overrides: each changes the architecture away from `build_network(preset, "tiny")`.
PYTHON_NETWORKS = {
    "s3": ("s3", {"num_blocks": 2, "num_extra_extractors": 0}),
    "cutie": ("cutie", {"num_queries": 8, "pe_temperature": 64.0}),
}


def python_module(preset: str, overrides: dict, **arguments) -> S3Module:  # noqa: ANN003
    torch.manual_seed(7)
    return S3Module(
        preset=preset,
        size="tiny",
        network=build_network(preset, "tiny", **overrides),
        optimizer=partial(torch.optim.AdamW, lr=2e-4, weight_decay=0.05),
        lr_scheduler=partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[10, 20], gamma=0.5),
        num_ref_frames=2,
        **arguments,
    )


def assert_same_optimization(module: S3Module) -> None:
    optimizer = module.configure_optimizers()
    adamw, scheduler = optimizer["optimizer"], optimizer["lr_scheduler"]["scheduler"]
    assert isinstance(adamw, torch.optim.AdamW)
    assert sorted({group["lr"] for group in adamw.param_groups}) == [2e-4 * 0.1, 2e-4]  # backbone at lr x ratio
    assert 0.05 in {group["weight_decay"] for group in adamw.param_groups}
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    assert sorted(scheduler.milestones) == [10, 20] and scheduler.gamma == 0.5


@pytest.mark.parametrize("preset, overrides", PYTHON_NETWORKS.values(), ids=PYTHON_NETWORKS.keys())
def test_python_built_module_reloads_its_network_and_optimizer(tmp_path: Path, preset: str, overrides: dict) -> None:
    """build -> trainer.save_checkpoint -> load (Lightning's default weights-only load) -> save -> load."""
    first = python_module(preset, overrides)
    saved = torch.load(resave(first, tmp_path / "python.ckpt"), map_location="cpu", weights_only=True)
    hyperparameters = saved["hyper_parameters"]  # plain values: a weights-only load reads them
    assert hyperparameters["network"]["class_path"] == "s3.model.network.VOSNetwork"
    assert hyperparameters["_instantiator"] == CLI_INSTANTIATOR
    assert hyperparameters["optimizer"] == {
        "class_path": "torch.optim.AdamW",
        "init_args": {"lr": 2e-4, "weight_decay": 0.05},
    }
    assert hyperparameters["lr_scheduler"] == {
        "class_path": "torch.optim.lr_scheduler.MultiStepLR",
        "init_args": {"milestones": [10, 20], "gamma": 0.5},
    }

    second = S3Module.load_from_checkpoint(tmp_path / "python.ckpt")
    assert_same_module(first, second)
    assert second.network.preset == preset and second.hparams.num_ref_frames == 2
    transformer = second.network.object_transformer
    if preset == "s3":
        assert len(transformer.blocks) == 2
        assert second.network.pixel_encoder.interactions[-1].extra_extractors is None
    else:
        assert transformer.num_queries == 8
        assert second.hparams.network["init_args"]["pe_temperature"] == 64.0
    assert_same_optimization(second)

    third = S3Module.load_from_checkpoint(resave(second, tmp_path / "again.ckpt"))  # and so on
    assert_same_module(first, third)
    assert_same_optimization(third)


def test_weight_files_are_not_read_again_on_reload(tmp_path: Path) -> None:
    """The pretrained files a Python-built module started from (`weights=`, an encoder's ImageNet file) are not
    read again on reload (the state dict holds the trained weights): they may be gone by then."""
    from torchvision.models import resnet18

    torch.manual_seed(8)
    resnet, start = tmp_path / "resnet18.pth", tmp_path / "start.pth"
    torch.save(resnet18().state_dict(), resnet)
    network = build_network("cutie", "tiny", num_blocks=2, pixel_encoder_weights=resnet, mask_encoder_weights=resnet)
    torch.save(network.state_dict(), start)
    first = S3Module(preset="cutie", size="tiny", network=network, weights=str(start))
    path = resave(first, tmp_path / "python.ckpt")
    resnet.unlink(), start.unlink()  # moved away after training
    hyperparameters = torch.load(path, map_location="cpu", weights_only=True)["hyper_parameters"]
    assert hyperparameters["weights"] is None and hyperparameters["vit_weights"] is None
    network_arguments = hyperparameters["network"]["init_args"]
    assert network_arguments["mask_encoder_weights"] is None
    assert network_arguments["pixel_encoder"]["init_args"]["weights"] is None
    second = S3Module.load_from_checkpoint(path)
    assert_same_module(first, second)
    assert len(second.network.object_transformer.blocks) == 2


def hand_built_module(**network_arguments) -> S3Module:  # noqa: ANN003
    """A network the module cannot describe (not from `build_network`); an optimizer and options it can."""
    config = network_config("cutie", "tiny")
    config["init_args"].update(network_arguments)
    torch.manual_seed(10)
    return S3Module(
        preset="cutie",
        size="tiny",
        network=instantiate_network(config),
        optimizer=partial(torch.optim.SGD, lr=0.1, momentum=0.9),
        evaluation=EvaluationOptions(size=240),
    )


def test_undescribed_network_gives_one_line_on_reload(tmp_path: Path) -> None:
    """A hand-built network with the default's shapes but another positional encoding: reloading without the
    network must not silently build the default one."""
    first = hand_built_module(pe_scale=16.0)
    path = resave(first, tmp_path / "hand.ckpt")
    with pytest.raises(NetworkNotRecordedError) as error:
        S3Module.load_from_checkpoint(path)
    assert isinstance(error.value, S3Error)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "network=" in message

    again = hand_built_module(pe_scale=16.0)  # the user passes the network: it loads (strictly)
    second = S3Module.load_from_checkpoint(path, network=again.network)
    assert_same_module(first, second)
    optimizer = second.configure_optimizers()["optimizer"]  # what could be described came back
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["momentum"] == 0.9
    assert second.evaluation == EvaluationOptions(size=240)
    with pytest.raises(NetworkNotRecordedError):  # saved again: still asks for the network
        S3Module.load_from_checkpoint(resave(second, tmp_path / "again.ckpt"))


def test_undescribed_network_of_other_shapes_gives_one_line(tmp_path: Path) -> None:
    """Also with Lightning's full load, and also for a checkpoint saved before networks were recorded (network
    None, no mark): one line, not the strict load's list of missing keys."""
    first = hand_built_module(num_blocks=1)
    path = resave(first, tmp_path / "hand.ckpt")
    with pytest.raises(NetworkNotRecordedError, match="network="):
        S3Module.load_from_checkpoint(path, weights_only=False)

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"] = {
        key: value for key, value in checkpoint["hyper_parameters"].items() if key != "unrecorded_network"
    }
    torch.save(checkpoint, tmp_path / "before.ckpt")
    with pytest.raises(NetworkNotRecordedError) as error:
        S3Module.load_from_checkpoint(tmp_path / "before.ckpt")
    assert "\n" not in str(error.value) and "network=" in str(error.value)


def test_a_network_object_is_neither_warned_about_nor_copied_into_the_initial_hyperparameters() -> None:
    network = build_network("cutie", "tiny")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = S3Module(network=network)
    assert not [w for w in caught if "is an instance of `nn.Module`" in str(w.message)]
    # Lightning deep-copies the hyper-parameters into `hparams_initial` (what loggers record): no second network
    assert not any(isinstance(value, torch.nn.Module) for value in module.hparams_initial.values())
    assert module.hparams_initial["network"] == module.hparams["network"]
    assert module.hparams_initial["network"]["class_path"].endswith("VOSNetwork")
