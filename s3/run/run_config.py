"""Checks and derived values applied to a parsed `s3 fit/validate/...` config before anything is built.

Wiring (in `s3/cli.py`): make `S3CLI` inherit `RunCLIHooks` first, `class S3CLI(RunCLIHooks, LightningCLI)`,
or call the two functions from its own hooks:

    def add_arguments_to_parser(self, parser):          # adds --global_batch_size, --max_batch_per_device
        add_ops_arguments(parser)

    def before_instantiate_classes(self):               # checks + derived values, before any object exists
        prepare_run_config(self.config[self.subcommand] if self.subcommand else self.config, self.subcommand)

`prepare_run_config` raises `RunConfigError` (one line naming the field) for an unknown preset, a global batch
that does not split over devices x nodes, or a `--ckpt_path` that is missing or belongs to another network;
it gives the data module the run seed when its own is null, derives the per-device batch and gradient
accumulation from the global batch, gives checkpoint callbacks a fixed folder (so `--ckpt_path last` finds the
previous run's `last.ckpt`) and names W&B runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint

from s3.run.batching import count_devices, split_global_batch
from s3.run.checkpoints import check_checkpoint_matches, find_last_checkpoint
from s3.run.errors import CheckpointNotFoundError, RunConfigError

# Values of `--ckpt_path` that Lightning resolves itself.
SPECIAL_CKPT_PATHS = ("last", "best", "hpc", "registry")


def add_ops_arguments(parser: Any) -> None:
    """Adds the run-level arguments `global_batch_size` and `max_batch_per_device` to a LightningCLI parser."""
    parser.add_argument(
        "--global_batch_size",
        type=int | None,
        default=None,
        help="clips per optimiser step over all devices x nodes; sets data.init_args.batch_size (per device) "
        "and trainer.accumulate_grad_batches. null: use the data module's batch_size as given",
    )
    parser.add_argument(
        "--max_batch_per_device",
        type=int | None,
        default=None,
        help="largest per-device batch; above it the global batch is reached with gradient accumulation",
    )


def prepare_run_config(config: Namespace, subcommand: str | None = None) -> None:
    """Validates `config` (one subcommand's namespace) and fills derived values in place."""
    check_preset(config)
    link_seed(config)
    apply_global_batch(config)
    fill_checkpoint_dirs(config)
    name_wandb_run(config)
    check_ckpt_path(config)


def check_preset(config: Namespace) -> None:
    from s3.model.registry import PRESETS, SIZES

    model = config.get("model")
    if model is None:
        return
    preset, size = model.get("preset"), model.get("size")
    if preset is not None and preset not in PRESETS:
        raise RunConfigError(f"model.preset: unknown preset {preset!r}; available: {', '.join(PRESETS)}")
    if size is not None and size not in SIZES:
        raise RunConfigError(f"model.size: unknown size {size!r}; available: {', '.join(SIZES)}")


def link_seed(config: Namespace) -> None:
    """`seed_everything` -> `data.init_args.seed` where the data module's seed is left null, so a config writes
    the run seed once. Not a parser link: a link target can no longer be set, and the demo keeps its own data
    seed (0) next to its run seed."""
    data_args = config.get("data.init_args")
    seed = config.get("seed_everything")
    if data_args is None or "seed" not in data_args or data_args.get("seed") is not None:
        return
    if isinstance(seed, int) and not isinstance(seed, bool):
        data_args.seed = seed


def world_size(trainer: Namespace) -> int:
    """devices x num_nodes as Lightning will start them."""
    return count_devices(trainer.get("accelerator"), trainer.get("devices")) * int(trainer.get("num_nodes") or 1)


def apply_global_batch(config: Namespace) -> None:
    """global_batch_size -> data.init_args.batch_size and trainer.accumulate_grad_batches."""
    global_batch = config.get("global_batch_size")
    if global_batch is None:
        return
    data_args = config.get("data.init_args")
    if data_args is None or "batch_size" not in data_args:
        raise RunConfigError("global_batch_size is set but the data module has no batch_size argument")
    split = split_global_batch(int(global_batch), world_size(config.trainer), config.get("max_batch_per_device"))
    data_args.batch_size = split.per_device
    config.trainer.accumulate_grad_batches = split.accumulate


def _import_class(class_path: str) -> type | None:
    module_name, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return None


def _subclass_entries(value: Any) -> list[Namespace]:
    if value is None or isinstance(value, bool):
        return []
    entries = value if isinstance(value, list) else [value]
    return [e for e in entries if isinstance(e, Namespace) and e.get("class_path")]


def checkpoint_callbacks(config: Namespace) -> list[Namespace]:
    """The `trainer.callbacks` entries that are ModelCheckpoint (sub)classes."""
    found = []
    for entry in _subclass_entries(config.trainer.get("callbacks")):
        cls = _import_class(entry.class_path)
        if cls is not None and issubclass(cls, ModelCheckpoint):
            found.append(entry)
    return found


def fill_checkpoint_dirs(config: Namespace) -> None:
    """Checkpoint callbacks without `dirpath` write to `<default_root_dir>/checkpoints`.

    Lightning's default folder contains the logger's version, which changes on every restart, so
    `--ckpt_path last` would never find the previous run's checkpoint.
    """
    root = Path(config.trainer.get("default_root_dir") or ".")
    for entry in checkpoint_callbacks(config):
        if entry.get("init_args") is None:
            entry.init_args = Namespace()
        if entry.init_args.get("dirpath") is None:
            entry.init_args.dirpath = str(root / "checkpoints")


def dataset_mix(config: Namespace) -> str:
    """`davis+youtube`-style name of the training mix (or `synthetic`)."""
    data_args = config.get("data.init_args") or Namespace()
    specs = data_args.get("train_datasets")
    if not specs:
        return "synthetic" if data_args.get("synthetic") else "davis+youtube"
    names = [
        spec.get("name") if isinstance(spec, dict | Namespace) else getattr(spec, "name", str(spec)) for spec in specs
    ]
    return "+".join(str(n) for n in names)


def run_name(config: Namespace) -> str:
    model = config.get("model") or Namespace()
    return f"{model.get('preset', 'cutie')}-{model.get('size', 'base')}-{dataset_mix(config)}"


def name_wandb_run(config: Namespace) -> None:
    """W&B loggers without a `name` get `<preset>-<size>-<dataset mix>`."""
    for entry in _subclass_entries(config.trainer.get("logger")):
        if "Wandb" not in entry.class_path:
            continue
        if entry.get("init_args") is None:
            entry.init_args = Namespace()
        if not entry.init_args.get("name"):
            entry.init_args.name = run_name(config)


def check_ckpt_path(config: Namespace) -> None:
    """`--ckpt_path` must exist and hold the configured preset and size."""
    ckpt_path = config.get("ckpt_path")
    if ckpt_path is None or ckpt_path in ("best", "hpc", "registry"):
        return
    if ckpt_path == "last":
        dirs = [Path(e.init_args.dirpath) for e in checkpoint_callbacks(config) if e.init_args.get("dirpath")]
        found = find_last_checkpoint(dirs)
        if found is None:
            return  # Lightning starts from scratch: the same command line works for the first launch
        ckpt_path = str(found)
    path = Path(ckpt_path)
    if not path.exists():
        raise CheckpointNotFoundError(f"--ckpt_path: checkpoint {path} does not exist")
    model = config.get("model")
    if model is not None:
        check_checkpoint_matches(path, model.get("preset"), model.get("size"))


class RunCLIHooks:
    """LightningCLI mixin: `class S3CLI(RunCLIHooks, LightningCLI)` adds the run arguments and checks."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        super().add_arguments_to_parser(parser)  # type: ignore[misc]
        add_ops_arguments(parser)

    def parse_arguments(self, parser: Any, args: Any) -> None:
        """Parses as LightningCLI does, then holds `ckpt_path` back until `before_instantiate_classes`.

        Right after parsing, LightningCLI would replace the model config with the hyper-parameters stored in a
        `--ckpt_path` checkpoint (silently switching networks, and failing on pickled dataclasses). The config stays
        the source of truth instead: the path is restored before the classes are built, where `check_ckpt_path`
        refuses a checkpoint of another preset or size, and Lightning then resumes from it as usual.
        """
        super().parse_arguments(parser, args)  # type: ignore[misc]
        subcommand = self.config.get("subcommand")  # type: ignore[attr-defined]
        config = self.config[subcommand] if subcommand else None  # type: ignore[attr-defined]
        self._held_ckpt_path = config.get("ckpt_path") if config is not None else None
        if self._held_ckpt_path is not None:
            config.ckpt_path = None

    def before_instantiate_classes(self) -> None:
        super().before_instantiate_classes()  # type: ignore[misc]
        subcommand = getattr(self, "subcommand", None)
        config = self.config[subcommand] if subcommand else self.config  # type: ignore[attr-defined]
        if getattr(self, "_held_ckpt_path", None) is not None:
            config.ckpt_path = self._held_ckpt_path
        prepare_run_config(config, subcommand)
