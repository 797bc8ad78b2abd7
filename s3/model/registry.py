"""The ablation registry: network components, presets (the rows of the paper's Table 3) and sizes.

Each preset adds exactly one component to the previous row. A component may require another (the spatial block
sits on the ViT; the semantic cross-attention lives inside the spatial block's interaction stages).

This file is the table; the architecture of each row is data: `configs/model/<preset>.yaml` (the typed
constructor arguments of the network's parts) and `configs/model/size/<size>.yaml` (the size overrides), read by
`s3.model.network_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3.model.errors import ConfigurationError

COMPONENTS: dict[str, str] = {
    "discriminative_query": "object transformer reads pixels with the hard-selection discriminative query (DQ_CA)",
    "vit": "frozen Depth-Anything ViT-B/16 pixel encoder (simple feature pyramid without the spatial block)",
    "spatial": "spatial prior module + deformable extractors around the ViT (ViT-Adapter style)",
    "semantic": "CLS / mean-token cross-attention in every interaction stage (semantic embedding)",
}

REQUIRES: dict[str, tuple[str, ...]] = {"spatial": ("vit",), "semantic": ("spatial",)}


@dataclass(frozen=True)
class Preset:
    name: str  # also the name of its file, configs/model/<name>.yaml
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

# Sizes, each a file configs/model/size/<name>.yaml applied on top of a row: `base` (the rows as written),
# `small` (Cutie-small's ResNet-18) and `tiny`, the CPU demo / test size (not an official model).
SIZES: tuple[str, ...] = ("base", "small", "tiny")

# Object-transformer sizes for `build_network(transformer=...)`: Cutie's (3 blocks, 16 queries) and the full S3
# model's (5, 8). The ViT rows' files use S3's so that they differ from the next row only in the pixel encoder
# (the release leaves this undocumented); a test checks the rows' files against this table.
TRANSFORMER_SIZES: dict[str, dict[str, int]] = {
    "cutie": {"num_blocks": 3, "num_queries": 16},
    "s3": {"num_blocks": 5, "num_queries": 8},
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigurationError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name]


def get_size(name: str) -> dict[str, Any]:
    """The size override of `name` (its YAML file's content); an unknown size is a `ConfigurationError`."""
    if name not in SIZES:
        raise ConfigurationError(f"unknown network size {name!r}; available: {', '.join(SIZES)}")
    from s3.model.network_config import read_size_file

    return read_size_file(name)


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


def row_for_components(components: frozenset[str]) -> Preset:
    """The row whose pixel encoder matches `components` (the discriminative query is a switch on any row): the
    exact row when there is one, else the row with the same encoder components."""
    exact = [p for p in PRESETS.values() if p.components == components]
    if exact:
        return exact[0]
    encoder = components - {"discriminative_query"}
    return next(p for p in PRESETS.values() if p.components - {"discriminative_query"} == encoder)
