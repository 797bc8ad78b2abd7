"""Errors raised for bad data: one line naming the file or field and what was expected.

Raised inside a DataLoader worker, an error reaches the main process re-created by torch as
`type(error)("Caught DataError in DataLoader worker process 0.\\nOriginal Traceback ...")`; these classes take
their original one-line message back out of that text, so `s3 fit` with `num_workers >= 1` prints the same line
as with `num_workers = 0`.
"""

from __future__ import annotations

import re

from s3.errors import S3Error

# torch.utils.data._utils.ExceptionWrapper.reraise: "Caught <Type> in DataLoader worker process <N>.\nOriginal ..."
WORKER_WRAPPED = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback", re.DOTALL)


def unwrap_worker_message(message: str, error_type: type[BaseException]) -> str:
    """The original message of a worker's error from torch's wrapped text (the traceback's last line)."""
    if not WORKER_WRAPPED.match(message):
        return message
    names = (f"{error_type.__module__}.{error_type.__qualname__}: ", f"{error_type.__qualname__}: ")
    for line in reversed(message.rstrip("\n").splitlines()):
        for name in names:
            if line.startswith(name):
                return line[len(name) :]
    return message


class _WorkerUnwrapping:
    """Mixin: a single wrapped-by-torch message argument is replaced by the original message."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (unwrap_worker_message(args[0], type(self)),)
        super().__init__(*args)


class DataError(_WorkerUnwrapping, S3Error, ValueError):
    """A dataset file or field is malformed (the message names it)."""


class DataFileNotFoundError(_WorkerUnwrapping, S3Error, FileNotFoundError):
    """A file or folder the dataset needs does not exist (the message names it)."""


class DataRootNotFoundError(DataFileNotFoundError):
    """The configured data root (or a dataset folder under it) is missing."""
