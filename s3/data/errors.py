"""Errors raised for bad data: one line naming the file or field and what was expected."""

from __future__ import annotations

from s3.errors import S3Error


class DataError(S3Error, ValueError):
    """A dataset file or field is malformed (the message names it)."""


class DataFileNotFoundError(S3Error, FileNotFoundError):
    """A file or folder the dataset needs does not exist (the message names it)."""


class DataRootNotFoundError(DataFileNotFoundError):
    """The configured data root (or a dataset folder under it) is missing."""
