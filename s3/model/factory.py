"""`build_network`: the public way to construct a network from a preset, a size and overrides."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from s3.model.fast_linear import use_onednn_linears
from s3.model.network import VOSNetwork
from s3.model.pixel_encoder import ResNetPixelEncoder
from s3.model.registry import TRANSFORMER_SIZES, VIT_SIZES, ConfigurationError, get_size, resolve_components
from s3.model.weights import load_network_weights

log = logging.getLogger(__name__)

# Overrides that configure the ViT pixel encoder rather than the VOSNetwork.
VIT_OPTIONS = ("drop_path_rate", "freeze_vit", "finetune_index", "with_cp", "keep_cls")


def build_pixel_encoder(
    components: frozenset[str], size: str, args: dict[str, Any], vit_options: dict[str, Any]
) -> nn.Module:
    """A ResNet (Cutie), the ViT simple pyramid (+ViT) or the spatial(-semantic) ViT adapter."""
    arch = args.pop("pixel_encoder_arch")
    resnet_weights = args.pop("pixel_encoder_weights", None)
    if "vit" not in components:
        return ResNetPixelEncoder(arch, resnet_weights)
    vit_args = {**VIT_SIZES[size], **vit_options}
    if "spatial" in components:
        from s3.model.spatial_semantic_encoder import SpatialSemanticEncoder

        vit_args.pop("keep_cls", None)
        return SpatialSemanticEncoder(semantic="semantic" in components, **vit_args)
    from s3.model.vit_pyramid import ViTPyramidEncoder

    for key in ("stage_blocks", "deform_num_heads", "semantic_heads", "conv_inplanes", "finetune_index"):
        vit_args.pop(key, None)
    return ViTPyramidEncoder(**vit_args)


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
    """Builds the network of `preset` at `size`.

    Args:
        preset: a row of the ablation table (`s3.model.registry.PRESETS`): cutie, cutie_dq, cutie_dq_vit,
            cutie_dq_vit_spatial, s3.
        size: `base`, `small` (ResNet-18 for the ResNet presets) or the CPU demo size `tiny`.
        weights: full-network weights (official Cutie/S3 file, Cutie training checkpoint, Lightning checkpoint,
            weights-only export), loaded strictly by default.
        vit_weights: Depth-Anything V1 (`pretrained.`-prefixed) or DINOv2 ViT-B/14 weights for the ViT presets.
        components: per-component switches applied on top of the preset, e.g. `{"semantic": False}`.
        transformer: object-transformer size `cutie` (3 blocks / 16 queries) or `s3` (5 / 8); default: `s3` for
            the ViT presets, `cutie` otherwise.
        strict: require an exact key match when loading `weights`.
        overrides: any `VOSNetwork` argument, `pixel_encoder_arch` / `pixel_encoder_weights` (ResNet), or a ViT
            option (`drop_path_rate`, `freeze_vit`, `finetune_index`, `with_cp`, `keep_cls`).
    """
    chosen = resolve_components(preset, components)
    args: dict[str, Any] = get_size(size)
    transformer = transformer or ("s3" if "vit" in chosen else "cutie")
    if transformer not in TRANSFORMER_SIZES:
        raise ConfigurationError(f"unknown transformer size {transformer!r}; available: {', '.join(TRANSFORMER_SIZES)}")
    args.update(TRANSFORMER_SIZES[transformer])
    if "discriminative_query" in chosen:
        args["read_from_pixel"] = "discriminative"
    if "vit" in chosen:
        args["pad_multiple"] = 32
    given = {k: v for k, v in overrides.items() if v is not None}
    vit_options = {k: given.pop(k) for k in VIT_OPTIONS if k in given}
    if vit_options and "vit" not in chosen:
        raise ConfigurationError(f"{', '.join(vit_options)} only apply to the ViT presets, not {preset!r}")
    args.update(given)
    if "up_dims" in args:
        args["up_dims"] = tuple(args["up_dims"])
    encoder = build_pixel_encoder(chosen, size, args, vit_options)
    if vit_weights is not None and "vit" not in chosen:
        # Shared configs (sweeps over every preset) name the ViT file once; the ResNet rows have no use for it.
        log.info("preset %r has no ViT: vit_weights %s not used", preset, vit_weights)
    elif vit_weights is not None:
        from s3.model.vit_weights import load_vit_weights

        load_vit_weights(encoder.vit_module, vit_weights)
    network = use_onednn_linears(VOSNetwork(encoder, **args))
    network.preset, network.components, network.size = preset, chosen, size
    if weights is not None:
        load_network_weights(network, weights, strict=strict)
    return network
