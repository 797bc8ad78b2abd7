"""`s3 ablations`: the presets of the ablation table, their components and parameter counts."""

from __future__ import annotations

import sys
from typing import Literal

from s3.model.factory import build_network
from s3.model.registry import COMPONENTS, PRESETS


def parameter_counts(preset: str, size: str) -> tuple[int, int]:
    network = build_network(preset, size)
    total = sum(p.numel() for p in network.parameters())
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    return total, trainable


def ablations_command(size: Literal["base", "small", "tiny"] = "base", counts: bool = True) -> int:
    """List the ablation presets (Table 3 rows), their components and parameter counts.

    Args:
        size: network size whose parameters are counted
        counts: build every network to count its parameters (`--no_counts` skips it)
    """
    print("components:")
    for name, text in COMPONENTS.items():
        print(f"  {name:<21} {text}")
    print(f"\npresets (size {size}):")
    header = f"  {'preset':<21} {'Table 3 row':<22} {'total params':>14} {'trainable':>14}  components"
    print(header)
    previous: frozenset[str] = frozenset()
    for preset in PRESETS.values():
        added = sorted(preset.components - previous)
        previous = preset.components
        total, trainable = parameter_counts(preset.name, size) if counts else ("-", "-")
        columns = f"{total:>14,} {trainable:>14,}" if counts else f"{'-':>14} {'-':>14}"
        components = ", ".join(sorted(preset.components)) or "(baseline)"
        print(f"  {preset.name:<21} {preset.row:<22} {columns}  {components}" + (f"  [+{added[0]}]" if added else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`s3 ablations ...` (argv without the `ablations`); returns the exit code."""
    from s3.cli import main as s3_main

    return s3_main(["ablations", *(sys.argv[1:] if argv is None else argv)])
