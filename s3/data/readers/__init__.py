"""Readers: each turns one on-disk dataset format into a list of `VideoRecord`s."""

from __future__ import annotations

from s3.data.readers.davis import read_davis
from s3.data.readers.folder import read_vos_folder

__all__ = ["read_davis", "read_vos_folder"]
