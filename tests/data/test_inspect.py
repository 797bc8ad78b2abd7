from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.data.inspect import main


def _config(tmp_path: Path, root: Path) -> Path:
    path = tmp_path / "data.yaml"
    path.write_text(
        "data:\n  class_path: s3.data.VOSDataModule\n  init_args:\n"
        f"    data_root: {root}\n"
        "    train_datasets: [{name: davis, path: ., subset: null, empty_masks: null}]\n"
        "    val_datasets: [{name: davis, split: val, path: .}]\n"
        f"    crop_size: 24\n    num_frames: 3\n    num_workers: 0\n    index_cache_dir: {tmp_path / 'cache'}\n"
    )
    return path


def test_inspect_prints_counts_and_writes_sheet(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sheet = tmp_path / "sheet.png"
    code = main(["--config", str(_config(tmp_path, synthetic_root)), "--sheet", str(sheet), "--clips", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "train davis" in out and "videos=     4" in out and "frames=      40" in out and "share=1.000" in out
    assert "val   davis/val" in out and "videos=     2" in out
    assert "global max skip at step 0 of 100000: 5" in out
    with Image.open(sheet) as image:
        assert image.size == (3 * 24, 2 * 24)


def test_verify_lists_every_defect(synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "broken"
    shutil.copytree(synthetic_root, root)
    images, masks = root / "JPEGImages/480p", root / "Annotations/480p"
    (images / "synth-train-0001/00003.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (64, 48)).save(masks / "synth-train-0002/00004.png")
    Image.fromarray(np.zeros((48, 63), np.uint8), mode="L").save(masks / "synth-val-0000/00001.png")
    code = main(["--config", str(_config(tmp_path, root)), "--sheet", "", "--verify", "--workers", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "synth-train-0001/00003.jpg: cannot decode frame" in out
    assert "synth-train-0002/00004.png: mask mode 'RGB'" in out
    assert "synth-val-0000/00001.png: mask size (63, 48) differs from its frame (64, 48)" in out
    assert "verify: 3 defect(s)" in out


def test_missing_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--config", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"s3: error: {tmp_path / 'none.yaml'}: config file not found"
