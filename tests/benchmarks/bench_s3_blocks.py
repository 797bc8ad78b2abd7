"""Time S3's pixel encoder (and its parts) at 854×480 (padded to 864×480) on this machine.

Not collected by pytest (name `bench_*`). Run:

    .venv/bin/python tests/benchmarks/bench_s3_blocks.py [--threads 1 2] [--repeats 3] [--parts]

Prints best-of-N seconds per frame for fp32 and bf16 autocast, under inference mode with random weights;
`--parts` also times the ViT alone, the SPM, one extractor, one semantic cross-attention and the last
interaction stage (semantic read and three extractors).
`benchmark_pixel_encoder()` returns the rows for `s3 benchmark`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from s3.model.deformable_attention import grid_reference_points
from s3.model.deploy import inference_view
from s3.model.spatial_semantic_encoder import SpatialSemanticEncoder

__all__ = ["benchmark_pixel_encoder", "main"]


def seconds_per_call(function: Callable[..., Any], args: tuple, bf16: bool, repeats: int) -> float:
    """Best wall time of `function(*args)` under inference mode (and bf16 autocast), after one warm-up call."""

    def call() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            function(*args)

    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def run_vit(encoder: SpatialSemanticEncoder, image: torch.Tensor) -> torch.Tensor:
    tokens, _ = encoder.vit_module.prepare_tokens(image)
    return encoder.vit_module.run_blocks(tokens, 0, len(encoder.vit_module.blocks))


def benchmark_pixel_encoder(
    height: int = 480,
    width: int = 864,
    threads: tuple[int, ...] = (1, 2),
    dtypes: tuple[str, ...] = ("fp32", "bf16"),
    repeats: int = 3,
    parts: bool = False,
) -> list[dict[str, Any]]:
    """Seconds per frame of the full-size encoder's inference form (`s3.model.deploy`) for each (threads, dtype)."""
    torch.manual_seed(0)
    encoder = inference_view(SpatialSemanticEncoder()).eval()
    image = torch.randn(1, 3, height, width)
    grid = (height // 16, width // 16)
    tokens = grid[0] * grid[1]
    stage = encoder.interactions[0]
    extractor_args = (
        torch.randn(1, 5 * tokens, 768),
        torch.randn(1, tokens, 768),
        grid_reference_points([(2 * grid[0], 2 * grid[1]), grid]),
        grid,
    )
    semantic_args = (extractor_args[0], torch.randn(1, 1, 768), extractor_args[1])
    stage_args = (extractor_args[0], semantic_args[1], *extractor_args[1:])
    previous_threads = torch.get_num_threads()
    results = []
    for num_threads in threads:
        torch.set_num_threads(num_threads)
        for dtype in dtypes:
            bf16 = dtype == "bf16"
            row: dict[str, Any] = {"threads": num_threads, "dtype": dtype}
            row["encoder_s"] = seconds_per_call(encoder, (image,), bf16, repeats)
            if parts:
                row["vit_s"] = seconds_per_call(run_vit, (encoder, image), bf16, repeats)
                row["spm_s"] = seconds_per_call(encoder.spm, (image,), bf16, repeats)
                row["extractor_s"] = seconds_per_call(stage.extractor, extractor_args, bf16, repeats)
                row["semantic_s"] = seconds_per_call(stage.read_from_cls, semantic_args, bf16, repeats)
                # semantic read + 3 extractors, in the row-blocked inference form
                row["last_stage_s"] = seconds_per_call(encoder.interactions[-1], stage_args, bf16, repeats)
            results.append(row)
    torch.set_num_threads(previous_threads)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time S3's pixel encoder at 854×480 (padded to 864×480).")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=864)
    parser.add_argument("--parts", action="store_true")
    args = parser.parse_args(argv)
    rows = benchmark_pixel_encoder(
        args.height, args.width, tuple(args.threads), tuple(args.dtypes), args.repeats, args.parts
    )
    for row in rows:
        print(
            "  ".join(
                f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}" for key, value in row.items()
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
