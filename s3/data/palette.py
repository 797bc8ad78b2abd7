"""Index-mask palettes and paletted-PNG writing.

DAVIS, MOSE, OVIS-VOS and the converted BURST masks use the PASCAL-VOC colour map: colour k is built by
spreading the bits of k over the high bits of the three channels. Palettes are cosmetic; only indices matter.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image


def voc_palette(num_colors: int = 256) -> np.ndarray:
    """The PASCAL-VOC / DAVIS colour map as a `num_colors x 3` uint8 array (id 1 = (128, 0, 0), ...)."""
    ids = np.arange(num_colors)
    palette = np.zeros((num_colors, 3), dtype=np.int64)
    remaining = ids.copy()
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((remaining >> channel) & 1) << (7 - bit)
        remaining >>= 3
    return palette.astype(np.uint8)


DAVIS_PALETTE: bytes = voc_palette().tobytes()


def index_mask_to_image(mask: np.ndarray, palette: bytes | None = None) -> Image.Image:
    """A paletted ("P" mode) PIL image from an H W integer index mask (values 0..255)."""
    if mask.ndim != 2:
        raise ValueError(f"index mask must be H W, got shape {mask.shape}")
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(f"index mask values must lie in 0..255, got {mask.min()}..{mask.max()}")
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette(palette if palette is not None else DAVIS_PALETTE)
    return image


def save_index_mask(mask: np.ndarray, path: str | Path, palette: bytes | None = None) -> None:
    """Write an H W index mask as a paletted PNG, atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    index_mask_to_image(mask, palette).save(tmp, format="PNG")
    os.replace(tmp, path)
