"""Errors of the file helpers: each message is one line naming the file at fault and what was expected."""

from __future__ import annotations

from s3.errors import S3Error

__all__ = ["MaskFileError", "MaskFileNotFoundError", "MaskFormatError"]


class MaskFileError(S3Error, ValueError):
    """A mask file cannot be used as an index mask (missing or malformed)."""


class MaskFormatError(MaskFileError):
    """A mask is not a single-channel index PNG (mode P or L) of the expected size, or its ids leave 0..255.

    `mode` is the image mode found when that was the fault (e.g. "RGB"), so callers can word their own message.
    """

    def __init__(self, message: str, *, mode: str | None = None) -> None:
        super().__init__(message)
        self.mode = mode


class MaskFileNotFoundError(MaskFileError, FileNotFoundError):
    """A mask file that was asked for does not exist."""
