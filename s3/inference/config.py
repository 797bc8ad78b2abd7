"""Test-time memory policy: `InferenceConfig` and the named evaluation presets (ARCHITECTURE.md §3.3).

The values are those of the upstream `eval_config` files; per-dataset settings (test size, long-term
memory) are layered on top by `inference_config(preset, dataset)`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from s3.errors import S3Error

AmpDtype = Literal["bfloat16", "float16"]
# The names of `EVALUATION_PRESETS` (a test keeps the two equal); a Literal so that configs are checked on parsing.
EvaluationPresetName = Literal["cutie", "cutie-plus", "s3-release"]


class InferenceConfigError(S3Error, ValueError):
    """An inference setting is out of range or unknown (the message names the field)."""


@dataclass
class LongTermConfig:
    """XMem-style long-term memory limits (frames are converted to tokens with the feature-map size h·w).

    Args:
        max_mem_frames: working memory (frames, permanent frame included) that triggers a consolidation.
        min_mem_frames: newest frames (permanent frame included) kept in working memory by a consolidation.
        num_prototypes: tokens produced by one consolidation.
        max_num_tokens: long-term capacity in tokens.
        buffer_tokens: extra tokens freed when the long-term store is pruned.
        count_usage: also count how often long-term tokens are read (pruning keeps the most used).
    """

    max_mem_frames: int = 10
    min_mem_frames: int = 5
    num_prototypes: int = 128
    max_num_tokens: int = 10000
    buffer_tokens: int = 2000
    count_usage: bool = True


@dataclass
class InferenceConfig:
    """How the predictor segments a video.

    Args:
        mem_every: a frame becomes a memory frame every `mem_every` frames (and whenever a mask is given).
        top_k: similarities kept per query pixel in the memory read; None reads with a full softmax.
        stagger_updates: how many of the frames between two memory frames update the sensory memory.
        chunk_size: objects processed together in the memory read / encoders (-1: all at once).
        max_mem_frames: working-memory frames incl. the permanent one (no long-term); <= 0 keeps every frame.
        use_long_term: consolidate old working memory into long-term prototypes instead of dropping it.
        long_term: the long-term limits.
        max_internal_size: if > 0 and the shorter side is larger, frames are processed at this shorter side.
        flip_aug: average with the horizontally flipped video (the memories then carry batch 2).
        amp: run the network under autocast (`amp_dtype`); memory reads stay fp32.
        amp_dtype: autocast dtype.
    """

    mem_every: int = 5
    top_k: int | None = 30
    stagger_updates: int = 5
    chunk_size: int = -1
    max_mem_frames: int = 5
    use_long_term: bool = False
    long_term: LongTermConfig = field(default_factory=LongTermConfig)
    max_internal_size: int = -1
    flip_aug: bool = False
    amp: bool = False
    amp_dtype: AmpDtype = "bfloat16"

    def __post_init__(self) -> None:
        if isinstance(self.long_term, dict):
            self.long_term = LongTermConfig(**self.long_term)
        self.validate()

    def validate(self) -> None:
        """Raises `InferenceConfigError` naming the first bad field."""
        checks: list[tuple[bool, str]] = [
            (self.mem_every >= 1, f"mem_every must be >= 1, got {self.mem_every}"),
            (self.top_k is None or self.top_k >= 1, f"top_k must be >= 1 or None, got {self.top_k}"),
            (self.stagger_updates >= 1, f"stagger_updates must be >= 1, got {self.stagger_updates}"),
            (self.chunk_size != 0, "chunk_size must be -1 (all objects) or >= 1, got 0"),
            (self.amp_dtype in ("bfloat16", "float16"), f"amp_dtype must be bfloat16 or float16, got {self.amp_dtype}"),
        ]
        lt = self.long_term
        if self.use_long_term:
            checks += [
                (lt.min_mem_frames >= 1, f"long_term.min_mem_frames must be >= 1, got {lt.min_mem_frames}"),
                (
                    lt.max_mem_frames > lt.min_mem_frames,
                    f"long_term.max_mem_frames ({lt.max_mem_frames}) must exceed min_mem_frames ({lt.min_mem_frames})",
                ),
                (lt.num_prototypes >= 1, f"long_term.num_prototypes must be >= 1, got {lt.num_prototypes}"),
                (
                    lt.max_num_tokens > lt.num_prototypes + lt.buffer_tokens,
                    f"long_term.max_num_tokens ({lt.max_num_tokens}) must exceed num_prototypes + buffer_tokens "
                    f"({lt.num_prototypes + lt.buffer_tokens})",
                ),
                (lt.buffer_tokens >= 0, f"long_term.buffer_tokens must be >= 0, got {lt.buffer_tokens}"),
            ]
        for ok, message in checks:
            if not ok:
                raise InferenceConfigError(f"inference config: {message}")

    def stagger_offsets(self) -> frozenset[int]:
        """Frame offsets after the last memory frame at which the decoder updates the sensory memory.

        All of 1..mem_every when `stagger_updates >= mem_every`, else `round(linspace(1, mem_every, n))`
        (mem_every 10, stagger 5 -> {1, 3, 6, 8, 10}).
        """
        if self.stagger_updates >= self.mem_every:
            return frozenset(range(1, self.mem_every + 1))
        offsets = np.round(np.linspace(1, self.mem_every, self.stagger_updates))  # half to even, as upstream
        return frozenset(int(x) for x in offsets)

    def replace(self, **changes: Any) -> InferenceConfig:
        """A copy with some fields changed (`long_term` may be given as a dict of its fields)."""
        long_term = changes.pop("long_term", None)
        config = dataclasses.replace(self, long_term=dataclasses.replace(self.long_term), **changes)
        if long_term is not None:
            lt_changes = long_term if isinstance(long_term, dict) else dataclasses.asdict(long_term)
            config.long_term = dataclasses.replace(config.long_term, **lt_changes)
        config.validate()
        return config


@dataclass(frozen=True)
class EvaluationPreset:
    """A named evaluation setting: the inference config, the default test size and per-dataset overrides."""

    name: str
    description: str
    config: dict[str, Any]
    size: int | None  # shorter side of the test frames (never upsampled); None = native
    # dataset name of the data layer (davis, youtube2019, ...) -> overrides (may hold "size")
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)


def _per_dataset(**families: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Expands settings given per benchmark family to every dataset name of the data layer in that family
    (`davis` -> davis, davis2016; `youtube` -> youtube2018, youtube2019); the tables are keyed by those names."""
    members = {"davis": ("davis", "davis2016"), "youtube": ("youtube2018", "youtube2019")}
    return {name: dict(settings) for family, settings in families.items() for name in members.get(family, (family,))}


