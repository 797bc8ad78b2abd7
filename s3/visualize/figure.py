"""Drawing captured blocks: one row per network, the frame and its mask first, then one panel per block.

Two styles:

* `pca`: each block's C h w map is projected on its own three principal components (shown as RGB). The scores
  are in units of the block's first component's standard deviation, and one clip range (±2.5σ) maps them to
  colours for the whole row, so saturation means the same in every panel.
* `norm`: the channel RMS of each map (`sqrt(mean_c x²)`), with one colour scale (the row's 1st-99th
  percentile) and one colour bar per row, so panels of a row compare directly.

The attention panel is a score per pixel (attention weight or similarity), drawn with its own scale. The layout
(rows, panel names) is returned and written into the PNG's `Description` text chunk as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import matplotlib
import numpy as np
import torch
from torch import Tensor

from s3.io.atomic import atomic_path
from s3.visualize.features import CapturedFeatures, to_map

__all__ = ["FigureLayout", "FigureRow", "RowLayout", "draw_feature_figure", "pca_rgb", "read_layout"]

Style = Literal["pca", "norm"]
PCA_CLIP = 2.5  # σ of the first principal component mapped to the ends of the colour range
PANEL_INCHES = 1.9


@dataclass
class FigureRow:
    """One network's row: its label (preset and weights), its captured features and the blocks to draw (a block the
    network lacks is drawn as an empty panel)."""

    label: str
    features: CapturedFeatures
    blocks: list[str]
    mask_label: str = "mask (object 1 read)"


@dataclass
class RowLayout:
    label: str
    panels: list[str]  # the block names, in drawing order (frame and mask not included)
    empty: list[str] = field(default_factory=list)  # blocks drawn empty (not in this network)
    # the row's one colour scale of its feature panels: (low, high) channel RMS for `norm`, ±σ units for `pca`
    scale: list[float] = field(default_factory=list)


@dataclass
class FigureLayout:
    """What was drawn where: rows top to bottom, each with its block panels left to right."""

    path: str
    style: str
    rows: list[RowLayout]

    def panel_counts(self) -> dict[str, int]:
        """Row label -> number of block panels."""
        return {row.label: len(row.panels) for row in self.rows}

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def read_layout(path: str | Path) -> FigureLayout:
    """The layout stored in a figure written by `draw_feature_figure`."""
    from PIL import Image

    with Image.open(path) as image:
        data = json.loads(image.text["Description"])
    return FigureLayout(data["path"], data["style"], [RowLayout(**row) for row in data["rows"]])


def pca_rgb(feature: Tensor) -> Tensor:
    """C h w -> 3 h w scores on the top three principal components, in units of the first one's std (sign fixed
    so each component's third moment is positive, so colours do not flip at random between runs)."""
    channels, height, width = feature.shape
    x = feature.reshape(channels, -1).t().double()
    x = x - x.mean(dim=0, keepdim=True)
    covariance = x.t() @ x / max(x.shape[0] - 1, 1)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    count = min(3, channels)
    top = eigenvectors[:, -count:].flip(-1)
    scores = x @ top
    signs = torch.sign((scores**3).mean(dim=0))
    scores = scores * torch.where(signs == 0, torch.ones_like(signs), signs)
    scale = eigenvalues[-1].clamp(min=1e-12).sqrt()
    scores = (scores / scale).t().reshape(count, height, width)
    if count < 3:
        scores = torch.cat([scores, scores.new_zeros(3 - count, height, width)])
    return scores.float()


def channel_rms(feature: Tensor) -> Tensor:
    """C h w -> h w root mean square over channels."""
    return feature.pow(2).mean(dim=0).sqrt()


