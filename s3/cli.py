"""The `s3` command: one jsonargparse tree over Lightning's trainer subcommands and S3's own tools.

`fit`, `validate`, `test` and `predict` go to LightningCLI (`S3CLI`: layered `--config` files,
`--print_config`); `demo` is `fit` on the demo config. Every tool subcommand is a typed function whose signature
and docstring become its parser and `--help` (`TOOL_COMMANDS`; groups such as `eval davis` nest one level).
Flags are written with underscores as in `s3 fit` (`--max_internal_size`); dashes are accepted too.

One error boundary (`run_guarded`) serves every command: a project error (`s3.errors.S3Error`), an OS error on a
user-given path (permission, not-a-directory, exists, is-a-directory, not found, disk full) or a parser error
becomes one `s3: error: ...` line on stderr and exit status 2. Under DDP every rank exits with 2 but only rank 0
prints the line (`report_user_error`).
"""

from __future__ import annotations

import errno
import importlib
import inspect
import json
import logging
import re
import sys
import types
import typing
import warnings
from argparse import ArgumentError
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ActionConfigFile, ActionYesNo, ArgumentParser, Namespace
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from s3.errors import S3Error
from s3.run.lightning_notices import quiet_lightning_notices
from s3.run.preset_args import PresetArgumentsHook
from s3.run.run_config import RunCLIHooks

TRAINER_COMMANDS: dict[str, str] = {
    "fit": "train a network (layer configs with repeated --config)",
    "validate": "run validation (J&F per dataset) on a checkpoint",
    "test": "run the test loop",
    "predict": "write benchmark predictions",
    "demo": "fit + validate the tiny network on synthetic videos (CPU) and print J&F; extra flags go to `fit`",
}


@dataclass(frozen=True)
class Tool:
    """A tool subcommand: `target` is "module:function", a typed function whose docstring (Google style, with an
    Args section) is the help; it returns an exit code. `positional` turns its required parameters into
    positional arguments (`s3 export CHECKPOINT OUTPUT`); `aliases` maps former flag names to parameters."""

    target: str
    help: str
    positional: bool = False
    aliases: tuple[tuple[str, str], ...] = ()


# name -> Tool, or name -> {action -> Tool} for a group (`s3 eval davis`). Register new tools here.
TOOL_COMMANDS: dict[str, Tool | dict[str, Tool]] = {
    "eval": {
        "davis": Tool("s3.evaluation.cli:eval_davis", "official DAVIS 2017 J&F tables and CSVs"),
        "lvos": Tool("s3.evaluation.cli:eval_lvos", "official LVOS J&F, J, F and V (seen/unseen) tables and CSVs"),
    },
    "export": Tool(
        "s3.run.export:export_command", "write a weights-only file from a Lightning / DeepSpeed checkpoint", True
    ),
    "report": {"ablation": Tool("s3.report.cli:report_ablation", "Table 3 from your runs next to the paper's")},
    "segment": Tool(
        "s3.inference.segment:segment_command",
        "segment your video (mp4 or frames) from a mask",
        aliases=(("max_internal_size", "test_size"),),
    ),
    "benchmark": Tool("s3.benchmark:benchmark_command", "time per frame / FPS of a preset at a test size"),
    "ablations": Tool("s3.model.ablations:ablations_command", "the ablation presets (Table 3 rows) and parameters"),
    "visualize": {"features": Tool("s3.visualize.command:features_command", "feature maps of the blocks on one frame")},
    "data": {"inspect": Tool("s3.data.inspect:inspect_command", "dataset counts, sampling shares, contact sheet")},
}

# Exceptions of user-given paths that are reported as one line (besides S3Error); ENOSPC is matched by errno.
USER_PATH_ERRORS = (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError, FileNotFoundError)


class TrainerSettingsError(S3Error, ValueError):
    """Lightning's `Trainer` refused the `trainer:` settings (accelerator, devices, strategy, precision, ...)."""


