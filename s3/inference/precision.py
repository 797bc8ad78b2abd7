"""bf16 inference on CPUs: whether this CPU has bf16 instructions, and how far bf16 moves J&F from fp32.

bf16 autocast on a CPU is only worth it with AMX (`amx_bf16`) or AVX-512-BF16 (`avx512_bf16`): without them
every bf16 matmul and convolution falls back to slow kernels. The flags are read from `/proc/cpuinfo`, never
assumed; fp32 stays the default.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from s3.inference.config import InferenceConfig

if TYPE_CHECKING:  # the predictor imports this module: keep its import light
    from s3.data.batch import VideoSample
    from s3.model.network import VOSNetwork

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path | None = None) -> frozenset[str]:
    """The instruction-set flags of this CPU (Linux `/proc/cpuinfo`; empty where it cannot be read)."""
    try:
        text = (CPUINFO if cpuinfo is None else cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_flags(flags: frozenset[str] | None = None) -> list[str]:
    """Which of the bf16 instruction flags (`amx_bf16`, `avx512_bf16`) this CPU has."""
    flags = cpu_flags() if flags is None else flags
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def bf16_warning(precision: str, device: str | torch.device, flags: frozenset[str] | None = None) -> str | None:
    """A one-line warning when bf16 is asked on a CPU without bf16 instructions, else None."""
    if precision != "bf16" or torch.device(device).type != "cpu" or cpu_bf16_flags(flags):
        return None
    return (
        "--precision bf16 on a CPU without amx_bf16 / avx512_bf16 (per /proc/cpuinfo): bf16 kernels fall back to "
        "slow paths there; fp32 is faster"
    )


@dataclass
class PrecisionAgreement:
    """J&F of fp32 and bf16 inference with the same weights on the same synthetic validation videos."""

    videos: int
    frames: int
    jf_fp32: float
    jf_bf16: float
    pixel_agreement: float  # share of scored pixels whose predicted id is the same under both precisions

    @property
    def jf_difference(self) -> float:
        """bf16 minus fp32."""
        return self.jf_bf16 - self.jf_fp32


def synthetic_validation_videos(count: int) -> list[VideoSample]:
    """The first `count` videos of the synthetic validation set (s3.data.synthetic, the demo's), written to a
    scratch folder and read back by the evaluation reader (JPEG frames, as the demo validates on them)."""
    from s3.data.eval_dataset import VideoEvalDataset
    from s3.data.registry import EvalSpec, read_eval_dataset
    from s3.data.synthetic import generate_synthetic_davis

    with tempfile.TemporaryDirectory(prefix="s3-bf16-") as scratch:
        folder = generate_synthetic_davis(Path(scratch) / "synthetic", num_train=0, num_val=count)
        records = read_eval_dataset(folder, EvalSpec(name="davis", split="val", path="."))
        return [VideoEvalDataset(records)[i] for i in range(min(count, len(records)))]


@torch.inference_mode()
def precision_agreement(
    network: VOSNetwork, videos: list[VideoSample], config: InferenceConfig | None = None, dtype: str = "bfloat16"
) -> PrecisionAgreement:
    """Runs every video with fp32 and with `dtype` autocast (same network, same memory policy) and scores both
    against the ground truth with the DAVIS metrics."""
    from s3.inference.predictor import VideoPredictor  # the predictor imports this module for its warning
    from s3.inference.propagation import propagate_video
    from s3.metrics.vos_metric import VOSMetric

    config = config if config is not None else InferenceConfig()
    device = next(network.parameters()).device
    metrics = {"fp32": VOSMetric(), "bf16": VOSMetric()}
    predictors = {
        "fp32": VideoPredictor(network, config.replace(amp=False)),
        "bf16": VideoPredictor(network, config.replace(amp=True, amp_dtype=dtype)),
    }
    same = total = frames = 0
    for video in videos:
        on_device = {**video, "images": video["images"].to(device), "masks": video["masks"].to(device)}
        predictions = {name: propagate_video(p, on_device) for name, p in predictors.items()}
        for name, prediction in predictions.items():
            metrics[name].update_from_sample(prediction, video, void=video.get("void"))
        same += int((predictions["fp32"][1:-1] == predictions["bf16"][1:-1]).sum())
        total += predictions["fp32"][1:-1].numel()
        frames += video["images"].shape[0]
    scores = {name: float(metric.compute()["J&F"]) for name, metric in metrics.items()}
    return PrecisionAgreement(
        videos=len(videos),
        frames=frames,
        jf_fp32=scores["fp32"],
        jf_bf16=scores["bf16"],
        pixel_agreement=same / total if total else float(np.nan),
    )
