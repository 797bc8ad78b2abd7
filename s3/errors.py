"""The project's error base class.

Every error that describes bad user input (a file, a path, a config field) derives from `S3Error`; its message is
one line naming the file or field and what was expected. The `s3` command prints such errors as `s3: error: ...`
and exits with status 2. Subclasses may also derive from a builtin (`ValueError`, `FileNotFoundError`) so callers
that catch those keep working.
"""

from __future__ import annotations

__all__ = ["S3Error"]


class S3Error(Exception):
    """Bad input to S3: the message names the file or field and what was expected."""