class S3CLI(PresetArgumentsHook, RunCLIHooks, LightningCLI):
    """LightningCLI with S3's defaults: the S3Module, any LightningDataModule from the config, `--model.preset` /
    `--model.size` as named network configs (`s3.run.preset_args`) and the run hooks of `s3.run.run_config`
    (global batch split, preset / checkpoint checks, run names, checkpoint folders)."""

    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs) -> None:
        from s3.training import S3Module

        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        # The optimizer and schedule are arguments of S3Module (`model.optimizer`, `model.lr_scheduler`), which
        # builds its parameter groups; Lightning's top-level `optimizer` / `lr_scheduler` would bypass them.
        kwargs.setdefault("auto_configure_optimizers", False)
        # Parser errors are raised (not printed with a full usage dump) and reported by `run_guarded`.
        no_exit = {"exit_on_error": False}
        kwargs.setdefault("parser_kwargs", {**no_exit, **{name: dict(no_exit) for name in self.subcommands()}})
        # `main()` always passes argv explicitly; Lightning warns whenever sys.argv is also non-empty.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        quiet_lightning_notices()
        super().__init__(
            S3Module,
            None,
            subclass_mode_data=True,
            args=args,
            run=run,
            **kwargs,
        )

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """Lightning's, with the Trainer's refusal of its settings as one line: its constructor checks the
        settings against each other and the machine (`devices` on the CPU, `fsdp` without a GPU, a GPU
        accelerator where none exists) and raises ValueError or MisconfigurationException."""
        try:
            return super().instantiate_trainer(**kwargs)
        except (MisconfigurationException, ValueError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            raise TrainerSettingsError(f"--trainer: {reason}") from error


# ---------------------------------------------------------------------------------------------------------------
# Parsers built from typed signatures


def _docstring_parts(function: Callable) -> tuple[str, dict[str, str]]:
    """The description and the per-parameter help of a Google-style docstring."""
    from docstring_parser import parse

    parsed = parse(inspect.getdoc(function) or "")
    description = "\n\n".join(part for part in (parsed.short_description, parsed.long_description) if part)
    return description, {param.arg_name: param.description or "" for param in parsed.params}


def _list_item_type(hint: Any) -> type | None:
    """`int` for `list[int]` / `list[int] | None` (such parameters take space-separated values: `--objects 1 2`)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [h for h in typing.get_args(hint) if h is not type(None)]
        hint = members[0] if len(members) == 1 else None
    if typing.get_origin(hint) is list and typing.get_args(hint) in ((int,), (str,), (float,)):
        return typing.get_args(hint)[0]
    return None


def tool_parser(tool: Tool, prog: str) -> ArgumentParser:
    """A parser for one tool function: typed arguments with their docstring help.

    Boolean parameters become switches (`--flip` / `--no_flip`), lists of scalars take space-separated values;
    every other parameter is added by jsonargparse from its type hint (`Literal` choices, paths, optional values,
    classes such as the data module with `--data.init_args.*`). A function with a `data` parameter also takes
    `--config` fit config files (see `fit_data_argument`).
    """
    function = resolve(tool.target)
    description, docs = _docstring_parts(function)
    parser = ArgumentParser(prog=prog, description=description, exit_on_error=False)
    hints = typing.get_type_hints(function)
    parameters = inspect.signature(function).parameters
    if "data" in parameters:  # `run_tool` hands `--config` files to the fit parser; listed here for --help
        parser.add_argument(
            "--config",
            action=ActionConfigFile,
            help="config file(s) of `s3 fit` (repeatable, later files win), parsed by the fit parser; their "
            "data section (with --data.init_args.* overrides) is the data module",
        )
    switches = [name for name in parameters if hints.get(name) is bool]
    lists = {name: item for name in parameters if (item := _list_item_type(hints.get(name))) is not None}
    parser.add_function_arguments(function, skip={*switches, *lists}, as_positional=tool.positional)
    groups = getattr(parser, "groups", None) or {}  # the function's argument group: one help section for all
    group = next(iter(groups.values())) if len(groups) == 1 else parser
    for name in switches:
        default = parameters[name].default
        group.add_argument(
            f"--{name}",
            action=ActionYesNo(yes_prefix="", no_prefix="no_"),
            default=bool(default),
            help=docs.get(name, ""),
        )
    for name, item in lists.items():
        default = parameters[name].default
        group.add_argument(
            f"--{name}",
            type=item,
            nargs="+",
            default=None if default is inspect.Parameter.empty else default,
            required=default is inspect.Parameter.empty,
            help=f"{docs.get(name, '')} (space-separated)",
        )
    return parser


def build_parser() -> ArgumentParser:
    """The whole `s3` tree: trainer commands (help only; they are parsed by `S3CLI`) and every tool."""
    parser = ArgumentParser(
        prog="s3",
        description="S3 / Cutie video object segmentation. `s3 <command> --help` lists a command's options.",
        exit_on_error=False,
    )
    commands = parser.add_subcommands(dest="command", metavar="COMMAND")
    for name, text in TRAINER_COMMANDS.items():
        commands.add_subcommand(name, ArgumentParser(prog=f"s3 {name}", description=text), help=text)
    for name, entry in TOOL_COMMANDS.items():
        if isinstance(entry, Tool):
            commands.add_subcommand(name, tool_parser(entry, f"s3 {name}"), help=entry.help)
            continue
        group = ArgumentParser(prog=f"s3 {name}", exit_on_error=False)
        commands.add_subcommand(name, group, help=f"{' | '.join(entry)}: " + "; ".join(t.help for t in entry.values()))
        actions = group.add_subcommands(dest="action", metavar="ACTION")  # after the group joined the tree
        for action, tool in entry.items():
            actions.add_subcommand(action, tool_parser(tool, f"s3 {name} {action}"), help=tool.help)
    return parser


def command_tool(config: Namespace) -> tuple[Tool, Namespace]:
    """The tool a parsed tool command line selects, and its arguments."""
    entry = TOOL_COMMANDS[config.command]
    arguments = config[config.command]
    if isinstance(entry, Tool):
        return entry, arguments
    return entry[arguments.action], arguments[arguments.action]


# ---------------------------------------------------------------------------------------------------------------
# Command-line words: dashes, config files


def underscore_flags(argv: list[str]) -> list[str]:
    """`--max-internal-size 64` -> `--max_internal_size 64` (only the option name, never a value)."""
    out = []
    for token in argv:
        name, sep, value = token.partition("=")
        if re.fullmatch(r"--[A-Za-z][\w.-]*", name):
            token = name[:2] + name[2:].replace("-", "_") + sep + value
        out.append(token)
    return out


class ConfigFileError(S3Error, ValueError):
    """A `--config` file that is missing or not valid YAML (the message names the file and line)."""


def read_yaml_file(path: str | Path) -> Any:
    """A YAML file's content; a missing file or a syntax error is one line naming the file (and line)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigFileError(f"{file}: config file not found")
    try:
        return yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigFileError(f"{file}:{where}: invalid YAML: {problem}") from error


def _config_value(argv: list[str], index: int) -> tuple[str, int] | None:
    """(value, words used) when argv[index] starts a `--config FILE` / `-c FILE` / `--config=FILE`."""
    token = argv[index]
    if token in ("--config", "-c") and index + 1 < len(argv):
        return argv[index + 1], 2
    if token.startswith("--config="):
        return token.partition("=")[2], 1
    return None


def check_config_files(argv: list[str]) -> None:
    """Reads every `--config` file once before LightningCLI does, so that a missing file or a YAML syntax error
    is reported naming the file and line (jsonargparse's message names neither)."""
    for index in range(len(argv)):
        found = _config_value(argv, index)
        if found is not None and not found[0].lstrip().startswith("{"):
            read_yaml_file(found[0])


def split_data_words(words: list[str]) -> tuple[list[str], list[str]]:
    """(`--config FILE` and `--data...` options, every other word) of a tool command line."""
    data: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        found = _config_value(words, index)
        if found is not None:
            data += words[index : index + found[1]]
            index += found[1]
        elif word == "--data" or word.startswith(("--data.", "--data=")):
            size = 1 if "=" in word or index + 1 >= len(words) else 2
            data += words[index : index + size]
            index += size
        else:
            rest.append(word)
            index += 1
    return data, rest


class FitConfigParser(S3CLI):
    """`s3 fit`'s parser and run-config hooks over a command line, building nothing (for the data-taking tools)."""

    def instantiate_classes(self) -> None:
        """Nothing is built: only the parsed config is wanted."""


@contextmanager
def without_seed_line() -> Iterator[None]:
    """Silences what `seed_everything` says about the seed — its "Seed set to N" info line and, for a config that
    leaves `seed_everything` at True with no PL_GLOBAL_SEED, its "No seed found, seed set to 0" warning — and
    nothing else; the seeding itself is unchanged."""
    seed_log = logging.getLogger(seed_everything.__module__)
    level = seed_log.level
    seed_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No seed found, seed set to")
            yield
    finally:
        seed_log.setLevel(level)


def fit_data_argument(data_words: list[str]) -> list[str]:
    """`--config FIT.yaml ... --data.init_args.KEY VALUE` -> `["--data", JSON]`: the data section parsed exactly as
    `s3 fit` parses it (layered and included config files, dotted keys, links); the other keys of a fit config
    (trainer, model, ...) are parsed too, so a fit config is valid here exactly when it is valid for `s3 fit`."""
    check_config_files(data_words)
    # The tools' data module is VOSDataModule unless a config names its class (a `data:` section may omit it).
    # The config's `seed_everything` is applied as `s3 fit` applies it (the data module's seed falls back to it),
    # without Lightning's "Seed set to" line: these tools are read-only and print only their own report.
    with without_seed_line():
        parsed = FitConfigParser(args=["--data=s3.data.VOSDataModule", *data_words], run=False)
    data = parsed.config.get("data")
    if data is None:
        raise ConfigFileError(f"{' '.join(data_words)}: no `data:` section (the data module of `s3 fit`)")
    return ["--data", json.dumps(data.as_dict() if isinstance(data, Namespace) else data, default=str)]


# ---------------------------------------------------------------------------------------------------------------
# One error boundary


def _short_type(text: str) -> str:
    return re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text)


