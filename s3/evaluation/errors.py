"""Evaluation and result-writing errors: each message is one line naming the file or field at fault."""

from __future__ import annotations

from s3.errors import S3Error


class EvaluationError(S3Error, ValueError):
    """Bad input to an evaluator or writer (wrong layout, format, size or ids)."""


class MissingFileError(EvaluationError, FileNotFoundError):
    """A file or folder the protocol requires does not exist."""
