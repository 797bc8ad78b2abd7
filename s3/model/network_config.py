"""A network as data: the `class_path` / `init_args` tree of a Table 3 row at a size, and building it.

A row's file (`configs/model/<preset>.yaml`) is the value of `model.network` in a config: `VOSNetwork`'s typed
arguments with the pixel encoder injected as its own `class_path` / `init_args`. A size file
(`configs/model/size/<size>.yaml`) overrides `VOSNetwork` arguments (`network:`) and, by the row's encoder class,
encoder arguments (`pixel_encoder:`). `build_network`, `--model.preset` / `--model.size` and the tests all go
through `network_config`, so the YAML files are the one source of the architecture.

The files ship inside the package (`s3/configs/model/`, identical to the user-facing `configs/model/`; a test
checks) so that they are found from any working directory and from an installed wheel.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from s3.model.registry import (
    TRANSFORMER_SIZES,
    ConfigurationError,
    get_preset,
    get_size,
    resolve_components,
    row_for_components,
)

__all__ = [
    "NETWORK_CONFIG_DIR",
    "NetworkConfig",
    "instantiate_network",
    "network_components",
    "network_config",
    "read_row_file",
    "read_size_file",
    "set_network_arguments",
]

NETWORK_CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "model"

# {"class_path": "s3.model.network.VOSNetwork", "init_args": {"pixel_encoder": {"class_path": ..., ...}, ...}}
NetworkConfig = dict[str, Any]

# Arguments of the ViT encoders that a ResNet row does not have (named in the error for a ResNet preset).
VIT_ENCODERS = (
    "s3.model.vit_pyramid.ViTPyramidEncoder",
    "s3.model.spatial_semantic_encoder.SpatialSemanticEncoder",
)
# Former flat names of the ResNet encoder's arguments, still accepted by `build_network`.
RESNET_ALIASES = {"pixel_encoder_arch": "arch", "pixel_encoder_weights": "weights"}


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigurationError(f"{path}: network configuration file not found")
    content = yaml.safe_load(path.read_text())
    if not isinstance(content, dict):
        raise ConfigurationError(f"{path}: expected a mapping, got {type(content).__name__}")
    return content


def read_row_file(preset: str) -> NetworkConfig:
    """The `class_path` / `init_args` tree of a Table 3 row at size `base` (a fresh copy)."""
    config = _read_yaml(NETWORK_CONFIG_DIR / f"{get_preset(preset).name}.yaml")
    if "class_path" not in config or "pixel_encoder" not in config.get("init_args", {}):
        raise ConfigurationError(f"{NETWORK_CONFIG_DIR / preset}.yaml: expected class_path and init_args.pixel_encoder")
    return config


def read_size_file(size: str) -> dict[str, Any]:
    """A size's overrides: `{"network": {arg: value}, "pixel_encoder": {encoder class_path: {arg: value}}}`."""
    path = NETWORK_CONFIG_DIR / "size" / f"{size}.yaml"
    content = _read_yaml(path)
    unknown = set(content) - {"network", "pixel_encoder"}
    if unknown:
        raise ConfigurationError(f"{path}: unknown sections {sorted(unknown)}; expected network, pixel_encoder")
    return {"network": dict(content.get("network") or {}), "pixel_encoder": dict(content.get("pixel_encoder") or {})}


def _encoder(config: NetworkConfig) -> dict[str, Any]:
    encoder = config["init_args"]["pixel_encoder"]
    encoder.setdefault("init_args", {})
    return encoder


def network_config(
    preset: str = "cutie",
    size: str = "base",
    *,
    components: dict[str, bool] | None = None,
    transformer: str | None = None,
) -> NetworkConfig:
    """The network of `preset` at `size` as a `class_path` / `init_args` tree (what `--model.preset` inserts).

    Args:
        preset: a row of `s3.model.registry.PRESETS`.
        size: a name of `s3.model.registry.SIZES`.
        components: per-component switches on top of the preset (e.g. `{"semantic": False}`): the encoder is the
            row's with those encoder components, the discriminative query a switch of `read_from_pixel`.
        transformer: object-transformer size `cutie` (3 blocks / 16 queries) or `s3` (5 / 8); default: the row's.
    """
    chosen = resolve_components(preset, components)
    config = read_row_file(row_for_components(chosen).name)
    overrides = get_size(size)
    config["init_args"].update(copy.deepcopy(overrides["network"]))
    encoder = _encoder(config)
    encoder["init_args"].update(copy.deepcopy(overrides["pixel_encoder"].get(encoder["class_path"], {})))
    if transformer is not None:
        if transformer not in TRANSFORMER_SIZES:
            raise ConfigurationError(
                f"unknown transformer size {transformer!r}; available: {', '.join(TRANSFORMER_SIZES)}"
            )
        config["init_args"].update(TRANSFORMER_SIZES[transformer])
    config["init_args"]["read_from_pixel"] = "discriminative" if "discriminative_query" in chosen else "attention"
    return config


def _import(class_path: str) -> type:
    module_name, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigurationError(f"class_path {class_path!r} cannot be imported ({error})") from error


def _parameters(class_path: str) -> set[str]:
    return set(inspect.signature(_import(class_path)).parameters) - {"self"}


def set_network_arguments(config: NetworkConfig, preset: str, **overrides: Any) -> None:
    """Sets arguments by name in place: a `VOSNetwork` argument if it has one by that name (so `embed_dim` and
    `num_heads` are the object transformer's), else the pixel encoder's. `None` values are skipped."""
    encoder = _encoder(config)
    network_args = _parameters(config["class_path"]) - {"pixel_encoder"}
    encoder_args = _parameters(encoder["class_path"])
    for name, value in overrides.items():
        if value is None:
            continue
        name = RESNET_ALIASES.get(name, name) if name not in network_args else name
        if name in network_args:
            config["init_args"][name] = value
        elif name in encoder_args:
            encoder["init_args"][name] = value
        elif any(name in _parameters(other) for other in VIT_ENCODERS):
            raise ConfigurationError(f"{name} only apply to the ViT presets, not {preset!r}")
        else:
            encoder_name = encoder["class_path"].rpartition(".")[2]
            raise ConfigurationError(f"unknown network argument {name!r} (VOSNetwork / {encoder_name}, {preset!r})")


def instantiate_network(config: NetworkConfig) -> nn.Module:
    """Builds the tree with jsonargparse, exactly as the CLI does for `model.network` (types checked: a value
    outside a `Literal` is a `ConfigurationError` naming the argument)."""
    from jsonargparse import ArgumentParser

    from s3.model.network import VOSNetwork

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--network", type=VOSNetwork)
    try:
        parsed = parser.parse_object({"network": config})
    except Exception as error:  # noqa: BLE001 - jsonargparse reports type errors as ArgumentError / TypeError
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        raise ConfigurationError(f"network configuration: {message}") from error
    return parser.instantiate(parsed).network


def network_components(network: nn.Module) -> frozenset[str]:
    """The registry components a built network has (read from its modules, so it holds for edited configs too)."""
    from s3.model.discriminative_query import DiscriminativeQueryAttention

    encoder = type(network.pixel_encoder)
    encoder_path = f"{encoder.__module__}.{encoder.__name__}"
    found = set()
    if any(isinstance(m, DiscriminativeQueryAttention) for m in network.object_transformer.modules()):
        found.add("discriminative_query")
    if encoder_path in VIT_ENCODERS:
        found.add("vit")
    if encoder_path == VIT_ENCODERS[1]:
        found.add("spatial")
        if getattr(network.pixel_encoder, "semantic", False):
            found.add("semantic")
    return frozenset(found)
