"""`s3 benchmark`: inference speed of a network preset, in the convention of VOS papers.

    s3 benchmark --preset cutie --size 480 --frames 50 [--compare cutie] [--device cuda] [--precision bf16]

Times the whole predictor step (image encoding, memory read, decoding, memory update every `mem_every`
frames) on a synthetic 854x480-shaped video at the test size, after a warm-up, with frames already on the
device (no file I/O). Reports milliseconds per frame and FPS, and the ratio to another preset if asked.
Random weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from s3.inference.config import inference_config
from s3.inference.predictor import VideoPredictor

Precision = Literal["fp32", "bf16"]
REFERENCE_ASPECT = 854 / 480  # DAVIS frames


class BenchmarkError(ValueError):
    """Bad benchmark settings (the message names the option)."""


@dataclass
class BenchmarkResult:
    """One timing: wall-clock `ms_per_frame` averaged over `frames` timed steps (the paper convention)."""

    preset: str
    network_size: str
    height: int
    width: int
    objects: int
    frames: int
    device: str
    precision: str
    threads: int
    ms_per_frame: float
    fps: float
    cpu_ms_per_frame: float  # process CPU time (all threads): a load-independent hint on shared machines


def synthetic_frames(
    count: int, height: int, width: int, objects: int, device: torch.device
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A pool of `count` random frames (3 H W) and a first-frame mask with `objects` rectangles."""
    generator = torch.Generator().manual_seed(0)
    frames = [torch.rand(3, height, width, generator=generator).to(device) for _ in range(count)]
    mask = torch.zeros(height, width, dtype=torch.int64)
    for i in range(objects):
        top, left = (i * height) // (objects + 1), (i * width) // (objects + 1)
        mask[top : top + height // 4, left : left + width // 4] = i + 1
    return frames, mask.to(device)


def benchmark_predictor(
    preset: str = "cutie",
    network_size: str = "base",
    size: int = 480,
    *,
    frames: int = 50,
    warmup: int = 5,
    objects: int = 2,
    device: str = "cpu",
    precision: Precision = "fp32",
    inference_preset: str = "cutie",
) -> BenchmarkResult:
    """Builds `preset` at `network_size` (random weights) and times `frames` predictor steps at `size`p."""
    if frames < 1 or warmup < 0 or objects < 1 or size < 16:
        raise BenchmarkError(f"need frames >= 1, warmup >= 0, objects >= 1, size >= 16; got {frames}/{warmup}/"
                             f"{objects}/{size}")  # fmt: skip
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda: no CUDA device is available")
    from s3.model.factory import build_network

    check_network_names(preset, network_size)
    torch_device = torch.device(device)
    torch.manual_seed(0)
    network = build_network(preset, network_size).to(torch_device)
    config = inference_config(inference_preset, amp=precision == "bf16", amp_dtype="bfloat16")
    predictor = VideoPredictor(network, config)
    height, width = size, int(size * REFERENCE_ASPECT)
    pool, mask = synthetic_frames(8, height, width, objects, torch_device)

    def synchronize() -> None:
        if torch_device.type == "cuda":
            torch.cuda.synchronize(torch_device)

    total = 1 + warmup + frames
    predictor.step(pool[0], mask)
    for t in range(1, 1 + warmup):
        predictor.step(pool[t % len(pool)])
    synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    for t in range(1 + warmup, total):
        predictor.step(pool[t % len(pool)], end=t == total - 1)
    synchronize()
    elapsed, cpu_elapsed = time.perf_counter() - start, time.process_time() - cpu_start
    return BenchmarkResult(
        preset=preset,
        network_size=network_size,
        height=height,
        width=width,
        objects=objects,
        frames=frames,
        device=str(torch_device) if torch_device.type != "cuda" else torch.cuda.get_device_name(torch_device),
        precision=precision,
        threads=torch.get_num_threads(),
        ms_per_frame=1000.0 * elapsed / frames,
        fps=frames / elapsed,
        cpu_ms_per_frame=1000.0 * cpu_elapsed / frames,
    )


def check_network_names(preset: str, network_size: str) -> None:
    """Raises `BenchmarkError` for an unknown preset or size (the registry raises a plain ValueError)."""
    from s3.model.registry import get_preset, get_size

    try:
        get_preset(preset)
        get_size(network_size)
    except ValueError as error:
        raise BenchmarkError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3 benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True, help="network preset to time (e.g. cutie)")
    parser.add_argument("--size", type=int, default=480, help="test size: frame height (width = 854/480 of it)")
    parser.add_argument("--network-size", default="base", help="network size: base, small or tiny")
    parser.add_argument("--frames", type=int, default=50, help="timed frames (after warm-up)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames after the first (masked) frame")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--compare", help="also time this preset and print the speed ratio")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--inference-preset", default="cutie", help="memory policy preset")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        presets = [args.preset] + ([args.compare] if args.compare and args.compare != args.preset else [])
        results = [
            benchmark_predictor(
                preset,
                args.network_size,
                args.size,
                frames=args.frames,
                warmup=args.warmup,
                objects=args.objects,
                device=args.device,
                precision=args.precision,
                inference_preset=args.inference_preset,
            )
            for preset in presets
        ]
    except ValueError as error:
        if not type(error).__module__.startswith("s3."):
            raise
        print(f"s3 benchmark: error: {error}", file=sys.stderr)
        return 2
    print_results(results)
    return 0


def print_results(results: list[BenchmarkResult]) -> None:
    """One line per result, the speed ratio when two presets were timed, then the raw numbers as JSON."""
    for r in results:
        print(
            f"{r.preset} ({r.network_size}) {r.width}x{r.height}, {r.objects} objects, {r.device} {r.precision}, "
            f"{r.threads} thread(s): {r.ms_per_frame:.1f} ms/frame, {r.fps:.2f} FPS over {r.frames} frames"
        )
    if len(results) == 2:
        ratio = results[1].ms_per_frame / results[0].ms_per_frame
        print(f"speed ratio {results[0].preset} / {results[1].preset}: {ratio:.2f}x")
    for r in results:
        print(json.dumps(asdict(r)))


if __name__ == "__main__":
    sys.exit(main())
