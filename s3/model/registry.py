"""The ablation registry: named network sizes, components and presets (the rows of the paper's Table 3).

A preset is a set of components; each row adds exactly one component to the previous one. Sizes set widths
and the ResNet depth; presets set the components; explicit overrides win over both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Widths and encoder depth. `tiny` is the CPU demo / test size (not an official model).
SIZES: dict[str, dict[str, Any]] = {
    "base": {"pixel_encoder_arch": "resnet50"},
    "small": {"pixel_encoder_arch": "resnet18"},
    "tiny": {
        "pixel_encoder_arch": "resnet18",
        "pixel_dim": 64,
        "key_dim": 32,
        "value_dim": 64,
        "sensory_dim": 64,
        "embed_dim": 64,
        "up_dims": (64, 32, 32),
        "ff_dim": 256,
        "num_heads": 4,
    },
}


@dataclass(frozen=True)
class Preset:
    """A named network configuration: its components and the network arguments they imply."""

    name: str
    components: frozenset[str]
    description: str
    network_args: tuple[tuple[str, Any], ...] = ()


PRESETS: dict[str, Preset] = {
    "cutie": Preset("cutie", frozenset(), "Cutie baseline: ResNet pixel encoder, masked-attention object transformer"),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name]


def get_size(name: str) -> dict[str, Any]:
    if name not in SIZES:
        raise ValueError(f"unknown network size {name!r}; available: {', '.join(SIZES)}")
    return dict(SIZES[name])
