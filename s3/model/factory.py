"""`build_network`: the public way to construct a network from a preset, a size and overrides."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from s3.model.network import VOSNetwork
from s3.model.network_config import (
    instantiate_network,
    network_components,
    network_config,
    set_network_arguments,
)
from s3.model.weights import load_network_weights

log = logging.getLogger(__name__)


def load_pretrained(
    network: VOSNetwork,
    *,
    weights: str | Path | None = None,
    vit_weights: str | Path | None = None,
    strict: bool = True,
) -> VOSNetwork:
    """Loads the ViT weights into a ViT pixel encoder, then the full-network `weights` (strict by default)."""
    has_vit = "vit" in network_components(network)
    if vit_weights is not None and not has_vit:
        # Shared configs (sweeps over every preset) name the ViT file once; the ResNet rows have no use for it.
        log.info("network has no ViT: vit_weights %s not used", vit_weights)
    elif vit_weights is not None:
        from s3.model.vit_weights import load_vit_weights

        load_vit_weights(network.pixel_encoder.vit_module, vit_weights)
    if weights is not None:
        load_network_weights(network, weights, strict=strict)
    return network


def build_network(
    preset: str = "cutie",
    size: str = "base",
    *,
    weights: str | Path | None = None,
    vit_weights: str | Path | None = None,
    components: dict[str, bool] | None = None,
    transformer: str | None = None,
    strict: bool = True,
    **overrides: Any,
) -> VOSNetwork:
    """Builds the network of `preset` at `size` from its YAML files (`s3.model.network_config`).

    Args:
        preset: a row of the ablation table (`s3.model.registry.PRESETS`): cutie, cutie_dq, cutie_dq_vit,
            cutie_dq_vit_spatial, s3 (`configs/model/<preset>.yaml`).
        size: `base`, `small` (ResNet-18 for the ResNet presets) or the CPU demo size `tiny`
            (`configs/model/size/<size>.yaml`).
        weights: full-network weights (official Cutie/S3 file, Cutie training checkpoint, Lightning checkpoint,
            weights-only export), loaded strictly by default.
        vit_weights: Depth-Anything V1 (`pretrained.`-prefixed) or DINOv2 ViT-B/14 weights for the ViT presets.
        components: per-component switches applied on top of the preset, e.g. `{"semantic": False}`.
        transformer: object-transformer size `cutie` (3 blocks / 16 queries) or `s3` (5 / 8); default: `s3` for
            the ViT presets, `cutie` otherwise.
        strict: require an exact key match when loading `weights`.
        overrides: any `VOSNetwork` argument, else any argument of the preset's pixel encoder (e.g.
            `num_extra_extractors`, `drop_path_rate`, `freeze_vit`, `arch`); `pixel_encoder_arch` /
            `pixel_encoder_weights` name the ResNet's `arch` / `weights`.

    The network carries `preset`, `size`, `components` and `config`: the `class_path` / `init_args` tree it was
    built from, which `S3Module` records in its checkpoints (as `s3 fit` does) so that they reload this network.
    """
    config = network_config(preset, size, components=components, transformer=transformer)
    set_network_arguments(config, preset, **overrides)
    network = instantiate_network(config)
    network.preset, network.components, network.size = preset, network_components(network), size
    network.config = config  # s3.training.python_arguments.NETWORK_CONFIG_ATTRIBUTE
    return load_pretrained(network, weights=weights, vit_weights=vit_weights, strict=strict)
