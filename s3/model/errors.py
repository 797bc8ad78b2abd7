"""The network's configuration error: one line naming the argument and what was expected."""

from __future__ import annotations

from s3.errors import S3Error

__all__ = ["ConfigurationError"]


class ConfigurationError(S3Error, ValueError):
    """An unknown preset / size / component, an impossible combination, or a constructor argument out of range."""
