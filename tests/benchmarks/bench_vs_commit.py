"""Time this tree's predictor against a base commit's, frame by frame in ONE process, on identical weights.

Not collected by pytest (name `bench_*`). Run from the repository root:

    .venv/bin/python tests/benchmarks/bench_vs_commit.py --base 95de9cd --preset cutie --frames 10 [--compile]

The base commit's `s3/` is exported with `git archive` into a temporary folder and renamed `s3_base` (every
`import s3` / `from s3.` in its files rewritten), so both versions are imported side by side. Both networks get the
same random weights (the base loads this tree's state dict), both predictors see the same frames (854x480 at the
default `--height 480`, 2 objects, fp32, 2 threads), and their steps alternate frame by frame (the order flips every
frame) so that load on a shared machine hits both alike. Prints per-frame medians, the ratio of the means and the
median of the back-to-back pair ratios (base / this tree: > 1 means this tree is faster), the largest difference of
their outputs, the GFLOP per frame (torch's counter with CPU attention counted, eager forms) and the achieved
GFLOP/s beside this machine's sgemm peak measured here (best of a few 2048^3 fp32 matmuls at the same thread count).
With `--compile`, this tree's predictor runs the compiled path (`s3.inference.compiled`) and the compile time is
reported apart; add `--reference` to time this tree's uncompiled path as a third column.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]
IMPORT_PATTERN = re.compile(r"^(\s*)(from|import)(\s+)s3(?=[\s.]|$)", re.MULTILINE)
STRING_PATTERN = re.compile(r"""(["'])s3\.""")


def export_commit(commit: str, destination: Path) -> Path:
    """`git archive` of `commit`'s `s3/` into `destination/s3_base`, imports rewritten to `s3_base`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, "s3"], check=True,
                             capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    package = destination / "s3_base"
    (destination / "s3").rename(package)
    for path in package.rglob("*.py"):
        text = path.read_text()
        text = IMPORT_PATTERN.sub(r"\1\2\3s3_base", text)
        text = STRING_PATTERN.sub(r"\1s3_base.", text)  # importlib targets, "s3.x:main" entry strings
        path.write_text(text)
    return package


def sgemm_peak(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of an fp32 `size`^3 matmul at `threads` threads (this machine's practical sgemm peak)."""
    torch.set_num_threads(threads)
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


class Side:
    """One version's predictor on the shared frame pool, with its step times."""

    def __init__(self, name: str, package: str, network: torch.nn.Module, preset_config: str, **options: Any) -> None:
        predictor_module = importlib.import_module(f"{package}.inference.predictor")
        config_module = importlib.import_module(f"{package}.inference.config")
        predictor_class = predictor_module.VideoPredictor
        accepted = inspect.signature(predictor_class.__init__).parameters
        kwargs = {key: value for key, value in options.items() if key in accepted}
        self.name = name
        self.predictor = predictor_class(network, config_module.inference_config(preset_config), **kwargs)
        self.mem_every = self.predictor.config.mem_every
        self.times: list[float] = []
        self.first_seconds = 0.0

    def step(self, frame: torch.Tensor, mask: torch.Tensor | None = None, timed: bool = True) -> torch.Tensor:
        start = time.perf_counter()
        out = self.predictor.step(frame, mask)
        if timed:
            self.times.append(time.perf_counter() - start)
        return out


def count_gflops(side: Side, frames: list[torch.Tensor]) -> float:
    """GFLOP per frame over one memory cycle of further steps (untimed), torch's counter + CPU attention."""
    from torch.utils.flop_counter import FlopCounterMode

    from s3.benchmark import ATTENTION_FLOP_FORMULAS

    counter = FlopCounterMode(display=False, custom_mapping=ATTENTION_FLOP_FORMULAS)
    with counter:
        for index in range(side.mem_every):
            side.step(frames[index % len(frames)], timed=False)
    return counter.get_total_flops() / side.mem_every / 1e9


def build_pair(preset: str, network_size: str, base_package: ModuleType) -> tuple[torch.nn.Module, torch.nn.Module]:
    """This tree's network and the base's, the base loading this tree's random weights (strictly)."""
    from s3.model.factory import build_network

    torch.manual_seed(0)
    network = build_network(preset, network_size).eval()
    base_factory = importlib.import_module(f"{base_package.__name__}.model.factory")
    base = base_factory.build_network(preset, network_size).eval()
    base.load_state_dict(network.state_dict(), strict=True)
    return network, base


def summarize(sides: list[Side], baseline: Side) -> list[str]:
    """Per-side median and mean ms, then baseline/side ratio of means and median of pair ratios."""
    lines = []
    for side in sides:
        median, mean = 1000 * statistics.median(side.times), 1000 * statistics.fmean(side.times)
        line = f"{side.name:>10}: median {median:8.1f} ms/frame, mean {mean:8.1f}"
        if side is not baseline:
            ratio = statistics.fmean(baseline.times) / statistics.fmean(side.times)
            pairs = statistics.median(b / s for b, s in zip(baseline.times, side.times, strict=True))
            line += f"  | {baseline.name}/{side.name}: ratio of means {ratio:.3f}x, median of pair ratios {pairs:.3f}x"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="95de9cd", help="commit to compare against (default: 95de9cd)")
    parser.add_argument("--preset", default="cutie")
    parser.add_argument("--size", default="base", help="network size (base, small, tiny), as in `s3 benchmark`")
    parser.add_argument("--frames", type=int, default=10, help="timed frames per side")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames after the masked first frame")
    parser.add_argument("--height", type=int, default=480, help="frame height (width 854/480 of it)")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="this tree's predictor runs the compiled path")
    parser.add_argument("--reference", action="store_true", help="also time this tree's uncompiled path")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from s3.benchmark import REFERENCE_ASPECT, synthetic_frames

    torch.set_num_threads(args.threads)
    workdir = tempfile.TemporaryDirectory(prefix="s3_base_")
    export_commit(args.base, Path(workdir.name))
    sys.path.insert(0, workdir.name)
    base_package = importlib.import_module("s3_base")
    network, base_network = build_pair(args.preset, args.size, base_package)

    height, width = args.height, int(args.height * REFERENCE_ASPECT)
    frames, mask = synthetic_frames(8, height, width, args.objects, torch.device("cpu"))
    base = Side(f"base {args.base}", "s3_base", base_network, "cutie")
    sides = [base]
    if args.reference or not args.compile:
        sides.append(Side("this tree", "s3", network, "cutie"))
    if args.compile:
        sides.append(Side("compiled", "s3", network, "cutie", compile=True))

    # First (masked) frame and warm-up: compilation happens here; its time is reported apart.
    outputs = {}
    for side in sides:
        start = time.perf_counter()
        outputs[side.name] = side.step(frames[0], mask, timed=False)
        for index in range(1, args.warmup + 1):
            outputs[side.name] = side.step(frames[index % len(frames)], timed=False)
        side.first_seconds = time.perf_counter() - start
        print(f"{side.name:>10}: first frame + warm-up {side.first_seconds:.1f} s", flush=True)
    for index in range(args.warmup + 1, args.warmup + 1 + args.frames):
        order = sides if index % 2 else sides[::-1]
        for side in order:
            outputs[side.name] = side.step(frames[index % len(frames)])
        print("frame " + ", ".join(f"{side.name} {side.times[-1]:.3f} s" for side in sides), flush=True)

    peak = sgemm_peak(args.threads)
    print(f"{args.preset} ({args.size}) {width}x{height}, {args.objects} objects, fp32, {args.threads} "
          f"threads, {args.frames} timed frames interleaved after {args.warmup} warm-up frames")  # fmt: skip
    print(f"this machine: {cpu_name()}, sgemm peak {peak:.0f} GFLOP/s ({args.threads} threads, fp32 2048^3)")
    for line in summarize(sides, base):
        print(line)
    for side in sides:
        times = getattr(side.predictor.network, "compile_times", None)
        note = "" if times is None else f", of which compiling {times.total:.1f} s"
        if side is not base:
            difference = (outputs[side.name] - outputs[base.name]).abs().max().item()
            note += f"; last output's max |difference| to the base {difference:.2e}"
        print(f"{side.name:>10}: first frame + warm-up {side.first_seconds:.1f} s{note}")
    if not args.no_flops:
        for side in sides:
            if side.name == "compiled":
                continue  # the counter does not see inside compiled graphs; same arithmetic as the eager forms
            gflop = count_gflops(side, frames)
            for timed in sides:
                if timed is side or (side is not base and timed.name == "compiled"):
                    seconds = statistics.median(timed.times)
                    print(f"{timed.name:>10}: {gflop:.1f} GFLOP/frame ({side.name}'s count), "
                          f"{gflop / seconds:.0f} GFLOP/s = {gflop / seconds / peak:.0%} of sgemm peak")  # fmt: skip
    workdir.cleanup()
    return 0


def cpu_name() -> str:
    """The CPU model and whether it has AMX / AVX-512 (from /proc/cpuinfo; 'unknown' elsewhere)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    extras = [name for name, flag in (("AMX", "amx_tile"), ("AVX-512", "avx512f")) if flag in flags]
    return f"{model} ({', '.join(extras) or 'no AMX/AVX-512'})"


if __name__ == "__main__":
    sys.exit(main())