def _mask_overlay(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """H W 3 frame with the objects (N H W) tinted in the VOC palette's colours."""
    from s3.io.palette import voc_palette

    palette = voc_palette(masks.shape[0] + 1)[1:].astype(np.float32) / 255.0
    out = image.copy()
    for index in range(masks.shape[0]):
        alpha = 0.55 * masks[index][..., None]
        out = out * (1 - alpha) + palette[index] * alpha
    return out


def draw_feature_figure(
    rows: list[FigureRow],
    output: str | Path,
    style: Style = "pca",
    title: str = "",
    dpi: int = 80,
    max_columns: int = 10,
) -> FigureLayout:
    """Writes the PNG `output` with one row per entry of `rows` and returns its layout.

    A row with more than `max_columns` blocks wraps onto further lines (frame and mask only on its first line); the
    colour scale stays the row's.
    """
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if style not in ("pca", "norm"):
        raise ValueError(f"style must be 'pca' or 'norm', got {style!r}")
    output = Path(output)
    width = min(max_columns, max(len(row.blocks) for row in rows))
    lines = [max(1, -(-len(row.blocks) // width)) for row in rows]
    extra = 0.35 if style == "norm" else 0.0
    figure, axes = plt.subplots(
        sum(lines),
        2 + width,
        figsize=(PANEL_INCHES * (2 + width + extra), PANEL_INCHES * 0.75 * sum(lines) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    layouts = []
    first = 0
    for row, count in zip(rows, lines, strict=True):
        layouts.append(_draw_row(axes[first : first + count], row, style, figure))
        first += count
    figure.suptitle(title, fontsize=10)
    layout = FigureLayout(str(output), style, layouts)
    with atomic_path(output) as temporary:  # the temporary keeps the suffix, from which matplotlib picks the format
        figure.savefig(temporary, dpi=dpi, metadata={"Description": layout.to_json()})
    plt.close(figure)
    return layout


def _draw_row(row_axes: np.ndarray, row: FigureRow, style: Style, figure) -> RowLayout:  # noqa: ANN001
    """Draws one network's row on its lines of axes (`row_axes`: lines × columns)."""
    features = row.features
    image = features.image.permute(1, 2, 0).numpy()
    masks = features.mask.numpy()
    row_axes[0, 0].imshow(image)
    row_axes[0, 0].set_title(f"{row.label}\nframe", fontsize=8, loc="left")
    row_axes[0, 1].imshow(_mask_overlay(image, masks))
    row_axes[0, 1].set_title(row.mask_label, fontsize=8)
    block_axes = [axis for line in row_axes for axis in line[2:]]

    maps: dict[str, Tensor] = {}
    for name in row.blocks:
        if name in features.tensors:
            maps[name] = to_map(features.blocks[name], features.tensors[name], features.grid)
    feature_names = [name for name in maps if features.blocks[name].layout != "attention"]
    norm_range = None
    if style == "norm" and feature_names:
        pooled = torch.cat([channel_rms(maps[name]).flatten() for name in feature_names])
        norm_range = (float(torch.quantile(pooled, 0.01)), float(torch.quantile(pooled, 0.99)))
    image_artist = None
    empty = []
    for axis, name in zip(block_axes, row.blocks, strict=False):
        if name not in maps:
            empty.append(name)
            axis.set_title(f"{name}\n(not in this network)", fontsize=7)
            continue
        block = features.blocks[name]
        value = maps[name]
        shape = f"{tuple(features.tensors[name].shape[1:])}"
        if block.layout == "attention":
            axis.imshow(value[0].numpy(), cmap="magma", interpolation="nearest")
        elif style == "pca":
            rgb = (pca_rgb(value) / (2 * PCA_CLIP) + 0.5).clamp(0, 1)
            axis.imshow(rgb.permute(1, 2, 0).numpy(), interpolation="nearest")
        else:
            assert norm_range is not None
            image_artist = axis.imshow(
                channel_rms(value).numpy(), cmap="viridis", vmin=norm_range[0], vmax=norm_range[1]
            )
        axis.set_title(f"{name}\n{shape}", fontsize=7)
    for axis in row_axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
        if not axis.images:
            axis.set_frame_on(False)
    if image_artist is not None:
        figure.colorbar(image_artist, ax=list(row_axes.flat), fraction=0.02, pad=0.01, label="RMS")
    scale = list(norm_range) if norm_range is not None else [-PCA_CLIP, PCA_CLIP]
    return RowLayout(row.label, list(row.blocks), empty, scale)