def reduce_parser_message(message: str) -> str:
    """jsonargparse's multi-line message (union alternatives, given values) -> the key that failed and why."""
    keys: list[str] = []
    reason = ""
    for raw in message.splitlines():
        line = raw.strip().lstrip("- ").strip()
        key = re.match(r'Parser key "([^"]+)":\s*(.*)', line)
        if key:
            keys.append(key.group(1))
            reason = key.group(2) or reason
            continue
        if re.match(r"Problem with given class_path", line):
            keys.append("init_args")
            continue
        skip = ("Does not validate against", "Subtypes:", "Errors:", "Given value", "Expected a <class 'NoneType'>")
        if not line or line.startswith(skip):
            continue
        reason = reason or line
    if not keys:
        return message.strip().splitlines()[0]
    while keys and keys[-1] == "init_args":
        keys.pop()
    literal = re.match(r"Expected a typing\.Literal\[(.*)\]\. Got value: (.*)", reason)
    if literal:
        reason = f"invalid choice: {literal.group(2)!r} (choose from {literal.group(1)})"
    return f"--{'.'.join(keys)}: {_short_type(reason or 'invalid value')}"


def user_error_cause(error: BaseException) -> S3Error | None:
    """The S3Error behind another exception: jsonargparse re-raises errors of the constructors it calls (e.g. a
    data module refusing `crop_size: -5`) wrapped in its own union-type message."""
    seen: set[int] = set()
    current = error.__cause__ or error.__context__
    while current is not None and id(current) not in seen:
        if isinstance(current, S3Error):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def user_error_message(error: BaseException) -> str | None:
    """The one-line message of an error caused by the user's input, or None for a bug (which keeps its traceback)."""
    if isinstance(error, S3Error):
        return str(error)
    cause = user_error_cause(error)
    if cause is not None:
        return str(cause)
    if isinstance(error, ArgumentError):
        return reduce_parser_message(str(error))
    if isinstance(error, OSError) and (isinstance(error, USER_PATH_ERRORS) or error.errno == errno.ENOSPC):
        if error.filename is None:
            return str(error)
        paths = " -> ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
        return f"{paths}: {(error.strerror or str(error)).lower()}"
    return None


