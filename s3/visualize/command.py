"""`s3 visualize features`: the feature maps of a network's blocks on one frame (the seed's Figure 1)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import torch

from s3.errors import S3Error
from s3.io.atomic import atomic_path
from s3.visualize.blocks import available_blocks, default_blocks, select_blocks
from s3.visualize.features import CapturedFeatures, capture_features
from s3.visualize.figure import FigureLayout, FigureRow, draw_feature_figure
from s3.visualize.frames import FrameInputError, centre_box_mask, fit_to_network, read_frame, read_index_mask

__all__ = [
    "FrameInputError",
    "RowSpec",
    "VisualizeError",
    "features_command",
    "parse_compare",
    "visualize_features",
]

RANDOM_WEIGHTS = "random weights"


class VisualizeError(S3Error, ValueError):
    """Bad options of `s3 visualize features` (the message names the option)."""


RowSpec = tuple[str, Path | None]


def parse_compare(items: list[str]) -> list[RowSpec]:
    """`PRESET` or `PRESET=CHECKPOINT` items -> (preset, checkpoint or None)."""
    rows: list[RowSpec] = []
    for item in items:
        preset, _, checkpoint = item.partition("=")
        rows.append((preset, Path(checkpoint) if checkpoint else None))
    return rows


def _build(preset: str, size: str, checkpoint: Path | None, device: str, seed: int) -> torch.nn.Module:
    """The network of `preset` in eval mode on `device`; random weights drawn with `seed` when no checkpoint."""
    from s3.model import build_network

    torch.manual_seed(seed)
    return build_network(preset, size, weights=checkpoint).to(device).eval()


def visualize_features(
    preset: str = "s3",
    size: Literal["base", "small", "tiny"] = "base",
    checkpoint: Path | None = None,
    frame: Path | None = None,
    video: Path | None = None,
    frame_index: int = 0,
    mask: Path | None = None,
    blocks: list[str] | None = None,
    compare: list[str] | None = None,
    output: Path = Path("feature_maps.png"),
    save_tensors: Path | None = None,
    style: Literal["pca", "norm"] = "pca",
    height: int = 480,
    device: str = "cpu",
    seed: int = 0,
) -> FigureLayout:
    """Draws the feature maps of a network's blocks on one frame: one panel per block, the frame and mask alongside.

    Args:
        preset: the network's ablation preset (cutie, cutie_dq, cutie_dq_vit, cutie_dq_vit_spatial, s3).
        size: network size (base, small, tiny).
        checkpoint: network weights; without one the network has random weights (said in the figure).
        frame: an image file to look at.
        video: a video file or frame folder (instead of --frame); --frame_index picks the frame.
        frame_index: the frame of --video.
        mask: index PNG of the frame's objects (object 1 is the one read); default: a centre box.
        blocks: block names or glob patterns (e.g. vit.* key); default: a Figure-1 selection per preset.
            Names per preset: see s3/visualize/blocks.py or README "Looking inside".
        compare: several presets in one figure, one row each: PRESET or PRESET=CHECKPOINT (replaces --preset and
            --checkpoint).
        output: the PNG to write.
        save_tensors: also write the captured raw tensors ({row label: {block: tensor}}) to this .pt file.
        style: pca (three principal components as RGB) or norm (channel RMS heat maps).
        height: frame height fed to the network (rounded to a multiple of 32; aspect kept).
        device: torch device (cpu, cuda).
        seed: seed of the random weights.

    Returns the figure's layout (rows and their panels).
    """
    rows_spec = parse_compare(compare) if compare else [(preset, checkpoint)]
    if compare and checkpoint is not None:
        raise VisualizeError("--checkpoint does not apply with --compare; write PRESET=CHECKPOINT items instead")
    for _, row_checkpoint in rows_spec:
        if row_checkpoint is not None and not row_checkpoint.is_file():
            raise VisualizeError(f"--checkpoint: file not found: {row_checkpoint}")
    image_array = read_frame(frame, video, frame_index)
    if mask is not None:
        index_mask = read_index_mask(mask, image_array.shape[:2])
    else:
        index_mask = centre_box_mask(image_array.shape[:2])
    image, masks = fit_to_network(image_array, index_mask, height)
    mask_label = "mask (object 1 read)" if mask is not None else "no --mask: centre box"

    networks = [_build(name, size, row_checkpoint, device, seed) for name, row_checkpoint in rows_spec]
    tables = [available_blocks(network) for network in networks]
    chosen = select_blocks(tables, blocks, [default_blocks(network) for network in networks])

    rows: list[FigureRow] = []
    any_random = False
    for (name, row_checkpoint), network, table, names in zip(rows_spec, networks, tables, chosen, strict=True):
        weights = RANDOM_WEIGHTS if row_checkpoint is None else row_checkpoint.name
        any_random |= row_checkpoint is None
        captured: CapturedFeatures = capture_features(network, image, masks, [n for n in names if n in table])
        rows.append(FigureRow(f"{name} ({weights})", captured, names, mask_label))
    source = str(frame) if frame is not None else f"{video} frame {frame_index}"
    title = f"feature maps of {source} ({style}, size {size})"
    if any_random:
        title += " — RANDOM WEIGHTS: untrained features"
    layout = draw_feature_figure(rows, output, style=style, title=title)
    if save_tensors is not None:
        with atomic_path(save_tensors) as temporary:
            torch.save({row.label: dict(row.features.tensors) for row in rows}, temporary)
    return layout


# `s3 visualize features` in the CLI tree: `visualize_features`' typed arguments (through `__wrapped__`) and
# docstring (its --help), printing each row's panels and the figure's path; returns the exit code.
@functools.wraps(visualize_features, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
def features_command(**options: Any) -> int:
    layout = visualize_features(**options)
    for row in layout.rows:
        print(f"{row.label}: {len(row.panels)} panels ({', '.join(row.panels)})")
    print(f"wrote {layout.path}")
    return 0


features_command.__annotations__ = {**visualize_features.__annotations__, "return": "int"}
