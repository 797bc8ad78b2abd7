"""The named blocks whose outputs `s3 visualize features` can show, found from the network's structure.

Blocks are located by attribute names (`pixel_encoder.vit_module.blocks`, `pixel_encoder.interactions`, ...), not by
module types, so the table is the same for the reference modules and for an inference form that keeps the names.

| name                        | presets              | what it is                                                 |
|-----------------------------|----------------------|------------------------------------------------------------|
| `resnet.stem`               | cutie, cutie_dq      | conv1 + max-pool, stride 4                                 |
| `resnet.res2/layer2/layer3` | cutie, cutie_dq      | the ResNet stages, strides 4 / 8 / 16 (= f4 / f8 / f16)    |
| `vit.block{i}`              | the three ViT rows   | patch tokens after ViT block i (stride 16)                 |
| `spatial_prior.s4/s8/s16`   | +Spatial, s3         | the spatial prior module's projected maps                  |
| `stage{i}.semantic`         | s3                   | stage i's spatial tokens after the semantic read (s8 part) |
| `stage{i}.spatial`          | +Spatial, s3         | stage i's tokens after spatial dependency modelling        |
| `f16` / `f8` / `f4`         | all                  | the pixel encoder's assembled multi-scale maps             |
| `key`                       | all                  | the memory key of the frame (stride 16)                    |
| `readout`                   | all                  | the object transformer's output for the first object       |
| `attention`                 | all                  | the last object-transformer block's read of the pixels by  |
|                             |                      | its foreground queries (Cutie: attention weights; DQ: the  |
|                             |                      | cosine similarity its hard selection maximises)            |

`available_blocks(network)` lists the exact names of one network (its depth and stage count decide `i`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from torch import nn

from s3.errors import S3Error

__all__ = ["Block", "UnknownBlockError", "available_blocks", "default_blocks", "select_blocks"]

# How a block's output becomes a C h w map (see `s3.visualize.features.to_map`):
#   map: B C h w; vit_tokens: B ([CLS] + h·w) C; spatial_tokens: B (4hw + hw) C, the stride-8 part is shown;
#   objects: B N C h w, the first object is shown; attention: the object transformer's pixel read (see features).
Layout = Literal["map", "vit_tokens", "spatial_tokens", "objects", "attention"]
# Which pass of `capture_features` computes the block: the pixel encoder's own call or the memory read.
Phase = Literal["encoder", "memory"]


class UnknownBlockError(S3Error, ValueError):
    """A requested block name that the network does not have (the message lists the valid names)."""


@dataclass(frozen=True)
class Block:
    """One capturable stage output.

    Attributes:
        name: the user-facing name (`vit.block3`, `stage1.semantic`, `key`, ...).
        module: dotted attribute path of the module whose forward output is captured.
        output: index into a tuple / list output, or None for the output itself.
        layout: how the tensor becomes a map (see `Layout`).
        phase: `encoder` blocks come from the pixel encoder's own call (unfolded maps), `memory` blocks from the
            network's stages reading a memory made from the frame and its mask.
        description: one line for the table and the figure.
    """

    name: str
    module: str
    output: int | None
    layout: Layout
    phase: Phase
    description: str


def _has(network: nn.Module, path: str) -> bool:
    module: object = network
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return False
    return True


def available_blocks(network: nn.Module) -> dict[str, Block]:
    """Every block of `network`, in forward order, keyed by name."""
    blocks: list[Block] = []
    encoder = network.pixel_encoder
    if _has(encoder, "res2"):
        blocks.append(Block("resnet.stem", "pixel_encoder.maxpool", None, "map", "encoder", "conv1 + max-pool (s4)"))
        for name, stride in (("res2", 4), ("layer2", 8), ("layer3", 16)):
            blocks.append(
                Block(f"resnet.{name}", f"pixel_encoder.{name}", None, "map", "encoder", f"ResNet {name} (s{stride})")
            )
    if _has(encoder, "spm"):
        for index, stride in ((1, 4), (2, 8), (3, 16)):
            blocks.append(
                Block(
                    f"spatial_prior.s{stride}",
                    f"pixel_encoder.spm.fc{index}",
                    None,
                    "map",
                    "encoder",
                    f"spatial prior (s{stride})",
                )
            )
    if _has(encoder, "vit_module.blocks"):
        for index in range(len(encoder.vit_module.blocks)):
            blocks.append(
                Block(
                    f"vit.block{index}",
                    f"pixel_encoder.vit_module.blocks.{index}",
                    None,
                    "vit_tokens",
                    "encoder",
                    f"ViT block {index} tokens",
                )
            )
    if _has(encoder, "interactions"):
        for index, stage in enumerate(encoder.interactions):
            prefix = f"pixel_encoder.interactions.{index}"
            if getattr(stage, "read_from_cls", None) is not None:
                blocks.append(
                    Block(
                        f"stage{index}.semantic",
                        f"{prefix}.read_from_cls",
                        None,
                        "spatial_tokens",
                        "encoder",
                        f"stage {index} after the semantic read",
                    )
                )
            blocks.append(
                Block(
                    f"stage{index}.spatial",
                    prefix,
                    None,
                    "spatial_tokens",
                    "encoder",
                    f"stage {index} after spatial dependency modelling",
                )
            )
    for index, name in enumerate(("f16", "f8", "f4")):
        blocks.append(Block(name, "pixel_encoder", index, "map", "encoder", f"encoder output {name}"))
    blocks.append(Block("key", "key_proj", 0, "map", "memory", "memory key (s16)"))
    blocks.append(Block("readout", "object_transformer", 0, "objects", "memory", "object transformer readout"))
    last = len(network.object_transformer.blocks) - 1
    blocks.append(
        Block(
            "attention",
            f"object_transformer.blocks.{last}.read_from_pixel",
            None,
            "attention",
            "memory",
            "foreground queries' read of the pixels",
        )
    )
    return {block.name: block for block in blocks}


def default_blocks(network: nn.Module) -> list[str]:
    """The figure's blocks when none are asked for: the last ViT block of every stage (or every ResNet stage),
    the spatial prior, every interaction stage, the assembled maps, key, readout and attention."""
    table = available_blocks(network)
    encoder = network.pixel_encoder
    names: list[str] = []
    if "resnet.stem" in table:
        names += ["resnet.stem", "resnet.res2", "resnet.layer2", "resnet.layer3"]
    else:
        stage_blocks = getattr(encoder, "stage_blocks", None)
        depth = len(encoder.vit_module.blocks)
        last_blocks = [last for _, last in stage_blocks] if stage_blocks else [depth // 2 - 1, depth - 1]
        names += [f"vit.block{index}" for index in last_blocks]
        if "spatial_prior.s8" in table:
            names.append("spatial_prior.s8")
        names += [name for name in table if name.startswith("stage")]
        names += ["f16", "f8", "f4"]
    names += ["key", "readout", "attention"]
    return names


def select_blocks(
    tables: Sequence[dict[str, Block]], requested: Sequence[str] | None, defaults: Sequence[Sequence[str]]
) -> list[list[str]]:
    """The block names of each row (one table per network): `requested` names or glob patterns (`vit.*`) in the
    given order, or each row's defaults. A name no row has is an `UnknownBlockError` listing the valid names; with
    several rows a name only some rows have is kept (the others draw an empty panel)."""
    if not requested:
        return [list(names) for names in defaults]
    known = list(dict.fromkeys(name for table in tables for name in table))
    chosen: list[str] = []
    for pattern in requested:
        matches = fnmatch.filter(known, pattern) if any(c in pattern for c in "*?[") else [pattern]
        if not matches or matches[0] not in known:
            raise UnknownBlockError(f"--blocks: unknown block {pattern!r}; valid names: {', '.join(known)}")
        chosen += [name for name in matches if name not in chosen]
    return [list(chosen) for _ in tables]