_CUTIE_FAMILIES: dict[str, dict[str, Any]] = {
    "davis": {"size": 480},
    "youtube": {"size": 480},
    "mose": {"size": 480},
    "lvos": {"size": 480, "use_long_term": True},
    "burst": {"size": 600, "use_long_term": True, "mem_every": 10},
}

EVALUATION_PRESETS: dict[str, EvaluationPreset] = {
    "cutie": EvaluationPreset(
        "cutie",
        "Cutie's eval_config: mem_every 5, top-k 30, 5 working frames, no long-term, fp32",
        {},
        480,
        _per_dataset(**_CUTIE_FAMILIES),
    ),
    "cutie-plus": EvaluationPreset(
        "cutie-plus",
        "Cutie's eval_plus_config (Table 3 'test size 600/720'): 10 working frames, larger test sizes",
        {"max_mem_frames": 10},
        480,
        _per_dataset(
            **{
                **_CUTIE_FAMILIES,
                "davis": {"size": 720, "mem_every": 3},
                "mose": {"size": 720, "mem_every": 3},
                "youtube": {"size": 600, "mem_every": 5},
            }
        ),
    ),
    "s3-release": EvaluationPreset(
        "s3-release",
        "the official S3 eval_config: size 720 everywhere, long-term 25/15 frames, mem_every 10, flip TTA",
        {
            "use_long_term": True,
            "mem_every": 10,
            "flip_aug": True,
            "long_term": {"max_mem_frames": 25, "min_mem_frames": 15, "max_num_tokens": 30000, "buffer_tokens": 3000},
        },
        720,
        {},  # the release's global size overrides every per-dataset size
    ),
}


def inference_config(preset: str = "cutie", dataset: str | None = None, **overrides: Any) -> InferenceConfig:
    """The `InferenceConfig` of an evaluation preset, with the dataset's and then explicit overrides applied."""
    spec = get_evaluation_preset(preset)
    changes = dict(spec.config)
    if dataset is not None:
        changes.update({k: v for k, v in spec.datasets.get(dataset, {}).items() if k != "size"})
    changes.update(overrides)
    known = {f.name for f in dataclasses.fields(InferenceConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise InferenceConfigError(f"inference config: unknown field(s) {', '.join(unknown)}")
    return InferenceConfig().replace(**changes)


def evaluation_size(preset: str = "cutie", dataset: str | None = None) -> int | None:
    """Shorter side of the test frames for `dataset` under `preset` (None = native resolution)."""
    spec = get_evaluation_preset(preset)
    if dataset is not None and "size" in spec.datasets.get(dataset, {}):
        return spec.datasets[dataset]["size"]
    return spec.size


def get_evaluation_preset(name: str) -> EvaluationPreset:
    if name not in EVALUATION_PRESETS:
        raise InferenceConfigError(f"unknown inference preset {name!r}; available: {', '.join(EVALUATION_PRESETS)}")
    return EVALUATION_PRESETS[name]
