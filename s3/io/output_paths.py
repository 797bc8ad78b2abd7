"""Output locations checked before any work starts.

A command that would run for minutes (an evaluation, a segmentation) and only then fail to write its results wastes
the run: the `s3` tools call these helpers first, so an output folder that cannot be created or written to (a path
under a regular file, no permission, a full disk) is one `s3: error:` line naming the path and the option.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from s3.errors import S3Error

__all__ = ["OutputPathError", "ensure_output_dir", "ensure_output_file"]


class OutputPathError(S3Error, OSError):
    """An output folder or file that cannot be created or written (the message names the option and the path)."""


def ensure_output_dir(path: str | Path, option: str) -> Path:
    """Creates `path` (and its parents) if needed and checks that a file can be written into it."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{option}: {folder} is a file, expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".s3-write-check."):
            pass
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise OutputPathError(f"{option}: cannot write to {folder}: {reason}") from error
    return folder


def ensure_output_file(path: str | Path, option: str) -> Path:
    """Checks that the file `path` can be written: its folder is created and writable, and it is not a folder."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise OutputPathError(f"{option}: {file} is a folder, expected a file path")
    ensure_output_dir(file.parent if str(file.parent) else Path(os.curdir), option)
    return file
