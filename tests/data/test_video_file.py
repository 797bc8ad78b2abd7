from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s3.data.errors import DataFileNotFoundError
from s3.data.eval_dataset import VideoEvalDataset
from s3.data.video_file import index_video_file, read_video_frames, video_fps


def test_example_mp4(fixtures_dir: Path) -> None:
    path = fixtures_dir / "cutie_examples" / "example.mp4"
    record = index_video_file(path)
    assert record.num_frames == 117 and record.frame_stems[:2] == ["00000", "00001"]
    assert video_fps(path) == pytest.approx(25.0)
    frames = read_video_frames(path, [0, 57, 116])
    assert frames.shape == (3, 480, 640, 3) and frames.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[2])
    record.frame_files = record.frame_files[:5]  # evaluate only 5 frames of it
    sample = VideoEvalDataset([record])[0]
    assert sample["images"].shape == (5, 3, 480, 640) and not sample["annotated"].any()


def test_missing_video_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError, match="nothing.mp4"):
        index_video_file(tmp_path / "nothing.mp4")
