from __future__ import annotations

import shutil
from pathlib import Path

from s3.data.index_cache import cached_index
from s3.data.readers.davis import read_davis
from s3.data.registry import DatasetSpec, read_train_dataset


def test_reload_equals_build_and_skips_it(synthetic_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    spec = DatasetSpec(name="davis", path=str(synthetic_root), subset=None, empty_masks=None)
    built = read_train_dataset(synthetic_root, spec, cache)
    assert len(list(cache.glob("index-*.pkl"))) == 1
    assert built == read_davis(synthetic_root, image_set="train", frame_interval=2)
    calls = []

    def must_not_run() -> list:
        calls.append(1)
        return []

    folders = [synthetic_root / "JPEGImages/480p"]
    first = cached_index(lambda: built, arguments={"a": 1}, folders=folders, cache_dir=cache)
    second = cached_index(must_not_run, arguments={"a": 1}, folders=folders, cache_dir=cache)
    assert second == first == built and not calls
    assert cached_index(must_not_run, arguments={"a": 2}, folders=folders, cache_dir=cache) == [] and calls


def test_changed_folder_invalidates(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "davis"
    shutil.copytree(synthetic_root, root)
    cache = tmp_path / "cache"
    spec = DatasetSpec(name="davis", path=str(root), subset=None, empty_masks=None)
    before = read_train_dataset(root, spec, cache)
    video = before[0]
    (Path(video.image_dir) / video.frame_files[-1]).unlink()
    (Path(video.mask_dir) / video.mask_files[video.num_frames - 1]).unlink()
    after = read_train_dataset(root, spec, cache)
    assert after[0].num_frames == video.num_frames - 1
    assert len(list(cache.glob("index-*.pkl"))) == 2
    assert read_train_dataset(root, spec, None) == after
