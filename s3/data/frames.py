"""Decoding frames and index masks with checks that name the offending file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.index import VideoRecord

INDEX_MASK_MODES = ("P", "L")


def load_rgb(path: str | Path) -> np.ndarray:
    """H W 3 uint8 RGB frame. Raises a one-line error naming the file when it is missing or corrupt."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError as error:
        raise DataFileNotFoundError(f"{path}: frame file not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DataError(f"{path}: cannot decode image ({error})") from error


def load_index_mask(path: str | Path, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """H W uint8 index mask (pixel = object id) from a paletted or grayscale PNG.

    The palette is ignored; RGB masks are rejected (colours are not ids). When `size_hw` is given and the
    mask has another size, it is resized with nearest neighbour to that size (real data has 853 vs 854 px
    masks; cropping would shift the object).
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in INDEX_MASK_MODES:
                raise DataError(f"{path}: mask mode {image.mode!r}, expected a paletted ('P') or 'L' index PNG")
            if size_hw is not None and image.size != (size_hw[1], size_hw[0]):
                image = image.resize((size_hw[1], size_hw[0]), Image.Resampling.NEAREST)
            return np.asarray(image, dtype=np.uint8)
    except FileNotFoundError as error:
        raise DataFileNotFoundError(f"{path}: mask file not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DataError(f"{path}: cannot decode mask ({error})") from error


def image_size_hw(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image file without decoding its pixels."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except FileNotFoundError as error:
        raise DataFileNotFoundError(f"{path}: file not found") from error
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{path}: cannot read image header ({error})") from error


def load_frames(record: VideoRecord, positions: list[int]) -> np.ndarray:
    """T H W 3 uint8 frames of a video record at `positions`, from image files or a video file."""
    if record.video_file is not None:
        from s3.data.video_file import read_video_frames  # decord only when a video file is used

        return read_video_frames(record.video_file, positions)
    frames = [load_rgb(record.image_path(p)) for p in positions]
    sizes = {f.shape for f in frames}
    if len(sizes) > 1:
        raise DataError(f"{record.image_dir}: frames of one video differ in size ({sorted(sizes)})")
    return np.stack(frames)
