"""`build_network`: the public way to construct a network from a preset, a size and overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from s3.model.network import VOSNetwork
from s3.model.pixel_encoder import ResNetPixelEncoder
from s3.model.registry import get_preset, get_size
from s3.model.weights import load_network_weights

ENCODER_ARGS = ("pixel_encoder_arch", "pixel_encoder_weights")


def build_network(
    preset: str = "cutie",
    size: str = "base",
    *,
    weights: str | Path | None = None,
    strict: bool = True,
    **overrides: Any,
) -> VOSNetwork:
    """Builds the network of `preset` at `size` (`base`, `small`, or the CPU demo size `tiny`).

    Args:
        preset: an entry of `s3.model.registry.PRESETS`.
        size: an entry of `s3.model.registry.SIZES`.
        weights: optional weights file (official Cutie, Cutie training checkpoint, Lightning checkpoint, export).
        strict: require an exact key match when loading `weights`.
        overrides: any `VOSNetwork` argument, plus `pixel_encoder_arch` / `pixel_encoder_weights`.
    """
    spec = get_preset(preset)
    args: dict[str, Any] = get_size(size)
    args.update(dict(spec.network_args))
    args.update({k: v for k, v in overrides.items() if v is not None})
    encoder = ResNetPixelEncoder(args.pop("pixel_encoder_arch"), args.pop("pixel_encoder_weights", None))
    if "up_dims" in args:
        args["up_dims"] = tuple(args["up_dims"])
    network = VOSNetwork(encoder, **args)
    if weights is not None:
        load_network_weights(network, weights, strict=strict)
    return network
