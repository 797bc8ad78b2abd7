"""Evaluation settings of the LightningModule and the helpers that turn a `VideoSample` into scores or files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypedDict, get_args

import torch
from torch import Tensor

from s3.data.batch import VideoSample
from s3.data.registry import EvalName
from s3.errors import S3Error
from s3.inference.config import AmpDtype, EvaluationPresetName, InferenceConfig, evaluation_size, inference_config
from s3.inference.propagation import given_masks


@dataclass
class LongTermOverrides:
    """Per-dataset changes to `LongTermConfig` (None = the preset's value); fields as in `LongTermConfig`."""

    max_mem_frames: int | None = None
    min_mem_frames: int | None = None
    num_prototypes: int | None = None
    max_num_tokens: int | None = None
    buffer_tokens: int | None = None
    count_usage: bool | None = None


@dataclass
class DatasetEvaluation:
    """Per-dataset changes on top of the evaluation preset (None = the preset's value).

    Args:
        size: shorter side the frames are read at (never upsampled; `dataset_test_size`).
        top_k: similarities kept per query pixel; `full` reads the memory with a full softmax (top_k None).
        long_term: changes to the long-term memory limits.

    Every other field is the `InferenceConfig` field of the same name.
    """

    size: int | None = None
    mem_every: int | None = None
    top_k: int | Literal["full"] | None = None
    stagger_updates: int | None = None
    chunk_size: int | None = None
    max_mem_frames: int | None = None
    use_long_term: bool | None = None
    long_term: LongTermOverrides | None = None
    max_internal_size: int | None = None
    flip_aug: bool | None = None
    amp: bool | None = None
    amp_dtype: AmpDtype | None = None

    def inference_overrides(self) -> dict[str, Any]:
        """The set fields as `inference_config` keyword overrides (`size` excluded, `top_k: full` -> None)."""
        changes = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("size", "long_term")}
        changes = {name: value for name, value in changes.items() if value is not None}
        if changes.get("top_k") == "full":
            changes["top_k"] = None
        if self.long_term is not None:
            long_term = {k: v for k, v in asdict(self.long_term).items() if v is not None}
            if long_term:
                changes["long_term"] = long_term
        return changes


# Per-dataset changes keyed by the data layer's evaluation names (`EvalName`, e.g. `youtube2019`). A TypedDict
# built from that Literal, so that the parser rejects an unknown key (it does not check the keys of a plain dict).
EvaluationDatasets = TypedDict(  # noqa: UP013 - the keys come from EvalName
    "EvaluationDatasets", {name: DatasetEvaluation for name in get_args(EvalName)}, total=False
)


@dataclass
class EvaluationOptions:
    """How `validate`, `test` and `predict` run the inference engine.

    Args:
        preset: an evaluation preset of `s3.inference.config.EVALUATION_PRESETS` (`cutie`: Cutie's eval_config,
            480p; `cutie-plus`: the 600/720 "improved test size" protocol; `s3-release`: the official S3 eval).
        size: shorter side of the test frames for every dataset (never upsampled); None = the preset's
            per-dataset size.
        datasets: per evaluation dataset of the data layer (`val_datasets[].name`: davis, davis2016,
            youtube2018, youtube2019, mose, lvos, burst) the changes applied on top of the preset. A key
            applies to that dataset only (`davis` does not cover `davis2016`).
        fast_paths: run inference on the prepared fast forms of the network; false = the reference modules.
        output_dir: where `predict` writes each split's submission (`<output_dir>/<dataset>-<split>/`).
        burst_json: the BURST first-frame annotation JSON the BURST result file is built from (predict only).
    """

    preset: EvaluationPresetName = "cutie"
    size: int | None = None
    datasets: EvaluationDatasets = field(default_factory=dict)  # type: ignore[assignment]
    fast_paths: bool = True
    output_dir: str = "outputs/predictions"
    burst_json: str | None = None

    def __post_init__(self) -> None:  # plain dicts from Python callers and old checkpoints' hyper-parameters
        for name, value in list(self.datasets.items()):
            if name not in _DATASET_NAMES:
                raise EvaluationConfigError(
                    f"model.evaluation.datasets: unknown dataset {name!r}; expected one of {', '.join(_DATASET_NAMES)}"
                )
            if isinstance(value, dict):
                long_term = value.get("long_term")
                if isinstance(long_term, dict):
                    value = {**value, "long_term": LongTermOverrides(**long_term)}
                self.datasets[name] = DatasetEvaluation(**value)


_DATASET_NAMES: tuple[str, ...] = get_args(EvalName)


class EvaluationConfigError(S3Error, ValueError):
    """A `model.evaluation` setting names an unknown dataset."""


def benchmark_family(dataset: str | None) -> str:
    """Maps a dataset name of the data layer (davis, davis2016, youtube2019, ...) to its submission family."""
    name = (dataset or "davis").lower()
    for prefix, family in (("davis", "davis"), ("youtube", "youtube-vos"), ("mose", "mose"), ("lvos", "lvos")):
        if name.startswith(prefix):
            return family
    return "burst" if name.startswith("burst") else name


def dataset_config(options: EvaluationOptions, dataset: str) -> InferenceConfig:
    """The inference config (memory policy) of one evaluation dataset; the test size is `dataset_test_size`'s.

    Precedence: the preset, its per-dataset table, then `options.datasets[dataset]`.
    """
    entry = options.datasets.get(dataset) or DatasetEvaluation()  # type: ignore[call-overload]
    return inference_config(options.preset, dataset, **entry.inference_overrides())


def dataset_test_size(options: EvaluationOptions, dataset: str) -> int | None:
    """Shorter side the frames of a dataset are read at (`s3.data.eval_dataset.resize_to_test_size`: the official
    reader's antialiased resize, never upsampling), or None for the native size: `options.size`, else the dataset
    entry's, else the preset's."""
    entry = options.datasets.get(dataset) or DatasetEvaluation()  # type: ignore[call-overload]
    return options.size or entry.size or evaluation_size(options.preset, dataset)


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
