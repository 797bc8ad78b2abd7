"""Recording the objects a module built in Python was given, in the form `s3 fit` records them in a checkpoint.

`s3 fit` records the network, optimizer and schedule as jsonargparse `class_path` / `init_args` trees with
LightningCLI's instantiator, and `S3Module.load_from_checkpoint` rebuilds exactly what was trained from them. A
module built in Python (`S3Module(network=build_network("s3", "tiny", num_blocks=2), optimizer=partial(AdamW,
lr=2e-4))`) holds objects instead: Lightning would record the network as nothing useful and pickle the partials
(which a weights-only load refuses). `python_hyperparameters` describes them as the CLI does:

- a network from `build_network` carries the tree it was built from (`NETWORK_CONFIG_ATTRIBUTE`): recorded without
  its pretrained-weight files (the checkpoint's state dict holds the trained weights), and the module's
  `weights` / `vit_weights` are recorded as None for the same reason;
- a `functools.partial` of a class with keyword arguments only (an optimizer, a schedule) becomes its class'
  `class_path` and the keywords its `init_args`.

What cannot be described keeps today's record; a network is then marked (`UNRECORDED_NETWORK`) so that loading the
checkpoint asks for it (`network=`) instead of building another one.
"""

from __future__ import annotations

import copy
import functools
import inspect
import sys
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from torch import nn

from s3.training.legacy_checkpoint import CLI_INSTANTIATOR

__all__ = [
    "NETWORK_CONFIG_ATTRIBUTE",
    "UNRECORDED_NETWORK",
    "callable_config",
    "import_path",
    "python_hyperparameters",
    "recorded_network_config",
]

# The attribute `build_network` sets on the network it returns: the `class_path` / `init_args` tree it built.
NETWORK_CONFIG_ATTRIBUTE = "config"
# Hyper-parameter of a module whose network was given as an object it could not describe: the object's class.
UNRECORDED_NETWORK = "unrecorded_network"


class NotPlain(ValueError):
    """A value a checkpoint cannot record as plain data (raised and caught inside this module)."""


def plain_copy(value: Any) -> Any:
    """A copy of `value` made of None, bools, numbers, strings, lists and str-keyed dicts (tuples become lists,
    as in a YAML config); `NotPlain` for anything else."""
    if value is None:
        return None
    for kind in (bool, int, float, str):  # a float subclass (numpy's) is recorded as the float it is
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, list | tuple):
        return [plain_copy(item) for item in value]
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {key: plain_copy(item) for key, item in value.items()}
    raise NotPlain(f"{type(value).__name__} is not plain data")


def import_path(cls: type) -> str:
    """The shortest dotted path that imports `cls` (`torch.optim.AdamW`, not `torch.optim.adamw.AdamW`), as a
    config names it; only modules already imported are looked at."""
    parts = cls.__module__.split(".")
    for end in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:end]))
        if module is not None and getattr(module, cls.__qualname__, None) is cls:
            return f"{'.'.join(parts[:end])}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def callable_config(value: Any) -> dict[str, Any] | None:
    """`partial(cls, **keywords)` -> `{"class_path": ..., "init_args": keywords}`; None for anything else (a
    lambda, positional arguments, a keyword that is not plain data)."""
    if not isinstance(value, functools.partial) or not inspect.isclass(value.func) or value.args:
        return None
    try:
        init_args = plain_copy(value.keywords)
    except NotPlain:
        return None
    return {"class_path": import_path(value.func), "init_args": init_args}


def without_weight_files(config: dict[str, Any]) -> dict[str, Any]:
    """The tree, changed in place: every `weights` / `*_weights` argument (a pretrained file read at construction)
    set to None, at every level (`mask_encoder_weights`, the ResNet encoder's `weights`)."""
    init_args = config.get("init_args", {})
    for name, value in init_args.items():
        if isinstance(value, dict) and "class_path" in value:
            without_weight_files(value)
        elif name == "weights" or name.endswith("_weights"):
            init_args[name] = None  # a path (str or Path) or None
    return config


def recorded_network_config(network: nn.Module) -> dict[str, Any] | None:
    """The tree `build_network` built `network` from, as a checkpoint records it (a plain copy without the
    pretrained-weight files); None for a network built otherwise."""
    config = getattr(network, NETWORK_CONFIG_ATTRIBUTE, None)
    if not isinstance(config, Mapping) or "class_path" not in config:
        return None
    try:
        return plain_copy(without_weight_files(copy.deepcopy(dict(config))))
    except NotPlain:
        return None


def python_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The changes to `S3Module`'s saved hyper-parameters that describe the objects it was given.

    A network object: its tree (or None and the `UNRECORDED_NETWORK` mark), `weights` / `vit_weights` None. An
    optimizer / schedule partial: its tree. Once something is a tree, `_instantiator` tells Lightning to build the
    trees as for a checkpoint of `s3 fit`, and a dataclass `evaluation` is recorded as its fields (the instantiator
    parses them; a weights-only load reads them). Hyper-parameters recorded by the CLI (already trees) are left
    as they are: nothing in them is an object.
    """
    changes: dict[str, Any] = {}
    network = hyperparameters.get("network")
    if isinstance(network, nn.Module):
        config = recorded_network_config(network)
        changes.update(network=config, weights=None, vit_weights=None)
        if config is None:
            changes[UNRECORDED_NETWORK] = f"{type(network).__module__}.{type(network).__qualname__}"
    for name in ("optimizer", "lr_scheduler"):
        config = callable_config(hyperparameters.get(name))
        if config is not None:
            changes[name] = config
    if any(isinstance(value, dict) for value in changes.values()):
        changes["_instantiator"] = CLI_INSTANTIATOR
        evaluation = hyperparameters.get("evaluation")
        if is_dataclass(evaluation) and not isinstance(evaluation, type):
            changes["evaluation"] = copy.deepcopy(asdict(evaluation))
    return changes
