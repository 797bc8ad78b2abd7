"""All-or-nothing output folders for `s3 segment`: stage under a hidden temporary name, publish at the end.

The staged folder is named like every temporary of `s3.io.atomic` (`.<name>.<pid>-<token>.tmp`) and published
with `s3.io.atomic.replace_directory`, so a run that fails half way (a corrupt or differently sized frame, a full
disk) leaves the previous output untouched and no partial set of masks. A killed run can leave its staged
folder and temporaries behind: `remove_stale_outputs` deletes those of dead processes when the next run starts.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from s3.io.atomic import process_alive, remove_stale_temporaries

# `s3.io.atomic.temporary_sibling` names, and `replace_directory`'s retired folders (`.<name>.<pid>-<token>.old`).
STAGED_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.(?:tmp|old)$")


def remove_stale_outputs(output: Path) -> list[Path]:
    """Removes what killed runs left in `output`: staged folders directly under it and temporary files anywhere
    below it (those of running processes are left alone); returns the removed folders."""
    removed: list[Path] = []
    if not output.is_dir():
        return removed
    for entry in output.iterdir():
        match = STAGED_NAME.match(entry.name)
        if match is None or not entry.is_dir() or entry.is_symlink() or process_alive(int(match["pid"])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    remove_stale_temporaries(output)
    return removed
