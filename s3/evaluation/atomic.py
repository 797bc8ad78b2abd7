"""Atomic file output: write under a temporary name in the destination folder, then `os.replace`.

A reader (or a resumed run) therefore sees either the previous file or the complete new one, never a
half-written file; a killed process leaves at most a hidden `.<name>.<pid>.tmp` file behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """The temporary name used while `path` is being written."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return Path(path)


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete leftover `.*.tmp` files of killed runs under `folder`; returns how many were removed."""
    removed = 0
    for stale in Path(folder).rglob(".*.tmp"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed += 1
    return removed
