"""Evaluation settings of the LightningModule and the helpers that turn a `VideoSample` into scores or files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from s3.data.batch import VideoSample
from s3.inference.config import InferenceConfig, evaluation_size, inference_config
from s3.inference.propagation import given_masks


@dataclass
class EvaluationOptions:
    """How `validate`, `test` and `predict` run the inference engine.

    Args:
        preset: an evaluation preset of `s3.inference.config.EVALUATION_PRESETS` (`cutie`: Cutie's eval_config,
            480p; `cutie-plus`: the 600/720 "improved test size" protocol; `s3-release`: the official S3 eval).
        size: shorter side of the test frames for every dataset (never upsampled); None = the preset's
            per-dataset size.
        datasets: per benchmark (`davis`, `youtube-vos`, `mose`, `lvos`, `burst`) overrides: `size` and any
            `InferenceConfig` field, applied on top of the preset.
        output_dir: where `predict` writes each split's submission (`<output_dir>/<dataset>-<split>/`).
        burst_json: the BURST first-frame annotation JSON the BURST result file is built from (predict only).
    """

    preset: str = "cutie"
    size: int | None = None
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_dir: str = "outputs/predictions"
    burst_json: str | None = None


def benchmark_family(dataset: str | None) -> str:
    """Maps a dataset name of the data layer (davis, davis2016, youtube2019, ...) to its evaluation family."""
    name = (dataset or "davis").lower()
    for prefix, family in (("davis", "davis"), ("youtube", "youtube-vos"), ("mose", "mose"), ("lvos", "lvos")):
        if name.startswith(prefix):
            return family
    return "burst" if name.startswith("burst") else name


def family_config(options: EvaluationOptions, family: str) -> InferenceConfig:
    """The inference config (memory policy) of one benchmark family; the test size is `family_test_size`'s."""
    overrides = {k: v for k, v in options.datasets.get(family, {}).items() if k != "size"}
    return inference_config(options.preset, family if family in _KNOWN_FAMILIES else None, **overrides)


def family_test_size(options: EvaluationOptions, family: str) -> int | None:
    """Shorter side the frames of a benchmark family are read at (`s3.data.eval_dataset.resize_to_test_size`:
    the official reader's antialiased resize, never upsampling), or None for the native size."""
    return options.size or options.datasets.get(family, {}).get("size") or evaluation_size(options.preset, family)


_KNOWN_FAMILIES = ("davis", "youtube-vos", "mose", "lvos", "burst")


def copy_given_masks(video: VideoSample) -> Tensor:
    """The trivial baseline: every object's given mask repeated on all later frames. Returns T H W int64."""
    masks = video["masks"]
    prediction = torch.zeros_like(masks)
    current = torch.zeros_like(masks[0])
    given = given_masks(video)
    for t in range(masks.shape[0]):
        if t in given:
            mask, _ = given[t]
            current = torch.where(mask > 0, mask, current)
        prediction[t] = current
    return prediction


def split_label(name: str, split: str) -> str:
    """Log / folder name of an evaluation split: the dataset alone for the usual validation splits."""
    return name if split in ("val", "valid") else f"{name}-{split}"


def writer_benchmark(name: str, split: str) -> str:
    """The submission layout (`s3.evaluation.writers.make_writer`) of a dataset split."""
    family = benchmark_family(name)
    if family == "davis":
        return "davis-testdev" if "test" in split else "davis"
    if family == "lvos":
        return "lvos-test" if split == "test" else "lvos"
    return family


def output_folder(options: EvaluationOptions, name: str, split: str) -> Path:
    return Path(options.output_dir) / f"{name}-{split}"
