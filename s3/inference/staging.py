"""All-or-nothing output folders for `s3 segment`: stage under a hidden temporary name, publish at the end.

A run that fails half way (a corrupt or differently sized frame, a full disk, a kill) leaves the previous
output untouched and no partial set of masks; the temporaries of killed runs are removed when the next run
starts (`remove_stale_outputs`), those of live runs are left alone.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

# `.masks.<pid>.tmp` (staged mask folder), `.masks.<pid>.old.tmp` (previous masks being replaced) and
# `.overlay.<pid>.tmp.mp4` (overlay being encoded, `s3.inference.overlay.write_video`).
STALE_PATTERN = re.compile(r"^\.[^/]+\.(\d+)\.(?:old\.)?tmp(?:\.[A-Za-z0-9]+)?$")


def staging_folder(output: Path, name: str) -> Path:
    """The hidden folder this process writes `output/name` into before publishing it."""
    return output / f".{name}.{os.getpid()}.tmp"


def process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_outputs(output: Path) -> list[Path]:
    """Removes the temporaries of killed runs directly under `output` (not those of running processes)."""
    removed: list[Path] = []
    if not output.is_dir():
        return removed
    for entry in output.iterdir():
        match = STALE_PATTERN.match(entry.name)
        if match is None or process_alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def publish_folder(staged: Path, destination: Path) -> None:
    """Replaces `destination` with the complete `staged` folder (renames in one file system)."""
    old = destination.with_name(f".{destination.name}.{os.getpid()}.old.tmp")
    if destination.exists():
        os.replace(destination, old)
    os.replace(staged, destination)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
