"""Atomic writes: success publishes by rename, failure leaves neither a new file nor a temporary, and an
existing target stays untouched; folders are published whole; only dead writers' temporaries are cleaned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s3.io.atomic import (
    atomic_path,
    remove_stale_temporaries,
    replace_directory,
    temporary_sibling,
    write_bytes_atomic,
    write_text_atomic,
)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_text_and_bytes_are_published_and_parents_created(tmp_path: Path) -> None:
    text_path = write_text_atomic(tmp_path / "a" / "b" / "scores.csv", "J,F\r\n0.5,0.6\n")
    assert text_path.read_bytes() == b"J,F\r\n0.5,0.6\n"  # newlines kept exactly as given
    bytes_path = write_bytes_atomic(tmp_path / "a" / "b" / "blob.bin", b"\x00\xff")
    assert bytes_path.read_bytes() == b"\x00\xff"
    write_text_atomic(text_path, "replaced")
    assert text_path.read_text() == "replaced"
    assert names(tmp_path / "a" / "b") == ["blob.bin", "scores.csv"]


def test_temporary_is_a_hidden_unique_sibling_keeping_the_suffix(tmp_path: Path) -> None:
    target = tmp_path / "video.mp4"
    first, second = temporary_sibling(target), temporary_sibling(target)
    assert first != second and first.parent == tmp_path
    assert first.name.startswith(".video.mp4.") and first.suffix == ".mp4"
    with atomic_path(target) as temporary:
        assert not temporary.exists() and temporary.suffix == ".mp4"
        temporary.write_bytes(b"x")
    assert names(tmp_path) == ["video.mp4"]


@pytest.mark.parametrize("kind", ["png", "torch", "zip", "json"])
def test_files_written_by_other_libraries(tmp_path: Path, kind: str) -> None:
    target = tmp_path / f"out.{kind}"
    with atomic_path(target) as temporary:
        if kind == "png":
            Image.fromarray(np.full((2, 3), 7, dtype=np.uint8)).save(temporary)  # format from the kept suffix
        elif kind == "torch":
            torch.save({"w": torch.arange(3)}, temporary)
        elif kind == "zip":
            with zipfile.ZipFile(temporary, "w") as archive:
                archive.writestr("a/00000.png", b"png")
        else:
            with open(temporary, "w") as handle:
                json.dump({"k": 1}, handle)
    if kind == "png":
        assert np.asarray(Image.open(target)).tolist() == [[7, 7, 7], [7, 7, 7]]
    elif kind == "torch":
        assert torch.load(target)["w"].tolist() == [0, 1, 2]
    elif kind == "zip":
        assert zipfile.ZipFile(target).namelist() == ["a/00000.png"]
    else:
        assert json.loads(target.read_text()) == {"k": 1}
    assert names(tmp_path) == [target.name]


def test_failure_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "new.bin"
    with pytest.raises(RuntimeError, match="encoder crashed"):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half a file")
            raise RuntimeError("encoder crashed")
    assert names(tmp_path) == []


def test_failure_keeps_the_existing_target_untouched(tmp_path: Path) -> None:
    target = write_bytes_atomic(tmp_path / "weights.pth", b"old complete file")
    with pytest.raises(KeyboardInterrupt):  # a Ctrl-C mid-write too
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"new but partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old complete file"
    assert names(tmp_path) == ["weights.pth"]


def test_a_writer_that_produces_nothing_is_an_error_naming_the_file(tmp_path: Path) -> None:
    target = write_bytes_atomic(tmp_path / "chart.png", b"old")
    with pytest.raises(FileNotFoundError, match=r"chart\.png: the writer produced no file"):
        with atomic_path(target):
            pass
    assert target.read_bytes() == b"old"


def test_replace_directory_publishes_whole_folders(tmp_path: Path) -> None:
    staging = tmp_path / ".partial" / "bike"
    staging.mkdir(parents=True)
    (staging / "00000.png").write_bytes(b"first")
    target = replace_directory(staging, tmp_path / "results" / "bike")
    assert names(target) == ["00000.png"] and not staging.exists()
    staging.mkdir()
    (staging / "00001.png").write_bytes(b"second run")
    replace_directory(staging, target)
    assert names(target) == ["00001.png"]  # the old folder is gone, not merged
    assert names(tmp_path / "results") == ["bike"]  # no retired copy left behind


def test_stale_cleaner_removes_only_dead_writers_temporaries(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / f".00000.png.{dead_pid}-0a1b2c3d.tmp.png"
    stale_no_suffix = tmp_path / f".index.pkl.{dead_pid}-deadbeef.tmp"
    live = temporary_sibling(tmp_path / "being_written.mp4")  # this process is alive
    unrelated = [tmp_path / ".config.tmp", tmp_path / "notes.tmp", tmp_path / "00000.png"]
    for path in (stale, stale_no_suffix, live, *unrelated):
        path.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == 2
    assert not stale.exists() and not stale_no_suffix.exists()
    assert live.exists() and all(path.exists() for path in unrelated)
    assert os.getpid() != dead_pid
