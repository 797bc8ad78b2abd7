"""The `s3` command: Lightning's trainer subcommands plus S3's own tools.

`fit`, `validate`, `test` and `predict` go to LightningCLI (layered `--config` files, `--print_config`);
every other subcommand is a plain function taking its own arguments, looked up in `TOOL_COMMANDS`.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable

from lightning.pytorch.cli import LightningCLI

from s3.ops.preset_args import PresetArgumentsHook
from s3.ops.run_config import OpsCLIHooks

TRAINER_COMMANDS: dict[str, str] = {
    "fit": "train a network (layer configs with repeated --config)",
    "validate": "run validation (J&F per dataset) on a checkpoint",
    "test": "run the test loop",
    "predict": "write benchmark predictions",
}

# name -> ("module:function", help). Each function takes argv (list[str]) and returns an exit code.
TOOL_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("s3.demo:main", "train + validate the tiny network on synthetic videos (CPU) and print J&F"),
    "eval": ("s3.evaluation.cli:main", "eval davis|lvos ...: official DAVIS J&F / LVOS J&F-V tables"),
    "export": ("s3.ops.export:main", "write a weights-only file from a Lightning / DeepSpeed checkpoint"),
    "report": ("s3.report.cli:main", "report ablation --runs DIR_OR_WANDB_PROJECT: Table 3 next to the paper"),
    "segment": ("s3.inference.segment:main", "segment your video (mp4 or frames) from a mask on any frame"),
    "benchmark": ("s3.benchmark:main", "time per frame / FPS of a preset at a test size on this device"),
    "ablations": ("s3.model.ablations:main", "list the ablation presets (Table 3 rows), components, parameters"),
    "visualize": ("s3.visualize.command:main", "visualize features ...: feature maps of the blocks on one frame"),
    "data": ("s3.cli:data_command", "data inspect [--verify]: dataset counts, sampling shares, contact sheet"),
}


class S3CLI(PresetArgumentsHook, OpsCLIHooks, LightningCLI):
    """LightningCLI with S3's defaults: the S3Module, any LightningDataModule from the config, `--model.preset` /
    `--model.size` as named network configs (`s3.ops.preset_args`) and the run hooks of `s3.ops.run_config`
    (global batch split, preset / checkpoint checks, run names, checkpoint folders)."""

    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs) -> None:
        from s3.training import S3Module

        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        # The optimizer and schedule are arguments of S3Module (`model.optimizer`, `model.lr_scheduler`), which
        # builds its parameter groups; Lightning's top-level `optimizer` / `lr_scheduler` would bypass them.
        kwargs.setdefault("auto_configure_optimizers", False)
        # `main()` always passes argv explicitly; Lightning warns whenever sys.argv is also non-empty.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        super().__init__(
            S3Module,
            None,
            subclass_mode_data=True,
            args=args,
            run=run,
            **kwargs,
        )


def print_help() -> None:
    width = max(len(name) for name in [*TRAINER_COMMANDS, *TOOL_COMMANDS])
    print("usage: s3 <command> [options]   (s3 <command> --help for a command's options)\n")
    print("trainer commands (LightningCLI: --config a.yaml --config b.yaml, --print_config):")
    for name, text in TRAINER_COMMANDS.items():
        print(f"  {name:<{width}}  {text}")
    print("\ntools:")
    for name, (_, text) in TOOL_COMMANDS.items():
        print(f"  {name:<{width}}  {text}")


def is_user_error(error: BaseException) -> bool:
    """Errors that describe bad input (their message names the file/field): printed as one line."""
    from s3.errors import S3Error

    if isinstance(error, S3Error | FileNotFoundError):
        return True
    return isinstance(error, ValueError) and type(error).__module__.startswith("s3.")


def resolve(target: str) -> Callable[[list[str]], int]:
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def run_guarded(function: Callable[[], int | None]) -> int:
    try:
        return int(function() or 0)
    except Exception as error:  # noqa: BLE001 - re-raised unless it is a user error
        if is_user_error(error):
            print(f"s3: error: {error}", file=sys.stderr)
            return 2
        raise


def data_command(argv: list[str]) -> int:
    """`s3 data inspect ...` (the only data action so far)."""
    if not argv or argv[0] != "inspect":
        print("usage: s3 data inspect --config CONFIG.yaml [--verify] [--step N] ...", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from s3.data.inspect import main as inspect_main

    return inspect_main(argv[1:])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print_help()
        return 0
    command = argv[0]
    if command in TOOL_COMMANDS:
        tool = resolve(TOOL_COMMANDS[command][0])
        return run_guarded(lambda: tool(argv[1:]))
    if command in TRAINER_COMMANDS or command.startswith("-"):
        return run_guarded(lambda: S3CLI(args=argv) and 0)
    print(f"s3: error: unknown command {command!r}; run `s3 --help` for the list", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
