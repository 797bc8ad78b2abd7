"""Atomic file output: every file S3 writes is written under a temporary name in its folder, then renamed.

A reader (a scorer, a resumed run, another DDP rank) therefore sees either the previous file or the complete
new one, never a half-written file; a failed write removes its temporary and leaves the old file untouched.
A killed process can still leave its temporary behind: `remove_stale_temporaries` deletes those of dead
processes.

Temporaries are hidden siblings named `.<name>.<pid>-<token>.tmp<suffix>`: the same folder keeps the final
`os.replace` a rename on one file system, the pid lets the cleaner spare live writers, the random token keeps
two writers of one path in one process apart, and the kept suffix (`.png`, `.mp4`) lets libraries that pick
the format from the file name (ffmpeg, matplotlib) write the right one.

    with atomic_path("out/video.mp4") as temporary:   # any library writes `temporary`
        encode(temporary)
    write_text_atomic("scores.csv", text)
    write_bytes_atomic("mask.png", png_bytes)
    replace_directory(staging_folder, "results/bike")  # publish a finished folder in one rename
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_path",
    "remove_stale_temporaries",
    "replace_directory",
    "temporary_sibling",
    "write_bytes_atomic",
    "write_text_atomic",
]

# `.<name>.<pid>-<8 hex>.tmp<suffix>`; nothing else is ever taken for a temporary of ours.
_TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(?P<suffix>\.[^./]*)?$")


def temporary_sibling(path: str | Path) -> Path:
    """A fresh hidden temporary name next to `path` (same folder, same suffix); the file is not created."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write `path` through; published by rename on success, removed on error.

    The parent folder is created. The yielded path does not exist yet; whatever writes it (PIL, ffmpeg,
    `torch.save`, `zipfile`, `open`) may create or overwrite it. On an exception (KeyboardInterrupt included)
    the temporary is deleted, `path` keeps its previous content, and the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(f"{path}: the writer produced no file at its temporary name {temporary.name}")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns `path`."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8, newlines as given) to `path` atomically; returns `path`."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return Path(path)


def replace_directory(staging: str | Path, target: str | Path) -> Path:
    """Publish the finished folder `staging` as `target`, replacing any previous `target`; returns `target`.

    `staging` must be on the same file system (a sibling, or a folder under the same root). An existing
    `target` is first renamed aside, so at every moment `target` is either the old complete folder or the
    new one; the old one is deleted afterwards.
    """
    staging, target = Path(staging), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.replace(staging, target)
        return target
    retired = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.old")
    os.replace(target, retired)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(retired, target)  # put the old folder back rather than leave none
        raise
    shutil.rmtree(retired, ignore_errors=True)
    return target


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (this process counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete the temporaries that killed writers left under `folder` (recursively); returns how many.

    Only files named like `temporary_sibling`'s output are considered, and only those whose writing process
    no longer runs on this machine, so a live writer (another rank, a parallel run) is never disturbed.
    """
    removed = 0
    for candidate in Path(folder).rglob(".*.tmp*"):
        match = _TEMPORARY_NAME.match(candidate.name)
        if match is None or not candidate.is_file() or process_alive(int(match["pid"])):
            continue
        candidate.unlink(missing_ok=True)
        removed += 1
    return removed
