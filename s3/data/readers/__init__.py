"""Readers: each turns one on-disk dataset format into a list of `VideoRecord`s."""

from __future__ import annotations

from s3.data.readers.burst import read_burst_json
from s3.data.readers.davis import read_davis
from s3.data.readers.folder import read_vos_folder
from s3.data.readers.lvos import read_lvos
from s3.data.readers.ovis import read_ovis_json
from s3.data.readers.youtube import read_youtube_vos

__all__ = ["read_burst_json", "read_davis", "read_lvos", "read_ovis_json", "read_vos_folder", "read_youtube_vos"]
