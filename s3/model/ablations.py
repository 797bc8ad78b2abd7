"""`s3 ablations`: the presets of the ablation table, their components and parameter counts."""

from __future__ import annotations

import argparse

from s3.model.factory import build_network
from s3.model.registry import COMPONENTS, PRESETS


def parameter_counts(preset: str, size: str) -> tuple[int, int]:
    network = build_network(preset, size)
    total = sum(p.numel() for p in network.parameters())
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    return total, trainable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s3 ablations", description="list the ablation presets (Table 3 rows)")
    parser.add_argument("--size", default="base", choices=["base", "small", "tiny"])
    parser.add_argument("--no-counts", action="store_true", help="skip building the networks to count parameters")
    args = parser.parse_args(argv)
    print("components:")
    for name, text in COMPONENTS.items():
        print(f"  {name:<21} {text}")
    print(f"\npresets (size {args.size}):")
    header = f"  {'preset':<21} {'Table 3 row':<22} {'total params':>14} {'trainable':>14}  components"
    print(header)
    previous: frozenset[str] = frozenset()
    for preset in PRESETS.values():
        added = sorted(preset.components - previous)
        previous = preset.components
        total, trainable = ("-", "-") if args.no_counts else parameter_counts(preset.name, args.size)
        counts = f"{total:>14,} {trainable:>14,}" if not args.no_counts else f"{'-':>14} {'-':>14}"
        components = ", ".join(sorted(preset.components)) or "(baseline)"
        print(f"  {preset.name:<21} {preset.row:<22} {counts}  {components}" + (f"  [+{added[0]}]" if added else ""))
    return 0
