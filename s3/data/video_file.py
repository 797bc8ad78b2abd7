"""Video files (.mp4, ...) as frame sources, decoded with decord.

Readers are opened lazily, once per process: a decord `VideoReader` created in the main process and used
in forked dataloader workers hangs, so each worker opens its own on first use.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.index import VideoRecord

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


@lru_cache(maxsize=8)
def _reader(path: str, pid: int):  # noqa: ANN202 - decord has no type hints
    import decord

    try:
        return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    except (decord.DECORDError, RuntimeError) as error:  # decord raises RuntimeError for undecodable files
        raise DataError(f"{path}: cannot open video ({error})") from error


def open_video(path: str | Path):  # noqa: ANN201
    """This process's decord reader for `path` (opened on first use)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileNotFoundError(f"{path}: video file not found")
    return _reader(str(path.resolve()), os.getpid())


def read_video_frames(path: str | Path, positions: list[int]) -> np.ndarray:
    """T H W 3 uint8 RGB frames at `positions` of a video file."""
    reader = open_video(path)
    if positions and (min(positions) < 0 or max(positions) >= len(reader)):
        raise DataError(f"{path}: frame positions {min(positions)}..{max(positions)} outside 0..{len(reader) - 1}")
    return reader.get_batch(positions).asnumpy()


def video_fps(path: str | Path) -> float:
    return float(open_video(path).get_avg_fps())


def index_video_file(path: str | Path, dataset: str = "video") -> VideoRecord:
    """A `VideoRecord` for a video file: positions are decoded frames, named 00000, 00001, ..."""
    path = Path(path)
    reader = open_video(path)
    count = len(reader)
    if count == 0:
        raise DataError(f"{path}: video has no frames")
    return VideoRecord(
        dataset=dataset,
        name=path.stem,
        image_dir=str(path.parent.resolve()),
        frame_files=[f"{i:05d}" for i in range(count)],
        video_file=str(path.resolve()),
    )
