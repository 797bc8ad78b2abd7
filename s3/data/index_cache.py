"""Caching of built indexes, keyed by the dataset folders' contents.

The key hashes the reader's arguments plus a fingerprint of each watched folder: the folder's own mtime and
the names and mtimes of its entries one level down (one folder per video). Adding, removing or renaming a
frame or mask file changes the mtime of its video folder, so the cache is rebuilt; rewriting a file in place
does not (run `s3 data inspect --verify` after editing data in place, or delete the cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

from s3.data.index import VideoRecord
from s3.io.atomic import atomic_path

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("~/.cache/s3/index")
_FORMAT_VERSION = 2  # 2: frames in numeric order (s3.data.naming)


def folder_fingerprint(folder: Path) -> list:
    """[mtime, [(entry name, mtime), ...]] of a folder and its direct entries; [] when it does not exist."""
    try:
        stat = folder.stat()
    except FileNotFoundError:
        return []
    with os.scandir(folder) as entries:
        listing = sorted((e.name, e.stat().st_mtime_ns) for e in entries)
    return [stat.st_mtime_ns, listing]


def index_key(arguments: dict, folders: Sequence[Path], files: Sequence[Path] = ()) -> str:
    """Hex digest identifying an index build: reader arguments, folder fingerprints, annotation file stats."""
    file_stats = []
    for path in files:
        try:
            stat = path.stat()
            file_stats.append([str(path), stat.st_size, stat.st_mtime_ns])
        except FileNotFoundError:
            file_stats.append([str(path), None, None])
    payload = {
        "version": _FORMAT_VERSION,
        "arguments": arguments,
        "folders": [[str(f), folder_fingerprint(f)] for f in folders],
        "files": file_stats,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cached_index(
    build: Callable[[], list[VideoRecord]],
    *,
    arguments: dict,
    folders: Sequence[Path],
    files: Sequence[Path] = (),
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
) -> list[VideoRecord]:
    """`build()`'s index, reloaded from `cache_dir` when the key matches; `cache_dir=None` disables caching."""
    if cache_dir is None:
        return build()
    cache_dir = Path(cache_dir).expanduser()
    path = cache_dir / f"index-{index_key(arguments, folders, files)}.pkl"
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        pass
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as error:
        logger.warning("%s: unreadable index cache (%s); rebuilding", path, error)
    records = build()
    try:
        with atomic_path(path) as temporary, temporary.open("wb") as handle:
            pickle.dump(records, handle, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as error:
        logger.warning("could not write the index cache %s (%s); continuing without it", path, error)
    return records
