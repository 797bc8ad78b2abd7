"""Reading and writing index-mask PNGs for evaluation and submissions.

Reading accepts only single-channel index images (PIL mode "P" or "L"): the pixel value is the object id.
An RGB PNG would silently be a different thing (colours, not ids), so it is rejected with a clear error.
Writing produces paletted PNGs (DAVIS / PASCAL-VOC palette unless told otherwise) atomically.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from s3.data.palette import DAVIS_PALETTE
from s3.evaluation.atomic import atomic_path
from s3.evaluation.errors import MaskFormatError, MissingFileError
from s3.evaluation.png_decode import decode_index_png

INDEX_MODES = ("P", "L")


def read_index_mask(path: str | Path, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """H W uint8 object ids from a paletted or grayscale PNG.

    Raises:
        MissingFileError: the file does not exist.
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
                        f"got mode {image.mode}"
                    )
                mask = np.array(image)
    except FileNotFoundError as error:
        raise MissingFileError(f"{path}: file not found") from error
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
    """A mode-P image of an H W index mask (ids 0..255)."""
    if mask.ndim != 2:
        raise MaskFormatError(f"index mask must be H W, got shape {mask.shape}")
    if mask.size and (int(mask.min()) < 0 or int(mask.max()) > 255):
        raise MaskFormatError(f"index mask ids must lie in 0..255, got {int(mask.min())}..{int(mask.max())}")
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="P")
    image.putpalette(DAVIS_PALETTE if palette is None else palette)
    return image


def encode_index_png(mask: np.ndarray, palette: bytes | None = None) -> bytes:
    """PNG bytes of an index mask (for writing straight into a zip archive)."""
    buffer = BytesIO()
    index_mask_image(mask, palette).save(buffer, format="PNG")
    return buffer.getvalue()


def write_index_mask(path: str | Path, mask: np.ndarray, palette: bytes | None = None) -> Path:
    """Write an index mask as a paletted PNG atomically (temporary name in the same folder, then rename)."""
    image = index_mask_image(mask, palette)
    with atomic_path(path) as temporary:
        image.save(temporary, format="PNG")
    return Path(path)
