"""Decoding frames and index masks with checks that name the offending file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.index import VideoRecord
from s3.io.errors import MaskFileNotFoundError, MaskFormatError
from s3.io.palette import read_index_mask


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
    """H W uint8 index mask (pixel = object id) from a paletted or grayscale PNG (decoded by `s3.io.palette`).

    The palette is ignored; RGB masks are rejected (colours are not ids). When `size_hw` is given and the
    mask has another size, it is resized with nearest neighbour to that size (real data has 853 vs 854 px
    masks; cropping would shift the object).
    """
    path = Path(path)
    try:
        mask = read_index_mask(path)
    except MaskFileNotFoundError as error:
        raise DataFileNotFoundError(f"{path}: mask file not found") from error
    except MaskFormatError as error:
        if error.mode is not None:
            raise DataError(f"{path}: mask mode {error.mode!r}, expected a paletted ('P') or 'L' index PNG") from error
        raise DataError(f"{path}: cannot decode mask ({error.__cause__ or error})") from error
    if size_hw is not None and mask.shape != tuple(size_hw):
        resized = Image.fromarray(mask, mode="L").resize((size_hw[1], size_hw[0]), Image.Resampling.NEAREST)
        mask = np.asarray(resized, dtype=np.uint8)
    return mask


def load_record_mask(record: VideoRecord, position: int, size_hw: tuple[int, int]) -> np.ndarray | None:
    """H W index mask of `record` at `position` (PNG or RLE), or None when that frame has no annotation.

    PNG masks of another size are resized (nearest) to `size_hw`; RLE masks must match it exactly (an RLE
    is encoded at the size its JSON declares, so a mismatch means the JSON and the frames disagree).
    """
    if position in record.mask_rles:
        from s3.data.rle import paint_index_mask  # pycocotools only for JSON-backed datasets

        source = f"{record.annotation_file}: video {record.name}, frame {record.frame_files[position]}"
        rle_size = record.mask_size or size_hw
        if tuple(rle_size) != tuple(size_hw):
            raise DataError(
                f"{source}: RLE size {list(rle_size)} differs from the frame size {list(size_hw)} of "
                f"{record.image_path(position)}"
            )
        return paint_index_mask(record.mask_rles[position], tuple(size_hw), source)
    path = record.mask_path(position)
    return None if path is None else load_index_mask(path, size_hw)


def load_json_file(path: str | Path, what: str) -> Any:
    """Parsed JSON of an annotation/meta file; missing, empty or malformed files raise one line naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise DataFileNotFoundError(f"{path}: {what} not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read {what} ({error})") from error
    if not text.strip():
        raise DataError(f"{path}: {what} is empty (expected JSON)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: {what} is not valid JSON ({error})") from error


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
