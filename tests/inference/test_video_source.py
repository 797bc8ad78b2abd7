from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.data.errors import DataError
from s3.data.video_file import read_video_frames
from s3.inference.overlay import blend
from s3.inference.video_source import FrameSource


def test_mp4_frames_in_any_order_match_decord(fixtures_dir: Path) -> None:
    video = fixtures_dir / "cutie_examples" / "example.mp4"
    source = FrameSource(video, max_frames=40)
    assert len(source) == 40 and tuple(source.size) == (480, 640) and source.fps == 25.0
    positions = [39, 20, 17, 16, 15, 0]  # backward, across decode blocks
    expected = read_video_frames(video, positions)
    assert np.array_equal(np.stack([source.read(i) for i in positions]), expected)


def test_folder_names_and_size_check(fixtures_dir: Path, tmp_path: Path) -> None:
    source = FrameSource(fixtures_dir / "cutie_examples" / "images" / "judo", max_frames=3)
    assert source.names == ["00000", "00001", "00002"] and tuple(source.size) == (480, 854)
    Image.new("RGB", (8, 6)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 7)).save(tmp_path / "b.png")
    mixed = FrameSource(tmp_path)
    with pytest.raises(DataError, match=r"b.png: size 8x7 differs from the first frame's 8x6"):
        mixed.read(1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="folder holds no frames"):
        FrameSource(tmp_path / "empty")


def test_blend_tints_objects_only() -> None:
    frame = np.full((2, 2, 3), 100, dtype=np.uint8)
    mask = np.array([[0, 1], [2, 0]], dtype=np.uint8)
    out = blend(frame, mask, alpha=0.5)
    assert out[0, 0].tolist() == [100, 100, 100]
    assert out[0, 1].tolist() == [114, 50, 50]  # id 1 is (128, 0, 0) in the DAVIS palette
    assert out[1, 0].tolist() == [50, 114, 50]
