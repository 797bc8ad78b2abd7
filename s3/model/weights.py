"""Reading network weights from official Cutie files, Cutie training checkpoints and our Lightning checkpoints.

Conversions are pure `state_dict -> state_dict` functions; loading is strict and reports every mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from s3.errors import S3Error

LIGHTNING_PREFIX = "network."


class WeightsMismatchError(S3Error, ValueError):
    """A weights file whose keys or shapes do not fit the network."""


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Loads a weights file and returns a flat network state_dict, recognising its layout by its keys.

    Accepted: a plain state_dict (official Cutie/S3 `.pth`), a Cutie training checkpoint `{it, weights, ...}`,
    a dict with a `model` entry, a Lightning checkpoint (`state_dict` with `network.` prefixes) or our exported
    weights-only file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means "not a weights file"
        raise WeightsMismatchError(f"{path}: cannot be read as a PyTorch weights file ({error})") from error
    if not isinstance(obj, Mapping):
        raise WeightsMismatchError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    return extract_network_state(obj, source=str(path))


def extract_network_state(obj: Mapping, source: str = "checkpoint") -> dict[str, Tensor]:
    """Finds the network's state_dict inside a checkpoint-like mapping (see `read_state_dict`)."""
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        inner = obj["state_dict"]
        return {k[len(LIGHTNING_PREFIX) :]: v for k, v in inner.items() if k.startswith(LIGHTNING_PREFIX)}
    for key in ("weights", "model", "network"):
        if key in obj and isinstance(obj[key], Mapping):
            return dict(obj[key])
    if all(isinstance(v, Tensor) for v in obj.values()):
        return dict(obj)
    raise WeightsMismatchError(f"{source}: no network weights found (keys: {sorted(obj)[:8]}...)")


def single_to_multi_object(state: Mapping[str, Tensor], sensory_dim: int, *, zero_init: bool = False) -> dict:
    """Adds the "others" input channel to a single-object (static pre-training) checkpoint.

    `mask_encoder.conv1.weight` 64×4×7×7 -> 64×5×7×7 and `pixel_fuser.sensory_compress.weight` V×(S+1) ->
    V×(S+2), the new channel orthogonally initialised (or zeros).
    """
    out = dict(state)
    conv1 = out.get("mask_encoder.conv1.weight")
    if conv1 is not None and conv1.shape[1] == 4:
        out["mask_encoder.conv1.weight"] = torch.cat([conv1, _new_channel(conv1, zero_init)], dim=1)
    compress = out.get("pixel_fuser.sensory_compress.weight")
    if compress is not None and compress.shape[1] == sensory_dim + 1:
        out["pixel_fuser.sensory_compress.weight"] = torch.cat([compress, _new_channel(compress, zero_init)], dim=1)
    return out


def _new_channel(weight: Tensor, zero_init: bool) -> Tensor:
    extra = torch.zeros(weight.shape[0], 1, *weight.shape[2:], dtype=weight.dtype)
    if not zero_init:
        nn.init.orthogonal_(extra)
    return extra


def check_compatible(network: nn.Module, state: Mapping[str, Tensor], source: str, *, strict: bool = True) -> None:
    """Raises `WeightsMismatchError` listing missing / unexpected keys and shape mismatches."""
    own = network.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong_shape = [
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if strict and missing:
        problems.append(f"missing keys ({len(missing)}): {_preview(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_preview(unexpected)}")
    if wrong_shape:
        problems.append(f"shape mismatches ({len(wrong_shape)}): {_preview(wrong_shape)}")
    if problems:
        raise WeightsMismatchError(f"{source} does not fit the network: " + "; ".join(problems))


def _preview(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")


def load_network_weights(
    network: nn.Module, weights: str | Path | Mapping[str, Tensor], *, strict: bool = True
) -> None:
    """Loads a weights file (or state_dict) into `network`, converting single-object checkpoints first."""
    source = str(weights) if isinstance(weights, str | Path) else "state_dict"
    state = read_state_dict(weights) if isinstance(weights, str | Path) else dict(weights)
    if not getattr(network, "single_object", False):
        state = single_to_multi_object(state, getattr(network, "sensory_dim", 256))
    check_compatible(network, state, source, strict=strict)
    network.load_state_dict(state, strict=strict)
