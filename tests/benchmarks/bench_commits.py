"""Before/after speed of two checkouts of this project, frame by frame in lockstep, in one run.

    .venv/bin/python tests/benchmarks/bench_commits.py --old ../wt-old --new . --preset s3 --compare cutie \
        --frames 4 --warmup 1 --threads 1 --reference

Each (checkout, preset) gets its own worker process, importing `s3` from that checkout (PYTHONPATH) and holding one
`s3.benchmark.TimedPredictor` (random weights, synthetic 854×480 frames by default, 2 objects, as `s3 benchmark`). The
coordinator asks the workers for one frame each in turn (rotating the order every round) while the others wait,
so every round of frames sees the same machine load; it prints wall and CPU seconds per frame and the median over
rounds of the paired ratios (robust to bursts of outside load on a shared machine). `--reference` adds a worker
running the new checkout's reference modules (`VideoPredictor(fast_paths=False)`). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path


def worker(preset: str, network_size: str, size: int, reference: bool, threads: int) -> int:
    """Steps one frame per line read on stdin; prints `wall_seconds cpu_seconds` per frame."""
    import torch

    from s3.benchmark import TimedPredictor

    torch.set_num_threads(threads)
    options = {"fast_paths": False} if reference else {}
    timer = TimedPredictor(preset, network_size, size, 2, torch.device("cpu"), "fp32", "cutie", **options)
    print("ready", flush=True)
    for _ in sys.stdin:
        cpu = timer.cpu_seconds
        timer.step()
        print(f"{timer.frame_seconds[-1]:.4f} {timer.cpu_seconds - cpu:.4f}", flush=True)
    return 0


def start(checkout: Path, preset: str, reference: bool, args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", preset, "--threads", str(args.threads),
               "--network-size", args.network_size, "--size", str(args.size)]  # fmt: skip
    if reference:
        command.append("--reference")
    env = dict(os.environ, PYTHONPATH=str(checkout.resolve()))
    process = subprocess.Popen(command, cwd=checkout, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if process.stdout is None or process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"worker for {preset} in {checkout} did not start")
    return process


def paired(first: list[float], second: list[float]) -> float:
    """Median over rounds of first / second."""
    return statistics.median(a / b for a, b in zip(first, second, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="checkout of the earlier commit")
    parser.add_argument("--new", type=Path, default=Path("."), help="checkout of the later commit")
    parser.add_argument("--preset", default="s3")
    parser.add_argument("--compare", default=None, help="a second preset timed in both checkouts")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--network-size", default="base")
    parser.add_argument("--size", type=int, default=480, help="frame height (width 854/480 of it)")
    parser.add_argument("--reference", action="store_true", help="also time the new checkout's reference modules")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker(args.worker, args.network_size, args.size, args.reference, args.threads)
    if args.old is None:
        parser.error("--old is required")

    presets = [args.preset] + ([args.compare] if args.compare else [])
    jobs = {f"{preset} {label}": (checkout, preset, False) for preset in presets
            for label, checkout in (("old", args.old), ("new", args.new))}  # fmt: skip
    if args.reference:
        jobs[f"{args.preset} new reference"] = (args.new, args.preset, True)
    workers = {name: start(*job, args) for name, job in jobs.items()}
    names = list(workers)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for index in range(args.warmup + args.frames):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            process = workers[name]
            process.stdin.write("step\n")
            process.stdin.flush()
            seconds, cpu_seconds = map(float, process.stdout.readline().split())
            if index >= args.warmup:
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
        if index >= args.warmup:
            cells = ", ".join(f"{name} {wall[name][-1]:.2f}/{cpu[name][-1]:.2f}" for name in names)
            print(f"frame {index - args.warmup} (s wall/CPU): {cells}", flush=True)
    for process in workers.values():
        process.stdin.close()
        process.wait()

    for name in names:
        print(f"{name}: {statistics.mean(wall[name]):.2f} s/frame wall, {statistics.mean(cpu[name]):.2f} s/frame CPU")
    for label, times in (("wall", wall), ("CPU", cpu)):
        ratios = [f"{p} new/old {paired(times[f'{p} new'], times[f'{p} old']):.3f}" for p in presets]
        if args.compare:
            between = paired(times[f"{args.preset} new"], times[f"{args.compare} new"])
            ratios.append(f"{args.preset}/{args.compare} new {between:.2f}")
        if args.reference:
            reference = paired(times[f"{args.preset} new reference"], times[f"{args.preset} new"])
            ratios.append(f"{args.preset} reference/new {reference:.2f}")
        print(f"median paired ratios ({label}): " + ", ".join(ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
