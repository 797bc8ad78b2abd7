"""`s3 segment` end to end on the Cutie example fixtures (tiny random network, small internal size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.data.video_file import open_video
from s3.inference.segment import main
from s3.io.palette import DAVIS_PALETTE, read_index_mask, read_palette

FAST = ["--size", "tiny", "--max-internal-size", "64"]


@pytest.fixture(scope="module")
def examples(fixtures_dir: Path) -> Path:
    return fixtures_dir / "cutie_examples"


def write_mask(path: Path, mask: np.ndarray, mode: str = "P") -> Path:
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette(DAVIS_PALETTE)
    (image if mode == "P" else image.convert(mode)).save(path)
    return path


def two_object_mask(height: int = 480, width: int = 640) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[100:250, 150:300] = 4
    mask[300:420, 380:560] = 9
    return mask


def test_mp4_forward_and_backward_from_a_middle_frame(examples: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    given = two_object_mask()
    mask_path = write_mask(tmp_path / "given.png", given)
    out = tmp_path / "out"
    argv = ["--video", str(examples / "example.mp4"), "--mask", str(mask_path), "--frame", "5"]
    assert main([*argv, "--output", str(out), "--max-frames", "10", *FAST]) == 0
    assert "RANDOM weights" in capsys.readouterr().err
    names = sorted(p.name for p in (out / "masks").iterdir())
    assert names == [f"{i:05d}.png" for i in range(10)]  # frames 0-4 exist: the backward pass ran
    for name in names:
        mask = read_index_mask(out / "masks" / name, expected_hw=(480, 640))
        assert set(np.unique(mask).tolist()) <= {0, 4, 9}
        assert read_palette(out / "masks" / name) == read_palette(mask_path)
    on_given = read_index_mask(out / "masks" / "00005.png")
    for object_id in (4, 9):
        inter = np.logical_and(on_given == object_id, given == object_id).sum()
        union = np.logical_or(on_given == object_id, given == object_id).sum()
        assert inter / union > 0.9  # the given mask, up to the internal-size round trip
    overlay = open_video(out / "overlay.mp4")
    assert len(overlay) == 10 and overlay[0].shape == (480, 640, 3)
    assert not [p for p in out.rglob(".*")]  # no temporary files left


def test_frame_folder_forward_only(examples: Path, tmp_path: Path) -> None:
    out = tmp_path / "bike"
    argv = ["--video", str(examples / "images" / "bike"), "--mask", str(examples / "masks" / "bike" / "00000.png")]
    assert main([*argv, "--output", str(out), "--no-overlay", *FAST]) == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"0000{i}.png" for i in range(4)]
    first = read_index_mask(out / "masks" / "00000.png", expected_hw=(480, 854))
    assert set(np.unique(first).tolist()) == {0, 1, 2}
    assert not (out / "overlay.mp4").exists()


def bad_cases(examples: Path, tmp: Path) -> list[tuple[list[str], str]]:
    judo = examples / "images" / "judo"
    rgb = write_mask(tmp / "rgb.png", two_object_mask(480, 854), mode="RGB")
    (tmp / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    bike_mask = str(examples / "masks" / "bike" / "00000.png")
    return [
        (["--video", str(judo), "--mask", str(examples / "masks" / "judo" / "00005.png"), "--frame", "5"],
         r"00005.png: size 853x480 \(WxH\) differs from the expected 854x480"),
        (["--video", str(judo), "--mask", str(rgb)], "rgb.png: expected a single-channel index PNG"),
        (["--video", str(tmp / "broken.mp4"), "--mask", bike_mask], "broken.mp4: cannot open video"),
        (["--video", str(examples / "images" / "bike"), "--mask", bike_mask, "--objects", "1"],
         r"00000.png: mask contains id\(s\) \[2\] not declared in --objects \[1\]"),
        (["--video", str(examples / "images" / "bike"), "--mask", bike_mask, "--frame", "4"],
         r"--frame 4 is outside the video's frames 0..3"),
        (["--video", str(tmp / "missing"), "--mask", bike_mask], "missing: video file or frame folder not found"),
    ]  # fmt: skip


def test_bad_input_is_one_clear_line(examples: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import re

    for argv, message in bad_cases(examples, tmp_path):
        out = tmp_path / "never"
        assert main([*argv, "--output", str(out), *FAST]) == 2, argv
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("s3: error:")]
        assert len(err) == 1 and re.search(message, err[0]), (argv, err)
        assert not out.exists()  # nothing written


def test_precision_and_compile_reach_the_predictor(examples: Path, tmp_path: Path, monkeypatch) -> None:
    """`--precision bf16 --compile`: the predictor runs under bf16 autocast and is asked to compile; masks written."""
    import s3.inference.segment as segment_module

    built = []

    class RecordingPredictor(segment_module.VideoPredictor):
        def __init__(self, network, config, fast_paths=True, compile=False) -> None:  # noqa: ANN001
            built.append((config.amp, config.amp_dtype, fast_paths, compile))
            super().__init__(network, config, fast_paths=fast_paths)  # eager: the compiled path has its own tests

    monkeypatch.setattr(segment_module, "VideoPredictor", RecordingPredictor)
    out = tmp_path / "bf16"
    argv = ["--video", str(examples / "images" / "bike"), "--mask", str(examples / "masks" / "bike" / "00000.png")]
    assert main([*argv, "--output", str(out), "--no-overlay", "--precision", "bf16", "--compile", *FAST]) == 0
    assert built == [(True, "bfloat16", True, True)]
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"0000{i}.png" for i in range(4)]
    assert main([*argv, "--output", str(tmp_path / "fp32"), "--no-overlay", *FAST]) == 0
    assert built[-1] == (False, "bfloat16", True, False)  # fp32 by default (amp off), eager by default
