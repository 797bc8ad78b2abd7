"""Depth-Anything V1 / DINOv2 ViT-B/14 checkpoints → S3's ViT-B/16 (`DinoVisionTransformer`).

Conversions are pure `state_dict -> state_dict` functions; the source is recognised from its keys:

* Depth-Anything V1: encoder keys prefixed `pretrained.`, DPT decoder keys under `depth_head.` (dropped);
* plain DINOv2: the same encoder keys without prefix (the `reg4` variant adds `register_tokens`, which S3's ViT
  lacks: it stays in the dict and is reported as unexpected by the loader).

Both get their 14×14 patch kernel resampled to 16×16 (bilinear, `align_corners=True`, no magnitude rescale); the
1×1370×C position table is kept as is (reinterpreted as 37×37 patches of 16 pixels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.errors import S3Error

__all__ = [
    "VitWeightsError",
    "VitLoadReport",
    "convert_vit_state_dict",
    "detect_vit_checkpoint",
    "load_vit_weights",
    "resample_patch_kernel",
]

CheckpointKind = Literal["depth_anything", "dinov2"]
DEPTH_ANYTHING_PREFIX = "pretrained."
DEPTH_HEAD_PREFIX = "depth_head."


class VitWeightsError(S3Error, ValueError):
    """A ViT checkpoint that cannot be converted or loaded; the message names the file and the keys."""


@dataclass
class VitLoadReport:
    """What `load_vit_weights` did."""

    source: CheckpointKind
    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # decoder keys removed by the conversion


def resample_patch_kernel(weight: Tensor, patch_size: int) -> Tensor:
    """Resize an O 3 k k patch-embedding kernel to O 3 p p: bilinear, align_corners=True, sum not preserved."""
    if weight.shape[-1] == patch_size and weight.shape[-2] == patch_size:
        return weight
    resized = F.interpolate(weight.float(), size=(patch_size, patch_size), mode="bilinear", align_corners=True)
    return resized.to(weight.dtype)


def detect_vit_checkpoint(state_dict: Mapping[str, Tensor]) -> CheckpointKind:
    """'depth_anything' if the encoder keys carry the `pretrained.` prefix, 'dinov2' if they are bare."""
    if any(key.startswith(DEPTH_ANYTHING_PREFIX) for key in state_dict):
        return "depth_anything"
    if "cls_token" in state_dict and "patch_embed.proj.weight" in state_dict:
        return "dinov2"
    sample = sorted(state_dict)[:5]
    raise VitWeightsError(
        "not a Depth-Anything (pretrained.*) or DINOv2 ViT state_dict: no cls_token/patch_embed.proj.weight "
        f"(first keys: {sample})"
    )


def convert_vit_state_dict(
    state_dict: Mapping[str, Tensor], patch_size: int = 16
) -> tuple[dict[str, Tensor], CheckpointKind, list[str]]:
    """Map a Depth-Anything or DINOv2 state_dict onto `DinoVisionTransformer` keys.

    Returns:
        (converted state_dict, detected source, keys dropped as belonging to the depth decoder).
    """
    if "model" in state_dict and isinstance(state_dict["model"], Mapping):
        state_dict = state_dict["model"]
    kind = detect_vit_checkpoint(state_dict)
    converted: dict[str, Tensor] = {}
    dropped: list[str] = []
    for key, value in state_dict.items():
        if kind == "depth_anything":
            if key.startswith(DEPTH_HEAD_PREFIX):
                dropped.append(key)
                continue
            key = key.removeprefix(DEPTH_ANYTHING_PREFIX)
        converted[key] = value
    if "patch_embed.proj.weight" in converted:
        converted["patch_embed.proj.weight"] = resample_patch_kernel(converted["patch_embed.proj.weight"], patch_size)
    return converted, kind, dropped


def load_vit_weights(vit_module: nn.Module, path: str | Path, strict: bool = True) -> VitLoadReport:
    """Load a Depth-Anything V1 or DINOv2 checkpoint file into `vit_module` (a `DinoVisionTransformer`).

    Shape mismatches always fail; with `strict` (default) any missing or unexpected key fails too, listing them.
    The module's `requires_grad` flags are kept (a frozen ViT stays frozen).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ViT weights file not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unpickling failure means "not a checkpoint"
        raise VitWeightsError(f"{path}: cannot read as a torch checkpoint ({error})") from error
    if not isinstance(raw, Mapping):
        raise VitWeightsError(f"{path}: expected a state_dict (mapping of tensors), got {type(raw).__name__}")
    try:
        converted, kind, dropped = convert_vit_state_dict(raw, patch_size=vit_module.patch_embed.proj.kernel_size[0])
    except VitWeightsError as error:
        raise VitWeightsError(f"{path}: {error}") from error

    expected = vit_module.state_dict()
    mismatched = [
        f"{key} {tuple(value.shape)} vs {tuple(expected[key].shape)}"
        for key, value in converted.items()
        if key in expected and tuple(value.shape) != tuple(expected[key].shape)
    ]
    if mismatched:
        raise VitWeightsError(f"{path}: shape mismatch (checkpoint vs model): {', '.join(mismatched)}")
    missing = [key for key in expected if key not in converted]
    unexpected = [key for key in converted if key not in expected]
    if strict and (missing or unexpected):
        raise VitWeightsError(
            f"{path}: {kind} checkpoint does not match the ViT: missing {missing}, unexpected {unexpected}"
        )
    vit_module.load_state_dict({key: value for key, value in converted.items() if key in expected}, strict=False)
    return VitLoadReport(
        source=kind, loaded=len(converted) - len(unexpected), missing=missing, unexpected=unexpected, dropped=dropped
    )
