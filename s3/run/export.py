"""`s3 export`: a training checkpoint -> a weights-only file for `build_network(weights=...)` and `s3 segment`.

    s3 export CHECKPOINT OUTPUT.pth

CHECKPOINT is a Lightning checkpoint file or a DeepSpeed checkpoint folder (its ZeRO shards are consolidated).
The output is `{"network": state_dict, "preset": ..., "size": ..., "global_step": ...}`, which
`s3.model.weights.read_state_dict` recognises by its `network` entry.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from s3.io.atomic import atomic_path
from s3.io.output_paths import ensure_output_file
from s3.model.weights import check_finite, extract_network_state
from s3.run.checkpoints import read_checkpoint_metadata
from s3.run.errors import RunConfigError


def load_training_state(path: Path) -> dict[str, Any]:
    """The full `state_dict`-bearing checkpoint dict (DeepSpeed folders consolidated to fp32 on CPU)."""
    if path.is_dir():
        from lightning.pytorch.utilities.deepspeed import convert_zero_checkpoint_to_fp32_state_dict

        with tempfile.TemporaryDirectory() as scratch:
            single = Path(scratch) / "consolidated.ckpt"
            convert_zero_checkpoint_to_fp32_state_dict(str(path), str(single))
            return torch.load(single, map_location="cpu", weights_only=False)
    return torch.load(path, map_location="cpu", weights_only=False)


def export_weights(checkpoint: str | Path, output: str | Path) -> Path:
    """Writes the network weights of `checkpoint` to `output` (atomically); returns the output path."""
    checkpoint, output = Path(checkpoint), Path(output)
    metadata = read_checkpoint_metadata(checkpoint)
    state = load_training_state(checkpoint)
    network = extract_network_state(state, source=str(checkpoint))
    if not network:
        raise RunConfigError(f"{checkpoint}: no `network.` weights in its state_dict")
    check_finite(network, str(checkpoint))
    hparams = metadata["hyper_parameters"]
    payload = {
        "network": {k: v.detach().clone().contiguous() for k, v in network.items()},
        "preset": hparams.get("preset"),
        "size": hparams.get("size"),
        "global_step": metadata["global_step"],
    }
    with atomic_path(output) as temporary:
        torch.save(payload, temporary)
    return output


def export_command(checkpoint: Path, output: Path) -> int:
    """Write a weights-only file (`{"network": state_dict, "preset", "size", "global_step"}`) from a training
    checkpoint, for `build_network(weights=...)` and `s3 segment --checkpoint`.

    Args:
        checkpoint: Lightning checkpoint file or DeepSpeed checkpoint folder (its ZeRO shards are consolidated)
        output: weights file to write (.pth)
    """
    ensure_output_file(output, "OUTPUT")
    path = export_weights(checkpoint, output)
    count = len(torch.load(path, map_location="cpu", weights_only=True)["network"])
    print(f"wrote {path} ({count} tensors)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`s3 export CHECKPOINT OUTPUT` (argv without the `export`); returns the exit code."""
    from s3.cli import main as s3_main

    return s3_main(["export", *(sys.argv[1:] if argv is None else argv)])
