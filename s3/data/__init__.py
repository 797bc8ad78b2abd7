"""Data: dataset readers, the training clip pipeline, evaluation videos and the synthetic demo set.

Names are imported lazily so that light modules (e.g. `s3.data.synthetic`) do not pull in Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3.data.batch import ClipBatch, VideoSample
    from s3.data.datamodule import CropOptions, CurriculumOptions, SyntheticOptions, VOSDataModule
    from s3.data.registry import DatasetSpec, EvalSpec
    from s3.data.synthetic import ensure_synthetic_davis, generate_synthetic_davis

_HOMES = {
    "ClipBatch": "s3.data.batch",
    "VideoSample": "s3.data.batch",
    "CropOptions": "s3.data.datamodule",
    "CurriculumOptions": "s3.data.datamodule",
    "SyntheticOptions": "s3.data.datamodule",
    "VOSDataModule": "s3.data.datamodule",
    "DatasetSpec": "s3.data.registry",
    "EvalSpec": "s3.data.registry",
    "ensure_synthetic_davis": "s3.data.synthetic",
    "generate_synthetic_davis": "s3.data.synthetic",
}

__all__ = [
    "ClipBatch",
    "CropOptions",
    "CurriculumOptions",
    "DatasetSpec",
    "EvalSpec",
    "SyntheticOptions",
    "VOSDataModule",
    "VideoSample",
    "ensure_synthetic_davis",
    "generate_synthetic_davis",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