def report_user_error(message: str) -> int:
    """Prints the user error on stderr and returns exit status 2.

    Rank 0 (and any process outside DDP) prints `s3: error: <message>`. Under DDP another rank prints
    `s3: error (rank N): <message>`: its error may be its own (a corrupt file in its shard of the data), so it is
    never silenced, and the label tells a rank's line from rank 0's. The rank is Lightning's `rank_zero_only.rank`:
    read from RANK / LOCAL_RANK / SLURM_PROCID when Lightning is imported, set to the global rank by the strategy.
    """
    rank = getattr(rank_zero_only, "rank", 0) or 0
    label = "" if rank == 0 else f" (rank {rank})"
    print(f"s3: error{label}: {message}", file=sys.stderr)
    return 2


def run_guarded(function: Callable[[], int | None], command: str = "") -> int:
    """Runs a command; a user error becomes one `s3: error:` line (labelled with the rank under DDP) and exit 2."""
    try:
        return int(function() or 0)
    except Exception as error:  # noqa: BLE001 - re-raised unless it is a user error
        message = user_error_message(error)
        if message is None:
            raise
        hint = f" (see `s3 {command} --help`)" if isinstance(error, ArgumentError) and command else ""
        return report_user_error(f"{message}{hint}")


# ---------------------------------------------------------------------------------------------------------------
# Entry points


