"""Index masks on disk: the DAVIS palette, reading index PNGs and writing paletted PNGs (atomically).

An index mask is an H W uint8 array whose pixel value is the object id (0 = background). On disk it is a
single-channel PNG: paletted (mode P, the colours cosmetic) or grayscale (mode L). DAVIS, YouTube-VOS, MOSE,
OVIS-VOS, LVOS and the converted BURST masks use the PASCAL-VOC colour map, which `voc_palette` builds;
submissions and `s3 segment` write it unless given a video's own palette. An RGB PNG would silently be a
different thing (colours, not ids), so reading rejects it.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from s3.io.atomic import atomic_path
from s3.io.errors import MaskFileNotFoundError, MaskFormatError
from s3.io.png_decode import decode_index_png

__all__ = [
    "DAVIS_PALETTE",
    "INDEX_MODES",
    "encode_index_png",
    "index_mask_image",
    "palette_colours",
    "read_index_mask",
    "read_palette",
    "voc_palette",
    "write_index_mask",
]

INDEX_MODES = ("P", "L")


def voc_palette(num_colors: int = 256) -> np.ndarray:
    """The PASCAL-VOC / DAVIS colour map as a `num_colors` 3 uint8 array (id 1 = (128, 0, 0), ...).

    Colour k spreads the bits of k over the high bits of the three channels (bit 0 -> red, 1 -> green, 2 -> blue,
    then the next bit of each channel), so low ids get far-apart colours.
    """
    remaining = np.arange(num_colors)
    palette = np.zeros((num_colors, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((remaining >> channel) & 1) << (7 - bit)
        remaining >>= 3
    return palette.astype(np.uint8)


DAVIS_PALETTE: bytes = voc_palette().tobytes()  # 768 bytes: R G B of ids 0..255


def palette_colours(palette: bytes | None = None) -> np.ndarray:
    """256 3 uint8 colour table of a raw palette (zero-padded when shorter; DAVIS when None), indexable by id."""
    colours = np.frombuffer(palette or DAVIS_PALETTE, dtype=np.uint8)
    return np.pad(colours, (0, max(0, 768 - colours.size)))[:768].reshape(256, 3)


def read_index_mask(path: str | Path, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """H W uint8 object ids from a paletted or grayscale PNG.

    Raises:
        MaskFileNotFoundError: the file does not exist.
        MaskFormatError: not an image, not mode P/L, or not of `expected_hw` size.
    """
    path = Path(path)
    try:
        mask = decode_index_png(path.read_bytes())
        if mask is None:  # not the common 8-bit P/L case: let PIL decode it (or explain what is wrong)
            with Image.open(path) as image:
                if image.mode not in INDEX_MODES:
                    raise MaskFormatError(
                        f"{path}: expected a single-channel index PNG (mode P or L, pixel = object id), "
                        f"got mode {image.mode}",
                        mode=image.mode,
                    )
                mask = np.array(image)
    except FileNotFoundError as error:
        raise MaskFileNotFoundError(f"{path}: file not found") from error
    except (UnidentifiedImageError, OSError) as error:
        raise MaskFormatError(f"{path}: not a readable image ({error})") from error
    if expected_hw is not None and mask.shape != tuple(expected_hw):
        raise MaskFormatError(
            f"{path}: size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from the expected "
            f"{expected_hw[1]}x{expected_hw[0]}"
        )
    return mask


def read_palette(path: str | Path) -> bytes | None:
    """The raw RGB palette of a paletted PNG (to reuse a video's input palette), or None for mode L."""
    with Image.open(path) as image:
        palette = image.getpalette()
    return None if palette is None else bytes(palette)


def index_mask_image(mask: np.ndarray, palette: bytes | None = None) -> Image.Image:
    """A mode-P image of an H W index mask (ids 0..255), coloured by `palette` (DAVIS when None)."""
    if mask.ndim != 2:
        raise MaskFormatError(f"index mask must be H W, got shape {mask.shape}")
    if mask.size and (int(mask.min()) < 0 or int(mask.max()) > 255):
        raise MaskFormatError(f"index mask ids must lie in 0..255, got {int(mask.min())}..{int(mask.max())}")
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="P")
    image.putpalette(DAVIS_PALETTE if palette is None else palette)
    return image


def encode_index_png(mask: np.ndarray, palette: bytes | None = None) -> bytes:
    """PNG bytes of an H W index mask (for writing straight into a zip archive)."""
    buffer = BytesIO()
    index_mask_image(mask, palette).save(buffer, format="PNG")
    return buffer.getvalue()


def write_index_mask(path: str | Path, mask: np.ndarray, palette: bytes | None = None) -> Path:
    """Write an H W index mask as a paletted PNG, atomically; returns `path`. Bad masks fail before any file."""
    image = index_mask_image(mask, palette)
    with atomic_path(path) as temporary:
        image.save(temporary, format="PNG")
    return Path(path)
