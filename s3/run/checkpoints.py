"""Reading what a training checkpoint holds (preset, size, step) without building a network.

Lightning checkpoints are single files; DeepSpeed checkpoints are folders whose client state (hyper-parameters,
loops, callbacks) lives in `checkpoint/mp_rank_00_model_states.pt`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from s3.model.weights import check_finite
from s3.run.errors import CheckpointMismatchError, CheckpointNotFoundError, RunConfigError

LAST_PATTERN = re.compile(r"^last(-v?\d+)?\.ckpt$")
DEEPSPEED_CLIENT_STATE = Path("checkpoint") / "mp_rank_00_model_states.pt"


def find_last_checkpoint(folders: Iterable[Path]) -> Path | None:
    """The newest `last*.ckpt` (file or DeepSpeed folder) in `folders`, as Lightning's `ckpt_path="last"` picks."""
    candidates = [
        path for folder in folders if folder.is_dir() for path in folder.iterdir() if LAST_PATTERN.match(path.name)
    ]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def checkpoint_file(path: Path) -> Path:
    """The file that holds the hyper-parameters: the checkpoint itself, or a DeepSpeed folder's client state."""
    if path.is_dir():
        inner = path / DEEPSPEED_CLIENT_STATE
        if not inner.is_file():
            raise RunConfigError(f"{path}: a folder but not a DeepSpeed checkpoint (no {DEEPSPEED_CLIENT_STATE})")
        return inner
    return path


def load_checkpoint_object(path: Path) -> dict[str, Any]:
    """The checkpoint's top-level dict (memory-mapped, so large checkpoints are not read into memory)."""
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint {path} does not exist")
    file = checkpoint_file(path)
    try:
        # Lightning checkpoints pickle hyper-parameter dataclasses: full unpickling is needed.
        obj = torch.load(file, map_location="cpu", weights_only=False, mmap=True)
    except Exception as error:  # noqa: BLE001 - any failure means "not a checkpoint"
        raise RunConfigError(f"{path}: not a training checkpoint (torch cannot load it)") from error
    if not isinstance(obj, dict):
        raise RunConfigError(f"{path}: expected a training checkpoint (dict), got {type(obj).__name__}")
    return obj


def read_checkpoint_metadata(path: str | Path) -> dict[str, Any]:
    """Hyper-parameters and progress of a Lightning/DeepSpeed checkpoint: `{"hyper_parameters", "global_step",
    "epoch"}`."""
    obj = load_checkpoint_object(Path(path))
    return {
        "hyper_parameters": dict(obj.get("hyper_parameters") or {}),
        "global_step": obj.get("global_step"),
        "epoch": obj.get("epoch"),
    }


def check_checkpoint_matches(path: str | Path, preset: str | None, size: str | None) -> None:
    """Raises `CheckpointMismatchError` when the checkpoint was trained with another preset or size, and
    `NonFiniteWeightsError` when its weights hold NaN/inf (a diverged run: resuming it only trains garbage)."""
    obj = load_checkpoint_object(Path(path))
    hparams = dict(obj.get("hyper_parameters") or {})
    for field, wanted in (("preset", preset), ("size", size)):
        found = hparams.get(field)
        if wanted is not None and found is not None and found != wanted:
            raise CheckpointMismatchError(
                f"--ckpt_path {path}: checkpoint was trained with model.{field}={found!r}, "
                f"but the config has model.{field}={wanted!r}"
            )
    for key in ("state_dict", "module"):  # Lightning / DeepSpeed client state
        if isinstance(obj.get(key), Mapping):
            check_finite(obj[key], f"--ckpt_path {path}")
