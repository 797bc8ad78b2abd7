"""Memory-boundedness benchmark: RSS growth of the predictor over a long synthetic video.

    .venv/bin/python tests/benchmarks/bench_inference_memory.py --frames 5000

Runs the tiny random-weight network on small synthetic frames with long-term memory (the LVOS setting,
`mem_every 1` so the stores fill quickly), and reports the process RSS at frame 500 and at the end.
Target (issue 4): growth <= 5 %. Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys

import torch
from rich.progress import Progress

from s3.inference import InferenceConfig, VideoPredictor
from s3.model.factory import build_network


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc, no extra dependency)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def synthetic_frame(t: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A noisy frame with two rectangles drifting over time (3 H W in [0, 1])."""
    frame = torch.rand(3, height, width, generator=generator) * 0.2
    top, left = (t // 3) % (height // 2), (t * 2) % (width // 2)
    frame[0, top : top + height // 3, left : left + width // 4] = 0.9
    frame[2, height // 2 :, (width - left) // 2 : (width - left) // 2 + width // 5] = 0.8
    return frame


def run(
    frames: int, height: int, width: int, checkpoint_frame: int, long_term: bool, mem_every: int
) -> dict[str, float]:
    torch.manual_seed(0)
    network = build_network("cutie", "tiny").eval()
    config = InferenceConfig(mem_every=mem_every, use_long_term=long_term)
    predictor = VideoPredictor(network, config)
    generator = torch.Generator().manual_seed(0)
    first = synthetic_frame(0, height, width, generator)
    mask = torch.zeros(height, width, dtype=torch.int64)
    mask[: height // 3, : width // 4] = 1
    mask[height // 2 :, width // 2 : width // 2 + width // 5] = 2
    predictor.step(first, mask)
    rss_at_checkpoint = 0
    peak_tokens = {"working": 0, "long_term": 0}
    with Progress() as progress:
        task = progress.add_task("frames", total=frames)
        for t in range(1, frames):
            predictor.step(synthetic_frame(t, height, width, generator), end=t == frames - 1)
            counts = predictor.memory.token_counts()
            for name in peak_tokens:
                peak_tokens[name] = max(peak_tokens[name], counts[name])
            if t == checkpoint_frame:
                gc.collect()
                rss_at_checkpoint = rss_bytes()
            progress.advance(task)
    gc.collect()
    rss_end = rss_bytes()
    return {
        "frames": frames,
        "rss_at_checkpoint_mib": rss_at_checkpoint / 2**20,
        "rss_end_mib": rss_end / 2**20,
        "growth_percent": 100.0 * (rss_end - rss_at_checkpoint) / rss_at_checkpoint,
        "peak_working_tokens": peak_tokens["working"],
        "peak_long_term_tokens": peak_tokens["long_term"],
        "consolidations": predictor.memory.consolidations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--checkpoint-frame", type=int, default=500)
    parser.add_argument("--mem-every", type=int, default=1)
    parser.add_argument("--no-long-term", action="store_true", help="FIFO working memory only (Cutie default)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = run(args.frames, args.height, args.width, args.checkpoint_frame, not args.no_long_term, args.mem_every)
    for name, value in result.items():
        print(f"{name:>24}: {value:.2f}" if isinstance(value, float) else f"{name:>24}: {value}")
    target_met = result["growth_percent"] <= 5.0
    print(f"{'target (<= 5 %)':>24}: {'met' if target_met else 'NOT met'}")
    return 0 if target_met else 1


if __name__ == "__main__":
    sys.exit(main())
