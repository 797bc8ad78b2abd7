"""`s3 visualize features`: the command's figure and its one-line errors (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from s3.cli import main
from s3.visualize import read_layout

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def judo(fixtures_dir: Path) -> tuple[Path, Path]:
    root = fixtures_dir / "cutie_examples"
    return root / "images" / "judo" / "00000.jpg", root / "masks" / "judo" / "00000.png"


def test_command_writes_the_requested_panels_from_a_video_frame(fixtures_dir: Path, tmp_path: Path, capsys) -> None:
    video = fixtures_dir / "cutie_examples" / "example.mp4"
    argv = ["visualize", "features", "--preset", "cutie_dq_vit_spatial", "--size", "tiny", "--video", str(video)]
    argv += ["--frame_index", "3", "--height", "64", "--blocks", "spatial_prior.*", "f4", "attention"]
    argv += ["--output", str(tmp_path / "out.png")]
    assert main(argv) == 0
    layout = read_layout(tmp_path / "out.png")
    expected = ["spatial_prior.s4", "spatial_prior.s8", "spatial_prior.s16", "f4", "attention"]
    assert [row.panels for row in layout.rows] == [expected]
    assert layout.rows[0].label == "cutie_dq_vit_spatial (random weights)"
    assert f"{tmp_path / 'out.png'}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--checkpoint", "missing.pth"], "--checkpoint: file not found: missing.pth"),
        (["--blocks", "key", "vit.block99"], "--blocks: unknown block 'vit.block99'; valid names: resnet.stem,"),
        (["--compare", "cutie", "nope"], "unknown preset 'nope'"),
    ],
)
def test_user_errors_are_one_line(options: list[str], message: str, judo, tmp_path: Path, capsys) -> None:
    frame, _ = judo
    argv = ["visualize", "features", "--preset", "cutie", "--size", "tiny", "--frame", str(frame), "--height", "64"]
    assert main([*argv, "--output", str(tmp_path / "x.png"), *options]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "x.png").exists()


def test_unreadable_frame_is_one_line_through_python_m_s3_cli(tmp_path: Path) -> None:
    broken = tmp_path / "frame.jpg"
    broken.write_bytes(b"not a jpeg")
    command = [sys.executable, "-m", "s3.cli", "visualize", "features", "--size", "tiny", "--frame", str(broken)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"s3: error: --frame: {broken} cannot be read as an image (UnidentifiedImageError)"]


def test_mask_of_another_size_is_refused(judo, tmp_path: Path, capsys) -> None:
    frame, _ = judo
    from PIL import Image

    small = tmp_path / "mask.png"
    Image.new("P", (10, 10), 1).save(small)
    argv = ["visualize", "features", "--size", "tiny", "--frame", str(frame), "--mask", str(small)]
    assert main(argv) == 2
    assert "--mask: " in capsys.readouterr().err


def test_help_lists_the_typed_arguments(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["visualize", "features", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--preset", "--checkpoint", "--frame", "--video", "--frame_index", "--mask", "--blocks", "--compare"):
        assert flag in out
    assert "random weights" in out and "{pca,norm}" in out.replace(" ", "")
