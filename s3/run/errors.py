"""Errors for bad run configurations: one line naming the field and what was expected."""

from __future__ import annotations

from s3.errors import S3Error


class RunConfigError(S3Error, ValueError):
    """A run configuration that cannot work (checked before any training starts)."""


class CheckpointMismatchError(RunConfigError):
    """A checkpoint that does not belong to the configured network."""


class CheckpointNotFoundError(RunConfigError, FileNotFoundError):
    """A `--ckpt_path` that does not exist."""


class NetworkNotRecordedError(RunConfigError):
    """A checkpoint whose network was given to `S3Module` as an object it could not describe (not built by
    `build_network`): reloading it needs the same network again (`network=`)."""
