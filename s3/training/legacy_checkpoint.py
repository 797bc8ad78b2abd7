"""Loading Lightning checkpoints written before the network, optimizer and schedule became injected arguments.

Until 2026-12-05 `S3Module` took the network as `network` (a dict of per-argument overrides), `components` and
`transformer`, and the optimizer as `lr` / `weight_decay` (AdamW) with `lr_milestones` / `lr_gamma` (a per-step
MultiStepLR). Lightning passes a checkpoint's saved hyper-parameters back to `__init__`: the overrides dict would
land where a `VOSNetwork` is expected, and the optimizer settings would be dropped without a word.

`migrated_hyperparameters` rewrites such hyper-parameters in the form a checkpoint written by `s3 fit` records them:
the network, optimizer and schedule as `class_path` / `init_args` trees and LightningCLI's instantiator, which
Lightning's `load_from_checkpoint` uses to build them. `S3Module.load_from_checkpoint` loads an old checkpoint with
these and keeps them as the module's hyper-parameters, so a checkpoint saved after it reloads the same network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from s3.model.network_config import NetworkConfig, network_config, set_network_arguments

__all__ = ["CLI_INSTANTIATOR", "LEGACY_KEYS", "is_legacy", "migrated_hyperparameters"]

LEGACY_KEYS = ("components", "transformer", "lr", "weight_decay", "lr_milestones", "lr_gamma")
# Pretrained-weight files of the network's parts: the checkpoint's state dict holds the trained weights anyway.
WEIGHT_FILE_OVERRIDES = ("pixel_encoder_weights", "mask_encoder_weights")
# What LightningCLI records as `_instantiator` in a checkpoint: Lightning's `load_from_checkpoint` then parses the
# hyper-parameters with jsonargparse, which builds the `class_path` / `init_args` trees (one of its allowed paths).
CLI_INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"


def is_legacy(hyperparameters: Mapping[str, Any]) -> bool:
    """Whether `hyperparameters` were saved by the old `S3Module` signature."""
    network = hyperparameters.get("network")
    if any(key in hyperparameters for key in LEGACY_KEYS) or is_dataclass(network):
        return True
    return isinstance(network, Mapping) and "class_path" not in network  # the CLI records a class_path tree


def legacy_network_config(hyperparameters: Mapping[str, Any]) -> NetworkConfig:
    """The `class_path` / `init_args` tree of the network old hyper-parameters describe.

    Built as `build_network` builds it, from `preset`, `size`, `components`, `transformer` and the non-None
    overrides, without the pretrained-weight files (the checkpoint's state dict supersedes them).
    """
    network = hyperparameters.get("network")
    overrides = asdict(network) if is_dataclass(network) else dict(network or {})
    overrides = {k: v for k, v in overrides.items() if v is not None and k not in WEIGHT_FILE_OVERRIDES}
    preset = hyperparameters.get("preset", "cutie")
    config = network_config(
        preset,
        hyperparameters.get("size", "base"),
        components=hyperparameters.get("components"),
        transformer=hyperparameters.get("transformer"),
    )
    set_network_arguments(config, preset, **overrides)
    return config


def migrated_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Today's hyper-parameters for old ones, in the form `s3 fit` records them in a checkpoint.

    The network becomes its `class_path` / `init_args` tree (`legacy_network_config`); `lr` / `weight_decay` an
    AdamW and `lr_milestones` / `lr_gamma` a MultiStepLR tree, as the old `configure_optimizers` built them;
    `weights` / `vit_weights` are dropped (the state dict holds the trained weights); `_instantiator` tells
    Lightning to build the trees as it does for a checkpoint of `s3 fit`. The old keys are left out.
    """
    migrated = {key: value for key, value in hyperparameters.items() if key not in LEGACY_KEYS}
    migrated.update(network=legacy_network_config(hyperparameters), weights=None, vit_weights=None)
    evaluation = migrated.get("evaluation")
    if is_dataclass(evaluation) and not isinstance(evaluation, type):
        migrated["evaluation"] = asdict(evaluation)  # the tree the CLI records, not a pickled object
    if "lr" in hyperparameters or "weight_decay" in hyperparameters:
        migrated["optimizer"] = {
            "class_path": "torch.optim.AdamW",
            "init_args": {
                "lr": hyperparameters.get("lr", 1e-4),
                "weight_decay": hyperparameters.get("weight_decay", 0.001),
            },
        }
    if "lr_milestones" in hyperparameters or "lr_gamma" in hyperparameters:
        migrated["lr_scheduler"] = {
            "class_path": "torch.optim.lr_scheduler.MultiStepLR",
            "init_args": {
                "milestones": list(hyperparameters.get("lr_milestones") or []),
                "gamma": hyperparameters.get("lr_gamma", 0.1),
            },
        }
    migrated["_instantiator"] = CLI_INSTANTIATOR
    return migrated
