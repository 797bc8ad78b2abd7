"""Offline handling of W&B sweep files: expand a grid and build each run's command line as `wandb agent` does.

W&B sweeps need a server to run; these functions let tests (and `check_sweep`) verify a sweep file without
one: every grid point becomes the exact argv the agent would start.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import yaml

from s3.run.errors import RunConfigError

# What the agent substitutes for macros other than ${args*} (Unix).
AGENT_MACROS = {"env": ["/usr/bin/env"], "interpreter": ["python"]}


def load_sweep(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file not found: {path}")
    sweep = yaml.safe_load(path.read_text())
    if not isinstance(sweep, dict) or not isinstance(sweep.get("parameters"), dict):
        raise RunConfigError(f"{path}: expected a W&B sweep with a `parameters` mapping")
    return sweep


def expand_grid(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """All grid points: `{parameter: value}` for every combination of `values` (fixed `value`s included)."""
    if sweep.get("method") != "grid":
        raise RunConfigError(f"sweep method: expected 'grid', got {sweep.get('method')!r}")
    names, choices = [], []
    for name, spec in sweep["parameters"].items():
        if "values" in spec:
            choices.append(list(spec["values"]))
        elif "value" in spec:
            choices.append([spec["value"]])
        else:
            raise RunConfigError(f"sweep parameter {name}: a grid needs `values` or `value`")
        names.append(name)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*choices)]


def agent_command(sweep: dict[str, Any], point: dict[str, Any]) -> list[str]:
    """The argv `wandb agent` starts for one grid point (its own macro expansion)."""
    from wandb.sdk.launch.sweeps import utils as sweep_utils

    command = sweep_utils.create_sweep_command(sweep.get("command"))
    variables = sweep_utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in point.items()}})
    variables.update(AGENT_MACROS, program=[str(sweep.get("program", ""))])
    argv: list[str] = []
    for item in map(str, command):
        if item.startswith("${") and item.endswith("}"):
            argv += variables.get(item[2:-1]) or []
        else:
            argv.append(item)
    return argv


def s3_arguments(argv: list[str]) -> list[str]:
    """The arguments after the `s3` program in an agent command line (`/usr/bin/env s3 fit ...` -> `fit ...`)."""
    for position, item in enumerate(argv):
        if Path(item).name == "s3" or item.endswith("s3.cli"):
            return argv[position + 1 :]
    raise RunConfigError(f"sweep command does not call s3: {' '.join(argv)}")


def check_sweep(path: str | Path, known_presets: list[str] | None = None) -> list[list[str]]:
    """Validates a sweep file: grid expands, every `model.preset` is known. Returns each run's s3 arguments."""
    from s3.model.registry import PRESETS

    sweep = load_sweep(path)
    known = list(PRESETS) if known_presets is None else known_presets
    runs = []
    for point in expand_grid(sweep):
        preset = point.get("model.preset")
        if preset is not None and preset not in known:
            raise RunConfigError(
                f"{path}: model.preset value {preset!r} is not a known preset; available: {', '.join(known)}"
            )
        runs.append(s3_arguments(agent_command(sweep, point)))
    return runs
