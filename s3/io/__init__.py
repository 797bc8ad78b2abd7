"""File helpers used by every package: atomic writes and index-mask PNGs (the DAVIS palette)."""

from __future__ import annotations

from s3.io.atomic import (
    atomic_path,
    remove_stale_temporaries,
    replace_directory,
    write_bytes_atomic,
    write_text_atomic,
)
from s3.io.errors import MaskFileError, MaskFileNotFoundError, MaskFormatError
from s3.io.palette import (
    DAVIS_PALETTE,
    palette_colours,
    read_index_mask,
    read_palette,
    voc_palette,
    write_index_mask,
)

__all__ = [
    "DAVIS_PALETTE",
    "MaskFileError",
    "MaskFileNotFoundError",
    "MaskFormatError",
    "atomic_path",
    "palette_colours",
    "read_index_mask",
    "read_palette",
    "remove_stale_temporaries",
    "replace_directory",
    "voc_palette",
    "write_bytes_atomic",
    "write_index_mask",
    "write_text_atomic",
]
