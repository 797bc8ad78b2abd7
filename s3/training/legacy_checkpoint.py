"""Loading Lightning checkpoints written before the network, optimizer and schedule became injected arguments.

Until 2026-12-05 `S3Module` took the network as `network` (a dict of per-argument overrides), `components` and
`transformer`, and the optimizer as `lr` / `weight_decay` (AdamW) with `lr_milestones` / `lr_gamma` (a per-step
MultiStepLR). Lightning passes a checkpoint's saved hyper-parameters back to `__init__`: the overrides dict would
land where a `VOSNetwork` is expected, and the optimizer settings would be dropped without a word.
`migrated_arguments` turns such hyper-parameters into today's arguments; `S3Module.load_from_checkpoint` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from functools import partial
from typing import Any

import torch

from s3.model.factory import build_network

__all__ = ["LEGACY_KEYS", "is_legacy", "migrated_arguments"]

LEGACY_KEYS = ("components", "transformer", "lr", "weight_decay", "lr_milestones", "lr_gamma")
# Pretrained-weight files of the network's parts: the checkpoint's state dict holds the trained weights anyway.
WEIGHT_FILE_OVERRIDES = ("pixel_encoder_weights", "mask_encoder_weights")


def is_legacy(hyperparameters: Mapping[str, Any]) -> bool:
    """Whether `hyperparameters` were saved by the old `S3Module` signature."""
    network = hyperparameters.get("network")
    if any(key in hyperparameters for key in LEGACY_KEYS) or is_dataclass(network):
        return True
    return isinstance(network, Mapping) and "class_path" not in network  # the CLI records a class_path tree


def migrated_arguments(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Today's `S3Module` arguments for old hyper-parameters (only those that differ from a plain reload).

    The network is built from `preset`, `size`, `components`, `transformer` and the non-None overrides (without
    the pretrained-weight files, which the checkpoint's state dict supersedes); `lr` / `weight_decay` become an
    AdamW and `lr_milestones` / `lr_gamma` a MultiStepLR, as the old `configure_optimizers` built them.
    """
    network = hyperparameters.get("network")
    overrides = asdict(network) if is_dataclass(network) else dict(network or {})
    overrides = {k: v for k, v in overrides.items() if v is not None and k not in WEIGHT_FILE_OVERRIDES}
    arguments: dict[str, Any] = {"weights": None, "vit_weights": None}
    arguments["network"] = build_network(
        hyperparameters.get("preset", "cutie"),
        hyperparameters.get("size", "base"),
        components=hyperparameters.get("components"),
        transformer=hyperparameters.get("transformer"),
        **overrides,
    )
    if "lr" in hyperparameters or "weight_decay" in hyperparameters:
        lr = hyperparameters.get("lr", 1e-4)
        arguments["optimizer"] = partial(
            torch.optim.AdamW, lr=lr, weight_decay=hyperparameters.get("weight_decay", 0.001)
        )
    if "lr_milestones" in hyperparameters or "lr_gamma" in hyperparameters:
        milestones = list(hyperparameters.get("lr_milestones") or [])
        gamma = hyperparameters.get("lr_gamma", 0.1)
        arguments["lr_scheduler"] = partial(torch.optim.lr_scheduler.MultiStepLR, milestones=milestones, gamma=gamma)
    return arguments
