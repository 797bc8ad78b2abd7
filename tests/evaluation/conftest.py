"""DAVIS-layout trees for evaluator tests: the OSVOS fixture as ground truth, and tiny synthetic ones."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from s3.io.palette import write_index_mask
from tests.osvos_scenarios import load_sequence, make_prediction

OSVOS_SEQUENCES = ("bike-packing", "dogs-jump", "judo", "shooting")


def build_davis_root(root: Path, sequences: dict[str, np.ndarray], image_set: str = "val") -> Path:
    """Write a DAVIS 2017 root with the given T H W ground truths (dummy JPEGs, ImageSets list)."""
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "2017" / f"{image_set}.txt").write_text("".join(f"{name}\n" for name in sequences))
    for name, masks in sequences.items():
        write_sequence(root / "Annotations" / "480p" / name, masks)
        images = root / "JPEGImages" / "480p" / name
        images.mkdir(parents=True, exist_ok=True)
        for t in range(len(masks)):
            (images / f"{t:05d}.jpg").touch()  # only counted, never read
    return root


def write_sequence(folder: Path, masks: np.ndarray) -> None:
    for t, mask in enumerate(masks):
        write_index_mask(folder / f"{t:05d}.png", mask)


@pytest.fixture(scope="session")
def davis_root_builder() -> Callable[[Path, dict[str, np.ndarray]], Path]:
    """`build(root, {name: T H W ground truth})`: write a DAVIS 2017 root (see `build_davis_root`)."""
    return build_davis_root


@pytest.fixture(scope="session")
def osvos_davis_root(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    """A mini DAVIS root whose ground truth is the OSVOS fixture masks (val = the 4 sequences)."""
    source = fixtures_dir / "davis_osvos"
    root = tmp_path_factory.mktemp("davis") / "DAVIS"
    (root / "ImageSets" / "2017").mkdir(parents=True)
    shutil.copy(source / "expected" / "val.txt", root / "ImageSets" / "2017" / "val.txt")
    for name in OSVOS_SEQUENCES:
        shutil.copytree(source / name, root / "Annotations" / "480p" / name)
        images = root / "JPEGImages" / "480p" / name
        images.mkdir(parents=True)
        for mask in (source / name).glob("*.png"):
            (images / f"{mask.stem}.jpg").touch()
    return root


@pytest.fixture(scope="session")
def osvos_results(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Callable[[str], Path]:
    """`results(scenario)`: a results folder of that scenario's predictions (built once per scenario)."""
    built: dict[str, Path] = {}

    def results(scenario: str) -> Path:
        if scenario not in built:
            folder = tmp_path_factory.mktemp(f"results-{scenario}")
            for name in OSVOS_SEQUENCES:
                gt = load_sequence(fixtures_dir / "davis_osvos" / name)
                write_sequence(folder / name, make_prediction(gt, scenario))
            built[scenario] = folder
        return built[scenario]

    return results


@pytest.fixture()
def tiny_davis(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """A 2-sequence DAVIS root of 5-frame 12x16 videos and a results folder identical to its ground truth."""
    rng = np.random.default_rng(0)
    sequences = {}
    for name, num_objects in (("alpha", 2), ("beta", 1)):
        masks = np.zeros((5, 12, 16), dtype=np.uint8)
        for object_id in range(1, num_objects + 1):
            y, x = rng.integers(0, 6), rng.integers(0, 8)
            masks[:, y : y + 5, x : x + 6] = object_id
        sequences[name] = masks
    root = build_davis_root(tmp_path / "DAVIS", sequences)
    results = tmp_path / "results"
    for name, masks in sequences.items():
        write_sequence(results / name, masks)
    return root, results, sequences
