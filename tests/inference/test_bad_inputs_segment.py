"""Bad inputs to `s3 segment`: numeric frame order, a mask among the frames, lossy masks, phantom `--objects`,
and all-or-nothing outputs (a corrupt frame half way leaves no partial set; stale temporaries are removed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.inference.segment import main
from s3.inference.staging import remove_stale_outputs
from s3.inference.video_source import FrameSource
from s3.io.palette import DAVIS_PALETTE

FAST = ["--size", "tiny", "--max-internal-size", "32", "--no-overlay", "--device", "cpu"]
HEIGHT, WIDTH = 32, 40


def write_frames(folder: Path, stems: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem in stems:
        Image.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(folder / f"{stem}.jpg")
    return folder


def write_mask(path: Path, ids: tuple[int, ...] = (1, 2)) -> Path:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    for k, object_id in enumerate(ids):
        mask[4 + 12 * k : 12 + 12 * k, 6:20] = object_id
    image = Image.fromarray(mask, mode="P")
    image.putpalette(DAVIS_PALETTE)
    image.save(path)
    return path


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    return lines[0]


def test_unpadded_frames_in_time_order_with_the_mask_among_them(tmp_path: Path) -> None:
    frames = write_frames(tmp_path / "frames", [str(t) for t in range(1, 13)])
    mask = write_mask(frames / "1.png")  # the user's mask dropped into the frame folder
    source = FrameSource(frames, exclude=mask)
    assert source.names == [str(t) for t in range(1, 13)]
    out = tmp_path / "out"
    assert main(["--video", str(frames), "--mask", str(mask), "--output", str(out), *FAST]) == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == sorted(f"{t}.png" for t in range(1, 13))
    assert not [p for p in out.rglob(".*")]


def test_objects_absent_from_the_mask_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frames = write_frames(tmp_path / "frames", [f"{t:05d}" for t in range(3)])
    mask = write_mask(tmp_path / "mask.png", ids=(1, 2))
    out = tmp_path / "out"
    argv = ["--video", str(frames), "--mask", str(mask), "--output", str(out), "--objects", "1", "2", "7", *FAST]
    assert main(argv) == 2
    line = error_line(capsys.readouterr().err)
    assert line.endswith(f"--objects: id(s) [7] are not in the mask {mask} (it holds ids [1, 2])")
    assert not out.exists()


def test_jpeg_mask_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frames = write_frames(tmp_path / "frames", [f"{t:05d}" for t in range(3)])
    with Image.open(write_mask(tmp_path / "mask.png")) as image:
        image.convert("L").save(tmp_path / "mask.jpg", quality=70)
    out = tmp_path / "out"
    assert main(["--video", str(frames), "--mask", str(tmp_path / "mask.jpg"), "--output", str(out), *FAST]) == 2
    line = error_line(capsys.readouterr().err)
    assert f"{tmp_path / 'mask.jpg'}: mask is a JPEG image; expected a lossless index PNG" in line
    assert not out.exists()


def test_corrupt_frame_half_way_leaves_the_previous_output_and_no_partial_set(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    frames = write_frames(tmp_path / "frames", [f"{t:05d}" for t in range(6)])
    mask = write_mask(tmp_path / "mask.png")
    out = tmp_path / "out"
    argv = ["--video", str(frames), "--mask", str(mask), "--output", str(out), *FAST]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in (out / "masks").iterdir()}
    (frames / "00004.jpg").write_bytes(b"\xff\xd8 truncated")
    (frames / "00005.jpg").unlink()  # the run is now shorter: a partial publish would be visible
    assert main(argv) == 2
    assert "00004.jpg: not a readable image" in error_line(capsys.readouterr().err)
    assert {p.name: p.read_bytes() for p in (out / "masks").iterdir()} == before
    assert not [p for p in out.rglob(".*")]  # the staged folder is gone


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".segment.999999999-0123abcd.tmp" / "masks").mkdir(parents=True)
    (out / ".overlay.mp4.999999999-0123abcd.tmp.mp4").write_bytes(b"half an mp4")
    live = out / f".overlay.mp4.{os.getppid()}-0123abcd.tmp.mp4"  # a running process's file is left alone
    live.write_bytes(b"being written")
    (out / "keep.txt").write_text("user file")
    removed = remove_stale_outputs(out)
    assert [p.name for p in removed] == [".segment.999999999-0123abcd.tmp"]
    assert sorted(p.name for p in out.iterdir()) == sorted([live.name, "keep.txt"])