def resolve(target: str) -> Callable[..., Any]:
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def run_tool(argv: list[str]) -> int:
    """Parses a tool command line (`segment --video ...`, `eval davis ...`) and calls its function."""
    words = underscore_flags(argv)
    entry = TOOL_COMMANDS[words[0]]
    path = words[:1] if isinstance(entry, Tool) or len(words) < 2 or words[1] not in entry else words[:2]
    tool = entry if isinstance(entry, Tool) else entry.get(path[-1]) if len(path) == 2 else None
    flag = "" if tool is not None and tool.positional else "--"
    for old, new in tool.aliases if tool is not None else ():
        words = [re.sub(rf"^--{old}(?=$|=)", f"--{new}", word) for word in words]

    def call() -> int:
        parser = build_parser()
        data_words, rest = split_data_words(words)
        if any(_config_value(data_words, i) for i in range(len(data_words))):  # a fit config: read as `s3 fit` does
            words_to_parse = [*rest, *fit_data_argument(data_words)]
        else:
            words_to_parse = words
        try:
            config = parser.parse_args(words_to_parse)
        except ArgumentError as error:  # name the flags as typed: `eval.davis.davis_root` -> `--davis_root`
            raise ArgumentError(None, str(error).replace(f"{'.'.join(path)}.", flag)) from None
        tool, arguments = command_tool(config)
        if "data" in arguments:  # build the data module (and any other class argument) as `s3 fit` does
            tool, arguments = command_tool(parser.instantiate(config))
        function = resolve(tool.target)
        kwargs = {name: arguments[name] for name in inspect.signature(function).parameters if name in arguments}
        return function(**kwargs)

    return run_guarded(call, " ".join(path))


def run_trainer(argv: list[str]) -> int:
    """`s3 fit/validate/test/predict ...` through LightningCLI, and `s3 demo` (fit on the demo config)."""
    if argv[0] == "demo":
        from s3.demo import main as demo_main

        return run_guarded(lambda: demo_main(argv[1:]), "demo")

    def call() -> int:
        check_config_files(argv)
        S3CLI(args=argv)
        return 0

    return run_guarded(call, argv[0] if not argv[0].startswith("-") else "")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    command = argv[0]
    if command in TRAINER_COMMANDS or command.startswith("-"):
        return run_trainer(argv)
    if command in TOOL_COMMANDS:
        return run_tool(argv)
    return report_user_error(f"unknown command {command!r}; run `s3 --help` for the list")


if __name__ == "__main__":
    sys.exit(main())
