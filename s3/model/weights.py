"""Reading network weights from official Cutie files, Cutie training checkpoints and our Lightning checkpoints.

Conversions are pure `state_dict -> state_dict` functions; loading is strict and reports every mismatch.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from s3.errors import S3Error

LIGHTNING_PREFIX = "network."


class WeightsMismatchError(S3Error, ValueError):
    """A weights file whose keys or shapes do not fit the network (or that is no weights file at all)."""


class NonFiniteWeightsError(WeightsMismatchError):
    """A weights file or checkpoint holding NaN/inf tensors."""


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Loads a weights file and returns a flat network state_dict, recognising its layout by its keys.

    Accepted: a plain state_dict (official Cutie/S3 `.pth`), a Cutie training checkpoint `{it, weights, ...}`,
    a dict with a `model` entry, a Lightning checkpoint (`state_dict` with `network.` prefixes) or our exported
    weights-only file.
    """
    return read_weights_file(path)[0]


def read_weights_file(path: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """`read_state_dict` plus what the file says about its network: `{"preset": ..., "size": ...}` where known
    (exports and Lightning checkpoints record them; plain state_dicts do not)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    obj = load_weights_object(path)
    if not isinstance(obj, Mapping):
        raise WeightsMismatchError(f"{path} is not a torch checkpoint / state dict (it holds a {type(obj).__name__})")
    return extract_network_state(obj, source=str(path)), network_identity(obj)


def load_weights_object(path: Path) -> object:
    """`torch.load` of a weights file, with one-line errors instead of torch's paragraphs."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) and is_torch_archive(path):
            # Full unpickling could run code from the file: never done for weights, `s3 export` does it knowingly.
            raise WeightsMismatchError(
                f"{path}: a torch checkpoint holding Python objects beyond tensors; write its weights with "
                "`s3 export CHECKPOINT OUT.pth` and load OUT.pth"
            ) from error
        raise WeightsMismatchError(f"{path} is not a torch checkpoint / state dict") from error
    except Exception as error:  # noqa: BLE001 - any failure means "not a weights file"
        raise WeightsMismatchError(f"{path} is not a torch checkpoint / state dict") from error


def is_torch_archive(path: Path) -> bool:
    """True for files written by `torch.save` (a zip archive with a `data.pkl` record)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())


def network_identity(obj: Mapping) -> dict[str, str]:
    """Preset and size recorded in a checkpoint-like mapping (export entries or Lightning hyper-parameters)."""
    sources = [obj, obj.get("hyper_parameters")]
    found: dict[str, str] = {}
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        for field in ("preset", "size"):
            value = source.get(field)
            if isinstance(value, str) and field not in found:
                found[field] = value
    return found


def nonfinite_tensor_names(state: Mapping[str, object]) -> list[str]:
    """Names of the floating-point tensors in `state` holding NaN or inf."""
    return [
        name
        for name, value in state.items()
        if isinstance(value, Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]


def check_finite(state: Mapping[str, object], source: str) -> None:
    """Refuses weights with NaN/inf: they come from a diverged run and would only produce garbage masks."""
    bad = nonfinite_tensor_names(state)
    if bad:
        raise NonFiniteWeightsError(
            f"{source}: {len(bad)} of {len(state)} tensors hold NaN/inf (e.g. {bad[0]}); these weights come from "
            "a diverged run, use an earlier checkpoint"
        )


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


def check_compatible(
    network: nn.Module,
    state: Mapping[str, Tensor],
    source: str,
    *,
    strict: bool = True,
    identity: Mapping[str, str] | None = None,
) -> None:
    """Raises `WeightsMismatchError`: for weights of another preset or size, one line saying which (from the file's
    record, else recognised by its shapes); otherwise the missing / unexpected keys and shape mismatches."""
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
    if not problems:
        return
    wanted = {"preset": getattr(network, "preset", None), "size": getattr(network, "size", None)}
    found = dict(identity or {}) or recognise_network(state, wanted)
    differs = [f for f in ("preset", "size") if found.get(f) and wanted[f] and found[f] != wanted[f]]
    if differs:
        have = ", ".join(f"{f} {found[f]}" for f in differs)
        asked = ", ".join(f"{f} {wanted[f]}" for f in differs)
        raise WeightsMismatchError(f"{source}: this checkpoint is {have}, the config asks for {asked}")
    raise WeightsMismatchError(f"{source} does not fit the network: " + "; ".join(problems))


def shapes_match(state: Mapping[str, Tensor], reference: Mapping[str, Tensor]) -> bool:
    return set(state) == set(reference) and all(tuple(state[k].shape) == tuple(reference[k].shape) for k in reference)


def recognise_network(state: Mapping[str, Tensor], wanted: Mapping[str, str | None]) -> dict[str, str]:
    """The (preset, size) whose network has exactly the keys and shapes of `state` (built on the meta device,
    no memory), among those differing from the configured network in one field; `{}` when none fits."""
    from s3.model.factory import build_network
    from s3.model.registry import PRESETS, SIZES

    preset, size = wanted.get("preset"), wanted.get("size")
    # One field differs at a time: the preset's other sizes, then the other presets at this size.
    candidates = [(preset, other) for other in SIZES if other != size and preset in PRESETS]
    candidates += [(other, size) for other in PRESETS if other != preset and size in SIZES]
    for candidate_preset, candidate_size in candidates:
        try:
            with torch.device("meta"):
                candidate = build_network(candidate_preset, candidate_size)
        except Exception:  # noqa: BLE001, S112 - a candidate that cannot be built is simply not the answer
            continue
        converted = state
        if not getattr(candidate, "single_object", False):
            converted = single_to_multi_object(state, getattr(candidate, "sensory_dim", 256))
        if shapes_match(converted, candidate.state_dict()):
            return {"preset": candidate_preset, "size": candidate_size}
    return {}


def _preview(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")


def load_network_weights(
    network: nn.Module, weights: str | Path | Mapping[str, Tensor], *, strict: bool = True
) -> None:
    """Loads a weights file (or state_dict) into `network`, converting single-object checkpoints first.

    Refuses files that are no checkpoint, weights with NaN/inf, and weights of another preset or size (saying
    which) with one-line `WeightsMismatchError`s.
    """
    source = str(weights) if isinstance(weights, str | Path) else "state_dict"
    identity: dict[str, str] = {}
    if isinstance(weights, str | Path):
        state, identity = read_weights_file(weights)
    else:
        state = dict(weights)
    check_finite(state, source)
    if not getattr(network, "single_object", False):
        state = single_to_multi_object(state, getattr(network, "sensory_dim", 256))
    check_compatible(network, state, source, strict=strict, identity=identity)
    network.load_state_dict(state, strict=strict)
