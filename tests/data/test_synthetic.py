from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.data.synthetic import (
    SyntheticSpec,
    ensure_synthetic_davis,
    generate_synthetic_davis,
    render_synthetic_video,
)
from s3.io.palette import DAVIS_PALETTE
from tests.data.conftest import TINY_SYNTHETIC


def test_layout_palette_pngs_and_jpegs(synthetic_root: Path) -> None:
    train = (synthetic_root / "ImageSets/2017/train.txt").read_text().split()
    val = (synthetic_root / "ImageSets/2017/val.txt").read_text().split()
    assert len(train) == 4 and len(val) == 2 and not set(train) & set(val)
    for name in train + val:
        jpegs = sorted((synthetic_root / "JPEGImages/480p" / name).glob("*.jpg"))
        pngs = sorted((synthetic_root / "Annotations/480p" / name).glob("*.png"))
        assert [p.stem for p in jpegs] == [f"{t:05d}" for t in range(10)]
        assert [p.stem for p in pngs] == [p.stem for p in jpegs]
        ids_seen: set[int] = set()
        for jpeg, png in zip(jpegs, pngs, strict=True):
            with Image.open(jpeg) as image:
                assert image.format == "JPEG" and image.mode == "RGB" and image.size == (64, 48)
                image.load()
            with Image.open(png) as mask:
                assert mask.mode == "P"
                assert bytes(mask.getpalette()[:30]) == DAVIS_PALETTE[:30]
                values = set(np.unique(np.asarray(mask)).tolist())
            assert values <= {0, 1, 2, 3}
            ids_seen |= values - {0}
        assert ids_seen == set(range(1, max(ids_seen) + 1)), "object ids are 1..n"
        first = np.asarray(Image.open(pngs[0]))
        assert (first == 1).any(), "object 1 is visible on the first frame"


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = generate_synthetic_davis(tmp_path / "a", **TINY_SYNTHETIC)
    b = generate_synthetic_davis(tmp_path / "b", **TINY_SYNTHETIC)
    c = generate_synthetic_davis(tmp_path / "c", **{**TINY_SYNTHETIC, "seed": 4})
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    mask = "Annotations/480p/synth-train-0000/00005.png"
    assert (a / mask).read_bytes() != (c / mask).read_bytes()


def test_late_entries_motion_and_occlusion() -> None:
    spec = SyntheticSpec(seed=0, num_frames=16, height=64, width=80)
    late, ious, overlaps = 0, [], 0
    for index in range(24):
        _, masks = render_synthetic_video(spec, "train", index)
        ids = [i for i in np.unique(masks).tolist() if i]
        for object_id in ids:
            present = np.flatnonzero((masks == object_id).any(axis=(1, 2)))
            late += int(present[0] > 0)
            first, last = masks[present[0]] == object_id, masks[-1] == object_id
            ious.append((first & last).sum() / max((first | last).sum(), 1))
        overlaps += int(len(ids) > 1)
    assert late >= 2, "some objects must enter after the first frame"
    assert float(np.mean(ious)) < 0.5, "objects must move enough that copying the first mask fails"
    assert overlaps >= 5


def test_ensure_skips_same_parameters_and_regenerates_changed(tmp_path: Path) -> None:
    root = tmp_path / "synthetic"
    ensure_synthetic_davis(root, **TINY_SYNTHETIC)
    marker = root / "synthetic.json"
    stamp = marker.stat().st_mtime_ns
    ensure_synthetic_davis(root, **TINY_SYNTHETIC)
    assert marker.stat().st_mtime_ns == stamp
    ensure_synthetic_davis(root, **{**TINY_SYNTHETIC, "num_val": 1})
    assert (root / "ImageSets/2017/val.txt").read_text().split() == ["synth-val-0000"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def test_interrupted_generation_leaves_nothing(tmp_path: Path) -> None:
    def interrupt(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_synthetic_davis(tmp_path / "synthetic", **TINY_SYNTHETIC, progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        ensure_synthetic_davis(tmp_path / "mine", **TINY_SYNTHETIC)
