"""COCO run-length encoded masks (OVIS, BURST): normalising, validating and decoding them on demand.

Indexes keep each mask as its compressed COCO `counts` bytes, so a JSON file is parsed once when the index is
built and workers decode only the frames a clip or video needs. Decoding paints the runs straight into the
index map (several times faster than decoding each object to a full mask with pycocotools and merging) and
checks that the runs cover exactly H*W pixels (pycocotools leaves the rest uninitialised otherwise).
`source` arguments are the "file: video, frame" text that error messages start with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from s3.data.errors import DataError

_CHAR_OFFSET = 48  # compressed counts are printable characters starting at '0'
_CHUNK_BITS = 5
_CONTINUE_BIT = 0x20
_SIGN_BIT = 0x10
_SLICE_LIMIT = 2048  # foreground runs painted slice by slice below this count


def compressed_counts(rle: Any, size_hw: tuple[int, int], source: str) -> bytes:
    """Compressed `counts` of a COCO RLE dict `{"size": [h, w], "counts": ...}` checked against `size_hw`.

    `counts` may be a compressed string/bytes or an uncompressed list of run lengths (converted here).
    """
    if not isinstance(rle, Mapping) or "counts" not in rle:
        raise DataError(f"{source}: expected a COCO RLE object with 'size' and 'counts', got {type(rle).__name__}")
    size = rle.get("size")
    if not (isinstance(size, Sequence) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise DataError(f"{source}: RLE 'size' must be [height, width], got {size!r}")
    if tuple(size) != tuple(size_hw):
        raise DataError(f"{source}: RLE size {list(size)} differs from the frame size {list(size_hw)} (H, W)")
    counts = rle["counts"]
    if isinstance(counts, str):
        if not counts.isascii():
            raise DataError(f"{source}: RLE 'counts' string holds non-ASCII characters")
        return counts.encode("ascii")
    if isinstance(counts, bytes):
        return counts
    if isinstance(counts, list) and all(isinstance(v, int) and v >= 0 for v in counts):
        if sum(counts) != size_hw[0] * size_hw[1]:
            raise DataError(f"{source}: RLE run lengths sum to {sum(counts)}, expected H*W = {size_hw[0] * size_hw[1]}")
        return mask_utils.frPyObjects({"size": list(size_hw), "counts": counts}, *size_hw)["counts"]
    raise DataError(f"{source}: RLE 'counts' must be a string or a list of run lengths")


def run_lengths(counts: bytes) -> np.ndarray:
    """Run lengths (alternating background / foreground, column-major) of compressed COCO counts, int64.

    Each run is stored as 5-bit little-endian chunks (bit 5 = another chunk follows, bit 4 of the last
    chunk = negative) offset by 48; from the fourth run on, runs are stored relative to the run two before.
    """
    chunks = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - _CHAR_OFFSET
    if chunks.size == 0:
        return np.zeros(0, dtype=np.int64)
    if chunks.min() < 0 or chunks.max() >= 64:
        raise ValueError("character outside the RLE alphabet")
    last = (chunks & _CONTINUE_BIT) == 0
    if not last[-1]:
        raise ValueError("truncated RLE counts")
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    group = np.cumsum(np.concatenate(([0], last[:-1].astype(np.int64))))
    shift = _CHUNK_BITS * (np.arange(chunks.size) - starts[group])
    values = np.add.reduceat((chunks & 0x1F) << shift, starts)
    widths = _CHUNK_BITS * np.diff(np.append(starts, chunks.size))
    negative = (chunks[last] & _SIGN_BIT) != 0
    values = values - (negative.astype(np.int64) << widths)
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])  # run 3 adds run 1, run 5 adds run 3, ...
    runs[2::2] = np.cumsum(values[2::2])  # run 4 adds run 2, ...; run 0 stands alone
    return runs


def _checked_runs(counts: bytes, size_hw: tuple[int, int], source: str) -> np.ndarray:
    try:
        runs = run_lengths(counts)
    except ValueError as error:
        raise DataError(f"{source}: malformed RLE counts ({error})") from error
    total = int(runs.sum())
    if (runs < 0).any() or total != size_hw[0] * size_hw[1]:
        raise DataError(f"{source}: RLE runs cover {total} pixels, expected H*W = {size_hw[0] * size_hw[1]}")
    return runs


def _paint_runs(flat: np.ndarray, runs: np.ndarray, value: int) -> None:
    """Write `value` into the foreground runs of a column-major flat image."""
    bounds = np.cumsum(runs)
    starts, ends = bounds[0::2][: runs.size // 2], bounds[1::2]
    if starts.size <= _SLICE_LIMIT:
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            flat[start:end] = value
    else:  # very fragmented masks: one vectorised pass instead of many slices
        flat[np.repeat(np.arange(runs.size) % 2 == 1, runs)] = value


def decode_rle(counts: bytes, size_hw: tuple[int, int], source: str) -> np.ndarray:
    """H W bool mask of compressed counts; runs must cover exactly H*W pixels."""
    height, width = size_hw
    flat = np.zeros(height * width, dtype=bool)
    _paint_runs(flat, _checked_runs(counts, size_hw, source), True)
    return flat.reshape(width, height).T


def encode_rle(mask: np.ndarray) -> bytes:
    """Compressed COCO counts of an H W binary mask (inverse of `decode_rle`)."""
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"]


def paint_index_mask(segments: Sequence[tuple[int, bytes]], size_hw: tuple[int, int], source: str) -> np.ndarray:
    """H W index mask (uint8, or int32 when an id exceeds 255) with each segment's id painted in order."""
    ids = [object_id for object_id, _ in segments]
    dtype = np.uint8 if all(0 < i <= 255 for i in ids) else np.int32
    height, width = size_hw
    flat = np.zeros(height * width, dtype=dtype)  # column-major, the order RLE runs are in
    for object_id, counts in segments:
        _paint_runs(flat, _checked_runs(counts, size_hw, f"{source}, object {object_id}"), object_id)
    return np.ascontiguousarray(flat.reshape(width, height).T)
