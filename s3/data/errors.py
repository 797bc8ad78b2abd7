"""Errors raised for bad data: one line naming the file or field and what was expected."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset file or field is malformed (the message names it)."""


class DataFileNotFoundError(FileNotFoundError):
    """A file or folder the dataset needs does not exist (the message names it)."""


class DataRootNotFoundError(DataFileNotFoundError):
    """The configured data root (or a dataset folder under it) is missing."""
