"""`--model.preset NAME` and `--model.size NAME` as named network configs on the `s3 fit/validate/...` line.

Each one — given on the command line or in a `--config` file — places the network of the (preset, size) it
selects, as read from `configs/model/` by `s3.model.network_config`, as a `--model.network` value at that point of
the arguments: before the config file that names it (so the file's own `model.network` keys win), after a flag.
Later arguments override it as usual, and the parsed config (`--print_config`, the run's `config.yaml`) holds
every architecture argument. A switch keeps the single-argument overrides given before it
(`--model.network.init_args.X` / `...pixel_encoder.init_args.X` flags and the partial `model.network` blocks of
config files) where the new network has that argument: the paper configs' `drop_path_rate: 0.15` survives a
sweep's `--model.preset=cutie_dq_vit` and is left out for `--model.preset=cutie`, whose ResNet has no drop-path.
The first insertion is the defaults' network (S3Module's `preset` / `size`), so a config that names neither still
shows its network.

Unknown names insert nothing: `s3.run.run_config.check_preset` reports them as a one-line error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

TRAINER_SUBCOMMANDS = ("fit", "validate", "test", "predict")
DEFAULT_PRESET, DEFAULT_SIZE = "cutie", "base"  # S3Module's defaults (a test keeps them equal)


def network_argument(preset: str, size: str) -> list[str]:
    """`["--model.network=<the network of preset at size, as JSON>"]`, or `[]` for an unknown name."""
    from s3.model.network_config import network_config
    from s3.model.registry import PRESETS, SIZES

    if preset not in PRESETS or size not in SIZES:
        return []
    return [f"--model.network={json.dumps(network_config(preset, size))}"]


def _load_config(value: str, base: Path) -> dict[str, Any]:
    """A `--config` value (path, relative to `base`, or inline YAML) as a mapping; {} when it is neither."""
    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        content = yaml.safe_load(path.read_text()) if path.is_file() else yaml.safe_load(value)
    except (OSError, yaml.YAMLError):
        return {}
    return content if isinstance(content, dict) else {}


def named_network(value: str, base: Path) -> dict[str, str]:
    """`model.preset` / `model.size` of a config file, following the `config:` files it includes."""
    content = _load_config(value, base)
    found: dict[str, str] = {}
    included = content.get("config")
    folder = (base / value).parent if (base / value).is_file() else base
    for inner in included if isinstance(included, list) else [included] if isinstance(included, str) else []:
        found.update(named_network(inner, folder))
    model = content.get("model")
    if isinstance(model, dict):
        found.update({key: str(model[key]) for key in ("preset", "size") if model.get(key) is not None})
    return found


def _flag_value(args: list[str], index: int, flag: str) -> tuple[str, int] | None:
    """(value, tokens used) when `args[index]` is `flag VALUE` or `flag=VALUE`."""
    arg = args[index]
    if arg.startswith(flag + "="):
        return arg[len(flag) + 1 :], 1
    if arg == flag and index + 1 < len(args):
        return args[index + 1], 2
    return None


def model_section(content: dict[str, Any]) -> dict[str, Any]:
    """A config file's `model` block with its dotted `model.a.b: value` keys (as the paper configs write them
    after an include) folded in."""
    model = dict(content.get("model") or {}) if isinstance(content.get("model"), dict) else {}
    for key, value in content.items():
        if not key.startswith("model."):
            continue
        *parents, leaf = key.split(".")[1:]
        node = model
        for parent in parents:
            node = node.setdefault(parent, {}) if isinstance(node.get(parent, {}), dict) else {}
        node[leaf] = value
    return model


NETWORK_FLAG = "--model.network.init_args."
ENCODER_FLAG = "--model.network.init_args.pixel_encoder.init_args."


def _network_overrides(network: Any) -> list[tuple[str, str, list[str]]]:
    """The leaves of a config file's partial `model.network` (no `class_path`) as re-applicable overrides."""
    if not isinstance(network, dict) or "class_path" in network or not isinstance(network.get("init_args"), dict):
        return []
    found = []
    for key, value in network["init_args"].items():
        if key != "pixel_encoder":
            found.append(("network", key, [f"--model.network={json.dumps({'init_args': {key: value}})}"]))
        elif isinstance(value, dict) and "class_path" not in value and isinstance(value.get("init_args"), dict):
            for inner, inner_value in value["init_args"].items():
                tree = {"init_args": {"pixel_encoder": {"init_args": {inner: inner_value}}}}
                found.append(("encoder", inner, [f"--model.network={json.dumps(tree)}"]))
    return found


def _accepted(network: list[str], kind: str, key: str) -> bool:
    """Whether the inserted network (`network_argument`'s output) has argument `key` at level `kind`."""
    if not network:
        return False
    tree = json.loads(network[0].split("=", 1)[1])["init_args"]
    return key in (tree if kind == "network" else tree["pixel_encoder"].get("init_args", {}))


def expand_preset_arguments(args: list[str], cwd: Path | None = None) -> list[str]:
    """The trainer command line with each preset / size selection followed (or, for config files, preceded) by
    the `--model.network` value it names, then by the single-argument network overrides given before it that the
    new network accepts (see the module docstring)."""
    cwd = cwd or Path.cwd()
    start = next((i + 1 for i, arg in enumerate(args) if arg in TRAINER_SUBCOMMANDS), 0)
    if any(arg in ("-h", "--help") for arg in args[start:]):
        return list(args)
    state = {"preset": DEFAULT_PRESET, "size": DEFAULT_SIZE}
    overrides: dict[tuple[str, str], list[str]] = {}  # (level, argument) -> the tokens that set it

    def switch() -> list[str]:
        network = network_argument(state["preset"], state["size"])
        kept = [tokens for (kind, key), tokens in overrides.items() if _accepted(network, kind, key)]
        return network + [token for tokens in kept for token in tokens]

    expanded = [*args[:start], *switch()]
    index = start
    while index < len(args):
        config = _flag_value(args, index, "--config")
        if config is not None:
            named = named_network(config[0], cwd)
            if named:
                state.update(named)
                expanded += switch()
            expanded += args[index : index + config[1]]
            model = model_section(_load_config(config[0], cwd))
            for kind, key, tokens in _network_overrides(model.get("network")):
                overrides[(kind, key)] = tokens
            index += config[1]
            continue
        for key in ("preset", "size"):
            flag = _flag_value(args, index, f"--model.{key}")
            if flag is not None:
                state[key] = flag[0]
                expanded += [*args[index : index + flag[1]], *switch()]
                index += flag[1]
                break
        else:
            arg = args[index]
            for prefix, kind in ((ENCODER_FLAG, "encoder"), (NETWORK_FLAG, "network")):
                name = arg[len(prefix) :].split("=", 1)[0]
                if arg.startswith(prefix) and "." not in name:
                    used = 1 if "=" in arg or index + 1 == len(args) else 2
                    overrides[(kind, name)] = args[index : index + used]
                    expanded += args[index : index + used]
                    index += used
                    break
            else:
                expanded.append(arg)
                index += 1
    return expanded


class PresetArgumentsHook:
    """LightningCLI mixin: expands `--model.preset` / `--model.size` (see the module docstring) before parsing."""

    def parse_arguments(self, parser: Any, args: Any) -> None:
        if args is None:
            args = sys.argv[1:]
        if isinstance(args, list | tuple):
            args = expand_preset_arguments([str(arg) for arg in args])
        super().parse_arguments(parser, args)  # type: ignore[misc]
