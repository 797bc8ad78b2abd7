"""DAVIS 2017's 255 label is void in evaluation samples (scored for neither mask), not an object."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s3.data.eval_dataset import VideoEvalDataset
from s3.data.registry import EvalSpec, read_eval_dataset
from tests.data.conftest import write_vos_video


def test_davis_void_label_becomes_a_void_map(tmp_path: Path) -> None:
    root = tmp_path / "DAVIS"
    frames = np.full((3, 32, 48, 3), 90, np.uint8)
    masks = np.zeros((3, 32, 48), np.uint8)
    masks[:, 4:12, 4:12] = 1
    masks[:, 20:24, :] = 255
    write_vos_video(root / "JPEGImages/480p", root / "Annotations/480p", "seq", frames, masks)
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/val.txt").write_text("seq\n")
    sample = VideoEvalDataset(read_eval_dataset(tmp_path, EvalSpec(name="davis", split="val", path="DAVIS")))[0]
    assert sample["object_ids"] == [1]
    assert sample["void"].shape == (3, 32, 48) and bool(sample["void"][:, 20:24].all())
    assert int(sample["masks"].max()) == 1 and not bool(sample["void"][:, :20].any())
