"""Frame file names: numeric order (`1.jpg ... 12.jpg`, never string order) and one consistent kind of file.

Every place that lists the frames of a folder (dataset readers, `s3 segment`'s frame folders) goes through
`frame_order`, so a folder numbered without zero padding is processed in time order, names that number the
same frame twice (`1.jpg` and `01.jpg`) are refused, and a mask dropped into the frame folder (`00000.png`
among `.jpg` frames) is refused rather than read as a frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from s3.data.errors import DataError

__all__ = ["frame_order", "natural_key"]

_DIGITS = re.compile(r"(\d+)")
# Extensions of one encoding: a folder mixing them is still one consistent kind of file.
_SAME_KIND = {".jpeg": ".jpg"}


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key comparing digit runs as numbers: `frame2` < `frame10`; `1` and `01` compare equal."""
    return tuple((1, int(part)) if part.isdigit() else (0, part) for part in _DIGITS.split(name) if part)


def frame_order(folder: str | Path, names: Iterable[str]) -> list[str]:
    """`names` (files of `folder`) in numeric frame order; raises `DataError` naming the folder when the files
    are of two kinds (e.g. `.jpg` frames and a `.png` mask) or two names number the same frame."""
    names = list(names)
    kinds: dict[str, list[str]] = {}
    for name in names:
        suffix = Path(name).suffix.lower()
        kinds.setdefault(_SAME_KIND.get(suffix, suffix), []).append(name)
    if len(kinds) > 1:
        counts = ", ".join(f"{len(files)} {kind}" for kind, files in sorted(kinds.items()))
        minority = min(kinds.values(), key=len)
        raise DataError(
            f"{folder}: frame files of more than one kind ({counts}; e.g. {minority[0]}): frames must share one "
            "extension (is a mask in the frame folder?)"
        )
    ordered = sorted(names, key=lambda n: (natural_key(Path(n).stem), n))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if natural_key(Path(before).stem) == natural_key(Path(after).stem):
            raise DataError(f"{folder}: {before} and {after} number the same frame; rename one of them")
    return ordered
