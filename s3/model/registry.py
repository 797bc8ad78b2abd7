"""The ablation registry: network components, presets (the rows of the paper's Table 3) and sizes.

Each preset adds exactly one component to the previous row. A component may require another (the spatial block
sits on the ViT; the semantic cross-attention lives inside the spatial block's interaction stages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3.errors import S3Error


class ConfigurationError(S3Error, ValueError):
    """An unknown preset / size / component or an impossible combination (the message says which)."""


COMPONENTS: dict[str, str] = {
    "discriminative_query": "object transformer reads pixels with the hard-selection discriminative query (DQ_CA)",
    "vit": "frozen Depth-Anything ViT-B/16 pixel encoder (simple feature pyramid without the spatial block)",
    "spatial": "spatial prior module + deformable extractors around the ViT (ViT-Adapter style)",
    "semantic": "CLS / mean-token cross-attention in every interaction stage (semantic embedding)",
}

REQUIRES: dict[str, tuple[str, ...]] = {"spatial": ("vit",), "semantic": ("spatial",)}


@dataclass(frozen=True)
class Preset:
    name: str
    components: frozenset[str]
    row: str  # the paper's Table 3 row


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("cutie", frozenset(), "Cutie"),
        Preset("cutie_dq", frozenset({"discriminative_query"}), "+Discriminative Query"),
        Preset("cutie_dq_vit", frozenset({"discriminative_query", "vit"}), "+ViT"),
        Preset("cutie_dq_vit_spatial", frozenset({"discriminative_query", "vit", "spatial"}), "+Spatial"),
        Preset("s3", frozenset({"discriminative_query", "vit", "spatial", "semantic"}), "+Semantic (S3)"),
    ]
}

# Object-transformer sizes: Cutie's (3 blocks, 16 queries) and the full S3 model's (5, 8). The ViT rows default to
# S3's so that they differ from the next row only in the pixel encoder (the release leaves this undocumented).
TRANSFORMER_SIZES: dict[str, dict[str, int]] = {
    "cutie": {"num_blocks": 3, "num_queries": 16},
    "s3": {"num_blocks": 5, "num_queries": 8},
}

# Widths of the Cutie parts and the ResNet depth. `tiny` is the CPU demo / test size (not an official model).
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

# ViT shapes per size (base and small both use ViT-B: only the ResNet differs between Cutie's sizes).
VIT_SIZES: dict[str, dict[str, Any]] = {
    "base": {},
    "small": {},
    "tiny": {
        "embed_dim": 64,
        "depth": 4,
        "num_heads": 2,
        "stage_blocks": ((0, 0), (1, 1), (2, 2), (3, 3)),
        "deform_num_heads": 2,
        "semantic_heads": 2,
        "conv_inplanes": 16,
    },
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigurationError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name]


def get_size(name: str) -> dict[str, Any]:
    if name not in SIZES:
        raise ConfigurationError(f"unknown network size {name!r}; available: {', '.join(SIZES)}")
    return dict(SIZES[name])


def resolve_components(preset: str, overrides: dict[str, bool] | None = None) -> frozenset[str]:
    """The preset's components with per-component switches applied; impossible combinations are refused."""
    components = set(get_preset(preset).components)
    for name, enabled in (overrides or {}).items():
        if name not in COMPONENTS:
            raise ConfigurationError(f"unknown component {name!r}; available: {', '.join(COMPONENTS)}")
        (components.add if enabled else components.discard)(name)
    for name in sorted(components):
        missing = [need for need in REQUIRES.get(name, ()) if need not in components]
        if missing:
            raise ConfigurationError(f"component {name!r} needs {', '.join(map(repr, missing))} (preset {preset!r})")
    return frozenset(components)
