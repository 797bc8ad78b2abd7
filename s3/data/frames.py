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


# Lossy encodings invent intermediate values along every edge: each would become an "object".
LOSSY_SIGNATURES = {b"\xff\xd8\xff": "JPEG"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_GREYSCALE = 0  # IHDR colour type of a single-channel grey PNG (mode L)
# A greyscale index mask holds a handful of ids; more distinct values are compression noise.
MAX_GREYSCALE_IDS = 32
# DAVIS ships a few 853 px wide masks for 854 px frames: a one-pixel difference is resized, anything more is an error.
SIZE_TOLERANCE_PX = 1


def check_lossless_mask_file(path: str | Path) -> bool:
    """Refuses a mask file in a lossy encoding (JPEG, WebP) from its first bytes; returns True for a greyscale
    PNG, whose values `check_greyscale_ids` should then look at."""
    with open(path, "rb") as handle:
        head = handle.read(32)
    lossy = next((name for signature, name in LOSSY_SIGNATURES.items() if head.startswith(signature)), None)
    if lossy is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        lossy = "WebP"
    if lossy is not None:
        raise DataError(
            f"{path}: mask is a {lossy} image; expected a lossless index PNG (lossy compression turns object "
            "edges into extra ids)"
        )
    return head.startswith(PNG_SIGNATURE) and len(head) > 25 and head[25] == PNG_GREYSCALE


def check_greyscale_ids(path: str | Path, mask: np.ndarray) -> None:
    """Refuses a greyscale mask with more distinct values than an index mask has ids (compression noise)."""
    count = int(np.count_nonzero(np.bincount(mask.ravel(), minlength=256)))
    if count > MAX_GREYSCALE_IDS:
        raise DataError(
            f"{path}: greyscale mask with {count} distinct values; expected an index mask (pixel = object id, a "
            "few ids); was it saved from a JPEG?"
        )


def check_mask_size(path: str | Path, mask_hw: tuple[int, int], frame_hw: tuple[int, int]) -> bool:
    """True when a mask of `mask_hw` must be resized to its frame's `frame_hw`; raises `DataError` when the sizes
    differ by more than `SIZE_TOLERANCE_PX`."""
    if tuple(mask_hw) == tuple(frame_hw):
        return False
    if abs(mask_hw[0] - frame_hw[0]) > SIZE_TOLERANCE_PX or abs(mask_hw[1] - frame_hw[1]) > SIZE_TOLERANCE_PX:
        raise DataError(
            f"{path}: mask size {mask_hw[1]}x{mask_hw[0]} differs from its frame's {frame_hw[1]}x{frame_hw[0]} "
            f"(only a {SIZE_TOLERANCE_PX}-pixel difference, DAVIS's 853/854 case, is resized)"
        )
    return True


def load_index_mask(path: str | Path, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """H W uint8 index mask (pixel = object id) from a paletted or grayscale PNG (decoded by `s3.io.palette`).

    The palette is ignored; RGB, lossy (JPEG) and noisy greyscale masks are rejected. When `size_hw` is given
    and the mask is one pixel off (real DAVIS data has 853 vs 854 px masks), it is resized with nearest
    neighbour (cropping would shift the object); larger differences are errors.
    """
    path = Path(path)
    try:
        greyscale = check_lossless_mask_file(path)
        mask = read_index_mask(path)
    except (MaskFileNotFoundError, FileNotFoundError) as error:
        raise DataFileNotFoundError(f"{path}: mask file not found") from error
    except MaskFormatError as error:
        if error.mode is not None:
            raise DataError(f"{path}: mask mode {error.mode!r}, expected a paletted ('P') or 'L' index PNG") from error
        raise DataError(f"{path}: cannot decode mask ({error.__cause__ or error})") from error
    if greyscale:
        check_greyscale_ids(path, mask)
    if size_hw is not None and check_mask_size(path, mask.shape, size_hw):
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
