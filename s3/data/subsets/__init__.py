"""Training subset lists and empty-frame lists shipped with the package (copies of Cutie's lists).

`davis_train.txt` / `yv_train.txt` are one video name per line; the `*_empty_masks.txt` files are JSON
(`{video: [frame stems whose mask is all zero]}`) despite their extension.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from s3.data.errors import DataError

SUBSET_FILES = ("davis_train.txt", "yv_train.txt")
EMPTY_MASK_FILES = (
    "davis_empty_masks.txt",
    "yv_empty_masks.txt",
    "mose_empty_masks.txt",
    "burst_empty_masks.txt",
    "ovis_empty_masks.txt",
)

__all__ = ["EMPTY_MASK_FILES", "SUBSET_FILES", "load_packaged_empty_masks", "load_packaged_subset"]


def _read(name: str) -> str:
    resource = resources.files(__name__).joinpath(name)
    if not resource.is_file():
        raise DataError(f"no packaged list named {name!r}; known: {', '.join(SUBSET_FILES + EMPTY_MASK_FILES)}")
    return resource.read_text(encoding="utf-8")


@cache
def load_packaged_subset(name: str) -> frozenset[str]:
    """Video names of a packaged subset list, e.g. `load_packaged_subset("davis_train.txt")` (60 names)."""
    return frozenset(line.strip() for line in _read(name).splitlines() if line.strip())


@cache
def load_packaged_empty_masks(name: str) -> dict[str, frozenset[str]]:
    """`{video: frame stems with all-zero masks}` of a packaged empty-frame list."""
    try:
        data = json.loads(_read(name))
    except json.JSONDecodeError as error:
        raise DataError(f"packaged list {name}: not valid JSON ({error})") from error
    return {video: frozenset(stems) for video, stems in data.items()}
