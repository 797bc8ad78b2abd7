"""`s3 benchmark`: inference speed of a network preset, in the convention of VOS papers.

    s3 benchmark --preset s3 --height 480 --frames 50 [--compare cutie] [--flops] [--device cuda] [--precision bf16]
    s3 benchmark --preset s3 --compare cutie --compare_reference   # the reference modules' time printed beside

Times the whole predictor step (image encoding, memory read, decoding, memory update every `mem_every`
frames) on a synthetic 854x480-shaped video at the test size, after a warm-up, with frames already on the
device (no file I/O). Reports milliseconds per frame and FPS, and the time ratio to another preset if asked
(the two are timed alternately, frame by frame; the ratio is
given as the ratio of the means and as the median of the back-to-back frame pairs, which a burst of outside load on
a shared machine moves less). Random weights: speed does not depend on them.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch

from s3.data.datamodule import VOSDataModule
from s3.errors import S3Error
from s3.inference.config import inference_config
from s3.inference.precision import bf16_warning, cpu_bf16_flags, precision_agreement, synthetic_validation_videos
from s3.inference.predictor import VideoPredictor

Precision = Literal["fp32", "bf16"]
REFERENCE_ASPECT = 854 / 480  # DAVIS frames


def cpu_attention_flops(
    query_shape: torch.Size, key_shape: torch.Size, value_shape: torch.Size, *args: object, **kwargs: object
) -> int:
    """FLOPs of CPU flash attention (`Q Kᵀ` and `A V`), which torch's counter does not know and would count as 0:
    the ViT's attention is ~97 GFLOP of S3's per-frame work at 480p."""
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


ATTENTION_FLOP_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_attention_flops}


class BenchmarkError(S3Error, ValueError):
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
    gflops_per_frame: float | None = None  # matmul/conv/attention FLOPs per frame (torch's counter), with --flops
    achieved_gflops_per_second: float | None = None
    peak_memory_mib: float | None = None  # CUDA max_memory_allocated over the run, when one preset is timed
    frame_ms: list[float] = field(default_factory=list)  # every timed step, in order (pairs up across presets)
    # bf16 only: J&F of fp32 and bf16 inference with these (random) weights on synthetic validation videos
    accuracy_videos: int | None = None
    jf_fp32: float | None = None
    jf_bf16: float | None = None
    pixel_agreement: float | None = None  # share of pixels given the same id by both precisions
    cpu_bf16_flags: list[str] | None = None  # amx_bf16 / avx512_bf16 found in /proc/cpuinfo (CPU runs)
    fast_paths: bool = True  # False: timed on the reference modules (`--reference`, `--compare_reference`)
    compiled: bool = False  # the predictor ran the compiled path (`s3.inference.compiled`)
    cold_start_s: float | None = None  # wall time of the first (masked) frame and the warm-up frames
    compile_s: float | None = None  # of which spent in calls that compiled (compiled path only)


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


class TimedPredictor:
    """One preset's predictor, its frame pool and its accumulated timings (see `benchmark_presets`)."""

    def __init__(
        self, preset: str, network_size: str, size: int, objects: int, device: torch.device, precision: Precision,
        inference_preset: str, fast_paths: bool = True, compile: bool = False,
    ) -> None:  # fmt: skip
        from s3.model.factory import build_network

        check_network_names(preset, network_size)
        torch.manual_seed(0)
        self.preset, self.network_size, self.device, self.precision = preset, network_size, device, precision
        network = build_network(preset, network_size).to(device)
        config = inference_config(inference_preset, amp=precision == "bf16", amp_dtype="bfloat16")
        self.height, self.width = size, int(size * REFERENCE_ASPECT)
        self.pool, mask = synthetic_frames(8, self.height, self.width, objects, device)
        self.fast_paths, self.compiled = fast_paths, compile
        self.cold_start_seconds = 0.0  # first frame + warm-up (see `warm_up`)
        self.warm_compile_seconds: float | None = None  # compile time within the cold start (compiled path)
        start = time.perf_counter()
        self.predictor = VideoPredictor(network, config, fast_paths=fast_paths, compile=compile)
        self.mem_every = config.mem_every
        self.objects = objects
        self.frame = 0
        self.predictor.step(self.pool[0], mask)
        self.cold_start_seconds += time.perf_counter() - start
        self.seconds = self.cpu_seconds = 0.0
        self.timed = 0
        self.frame_seconds: list[float] = []

    def step(self, *, end: bool = False, timed: bool = True) -> None:
        self.frame += 1
        start, cpu_start = time.perf_counter(), time.process_time()
        self.predictor.step(self.pool[self.frame % len(self.pool)], end=end)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        if timed:
            self.frame_seconds.append(time.perf_counter() - start)
            self.seconds += self.frame_seconds[-1]
            self.cpu_seconds += time.process_time() - cpu_start
            self.timed += 1

    def warm_up(self) -> None:
        """One untimed step, counted into the cold-start time (compilation of new shapes happens in these)."""
        start = time.perf_counter()
        self.step(timed=False)
        self.cold_start_seconds += time.perf_counter() - start

    def compile_seconds(self) -> float | None:
        """Seconds spent compiling so far (compiled path only)."""
        return self.predictor.network.compile_times.total if self.compiled else None

    def count_gflops(self, frames: int) -> float:
        """Mean GFLOP per frame over `frames` further (untimed) steps, from torch's FLOP counter (on the eager
        network: the counter does not see into compiled code, whose arithmetic is the same)."""
        from torch.utils.flop_counter import FlopCounterMode

        network = self.predictor.network
        self.predictor.network = getattr(network, "reference", network)
        counter = FlopCounterMode(display=False, custom_mapping=ATTENTION_FLOP_FORMULAS)
        try:
            with counter:
                for _ in range(frames):
                    self.step(timed=False)
        finally:
            self.predictor.network = network
        return counter.get_total_flops() / frames / 1e9

    def result(self, gflops_per_frame: float | None) -> BenchmarkResult:
        device = str(self.device) if self.device.type != "cuda" else torch.cuda.get_device_name(self.device)
        ms_per_frame = 1000.0 * self.seconds / self.timed
        return BenchmarkResult(
            preset=self.preset,
            network_size=self.network_size,
            height=self.height,
            width=self.width,
            objects=self.objects,
            frames=self.timed,
            device=device,
            precision=self.precision,
            threads=torch.get_num_threads(),
            ms_per_frame=ms_per_frame,
            fps=1000.0 / ms_per_frame,
            cpu_ms_per_frame=1000.0 * self.cpu_seconds / self.timed,
            gflops_per_frame=gflops_per_frame,
            achieved_gflops_per_second=None if gflops_per_frame is None else gflops_per_frame * 1000.0 / ms_per_frame,
            frame_ms=[1000.0 * seconds for seconds in self.frame_seconds],
            fast_paths=self.fast_paths,
            compiled=self.compiled,
            cold_start_s=self.cold_start_seconds,
            compile_s=self.warm_compile_seconds,
        )


def benchmark_presets(
    presets: list[str],
    network_size: str = "base",
    size: int = 480,
    *,
    frames: int = 50,
    warmup: int = 5,
    objects: int = 2,
    device: str = "cpu",
    precision: Precision = "fp32",
    inference_preset: str = "cutie",
    count_flops: bool = False,
    accuracy_videos: int = 0,
    fast_paths: bool = True,
    compare_reference: bool = False,
    compile: bool = False,
    compare_fp32: bool = False,
) -> list[BenchmarkResult]:
    """Times `frames` predictor steps of every preset at `size`p (random weights), interleaving the presets frame
    by frame so that load changes on a shared machine hit all of them alike.

    With `count_flops`, each predictor then runs one more memory cycle (`mem_every` frames, untimed) under
    torch's FLOP counter: GFLOP per frame and the achieved GFLOP/s are reported (matmuls and convolutions only).
    With `precision="bf16"` and `accuracy_videos` > 0, each network also segments that many synthetic validation
    videos in fp32 and in bf16 and both J&F are reported (`s3.inference.precision.precision_agreement`).
    `fast_paths=False` times the reference modules instead of the prepared inference forms; `compare_reference`
    times both (the reference timings follow the others in the returned list, interleaved with them frame by frame).
    With `compile`, the first of those timings runs the compiled path (`s3.inference.compiled`): the compilation
    happens in the first frame and the warm-up, whose wall time is reported as `cold_start_s` (the compiling calls'
    share as `compile_s`); the FLOP count then runs on the eager network (the counter does not see compiled code).
    `compare_fp32` (with `precision="bf16"`): each preset is also timed in fp32 on the same path (compiled or not),
    interleaved with the others; those results come last.
    """
    if frames < 1 or warmup < 0 or objects < 1 or size < 16:
        raise BenchmarkError(f"need frames >= 1, warmup >= 0, objects >= 1, size >= 16; got {frames}/{warmup}/"
                             f"{objects}/{size}")  # fmt: skip
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda: no CUDA device is available")
    torch_device = torch.device(device)
    # (fast paths, precision, compiled) of each group of timers
    modes = [(fast_paths, precision, compile)]
    if compare_reference and fast_paths:
        modes.append((False, precision, False))
    if compare_fp32 and precision == "bf16":
        modes.append((fast_paths, "fp32", compile))
    timers = [
        TimedPredictor(
            preset, network_size, size, objects, torch_device, mode_precision, inference_preset, fast, compiled
        )  # fmt: skip
        for fast, mode_precision, compiled in modes
        for preset in presets
    ]
    if compile:  # the growing object memory recompiles once, at the second memory frame: inside the warm-up
        warmup = max(warmup, max(timer.mem_every for timer in timers) + 1)
    for _ in range(warmup):
        for timer in timers:
            timer.warm_up()
    for timer in timers:
        timer.warm_compile_seconds = timer.compile_seconds()
    if torch_device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch_device)
    for index in range(frames):
        for timer in timers:
            timer.step(end=index == frames - 1 and not count_flops and not compile)  # `end` would compile anew
    results = [timer.result(timer.count_gflops(timer.mem_every) if count_flops else None) for timer in timers]
    if torch_device.type == "cuda" and len(timers) == 1:  # with two networks resident the peak mixes both
        results[0].peak_memory_mib = torch.cuda.max_memory_allocated(torch_device) / 2**20
    if torch_device.type == "cpu":
        for result in results:
            result.cpu_bf16_flags = cpu_bf16_flags()
    if precision == "bf16" and accuracy_videos > 0:
        videos = synthetic_validation_videos(accuracy_videos)
        for timer, result in zip(timers, results, strict=True):
            if timer.precision != "bf16":
                continue
            agreement = precision_agreement(timer.predictor.network, videos, timer.predictor.config)
            result.accuracy_videos = agreement.videos
            result.jf_fp32, result.jf_bf16 = agreement.jf_fp32, agreement.jf_bf16
            result.pixel_agreement = agreement.pixel_agreement
    return results


def paired_ratio(first: BenchmarkResult, second: BenchmarkResult) -> float:
    """Median over timed frames of `first`'s step time over `second`'s (the steps are timed back to back, so each
    pair saw the same machine load; the median ignores the pairs a burst of outside load hit)."""
    ratios = sorted(a / b for a, b in zip(first.frame_ms, second.frame_ms, strict=True) if b > 0)
    if not ratios:
        raise BenchmarkError("paired_ratio: no timed frame pairs")
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else 0.5 * (ratios[middle - 1] + ratios[middle])


def benchmark_predictor(
    preset: str = "cutie", network_size: str = "base", size: int = 480, **options: object
) -> BenchmarkResult:
    """`benchmark_presets` for a single preset."""
    return benchmark_presets([preset], network_size, size, **options)[0]


@dataclass
class SplitBenchmarkResult:
    """FPS of one preset over an evaluation split (METRICS.md §6); the first video is the warm-up."""

    preset: str
    network_size: str
    dataset: str
    split: str
    videos: int
    frames: int
    seconds: float
    fps: float
    warmup_frames: int
    warmup_fps: float
    device: str
    precision: str
    threads: int
    peak_memory_mib: float | None = None
    fast_paths: bool = True  # False: timed on the reference modules


def benchmark_split(
    presets: list[str],
    network_size: str,
    dataset: str,
    data_root: str,
    *,
    split: str = "val",
    dataset_path: str | None = None,
    videos: int | None = None,
    device: str = "cpu",
    precision: Precision = "fp32",
    inference_preset: str = "cutie",
    fast_paths: bool = True,
    compile: bool = False,
) -> list[SplitBenchmarkResult]:
    """Times every preset (random weights) over the videos of a real evaluation split at the preset's test size
    (frames resized by the reader as the official evaluation does; that resize is not timed). With `compile`, the
    compiled path: its compilation falls in the first (warm-up) video and in the first frame of each new size."""
    from pathlib import Path

    from s3.data.eval_dataset import VideoEvalDataset
    from s3.data.registry import EvalSpec, read_eval_dataset
    from s3.inference.fps import time_split
    from s3.model.factory import build_network
    from s3.training.evaluation import EvaluationOptions, dataset_config, dataset_test_size

    if videos is not None and videos < 1:
        raise BenchmarkError(f"--videos must be >= 1, got {videos}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda: no CUDA device is available")
    torch_device = torch.device(device)
    records = read_eval_dataset(Path(data_root), EvalSpec(name=dataset, split=split, path=dataset_path))[:videos]  # type: ignore[arg-type]
    options = EvaluationOptions(preset=inference_preset)
    config, test_size = dataset_config(options, dataset), dataset_test_size(options, dataset)
    config = config.replace(amp=precision == "bf16", amp_dtype="bfloat16")
    results = []
    for preset in presets:
        check_network_names(preset, network_size)
        torch.manual_seed(0)
        network = build_network(preset, network_size).to(torch_device)
        if torch_device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(torch_device)
        timing = time_split(
            VideoPredictor(network, config, fast_paths=fast_paths, compile=compile),
            VideoEvalDataset(records, test_size),
            torch_device,
        )
        results.append(
            SplitBenchmarkResult(
                preset=preset,
                network_size=network_size,
                dataset=dataset,
                split=split,
                videos=timing.videos,
                frames=timing.frames,
                seconds=timing.seconds,
                fps=timing.fps,
                warmup_frames=timing.warmup_frames,
                warmup_fps=timing.warmup_fps,
                device=str(torch_device) if torch_device.type != "cuda" else torch.cuda.get_device_name(torch_device),
                precision=precision,
                threads=torch.get_num_threads(),
                peak_memory_mib=torch.cuda.max_memory_allocated(torch_device) / 2**20
                if torch_device.type == "cuda"
                else None,
                fast_paths=fast_paths,
            )
        )
        del network
    return results


def check_network_names(preset: str, network_size: str) -> None:
    """Raises `BenchmarkError` for an unknown preset or size (the registry raises a plain ValueError)."""
    from s3.model.registry import get_preset, get_size

    try:
        get_preset(preset)
        get_size(network_size)
    except ValueError as error:
        raise BenchmarkError(str(error)) from error


def benchmark_command(
    preset: str,
    size: Literal["base", "small", "tiny"] = "base",
    height: int = 480,
    frames: int = 50,
    warmup: int = 5,
    objects: int = 2,
    compare: str | None = None,
    reference: bool = False,
    compare_reference: bool = False,
    compile: bool = False,
    flops: bool = False,
    device: str = "cpu",
    precision: Precision = "fp32",
    compare_fp32: bool = False,
    accuracy_videos: int = 3,
    threads: int | None = None,
    inference_preset: str = "cutie",
    dataset: str | None = None,
    data: VOSDataModule | None = None,
    split: str = "val",
    dataset_path: str | None = None,
    videos: int | None = None,
) -> int:
    """Inference speed of a network preset (random weights), in the convention of VOS papers: milliseconds per
    frame and FPS of the whole predictor step on synthetic frames at a test size, or FPS over a real evaluation
    split with `--dataset` (METRICS.md §6).

    Args:
        preset: network preset to time (an ablation row, e.g. cutie or s3)
        size: network size
        height: test size: frame height in pixels (width = 854/480 of it)
        frames: timed frames (after warm-up)
        warmup: untimed frames after the first (masked) frame
        objects: objects in the first-frame mask
        compare: also time this preset (interleaved frame by frame) and print the time ratio
        reference: time the reference modules instead of the inference fast paths
        compare_reference: also time the reference modules (interleaved) and print their time beside
        compile: run the compiled path (torch.compile over the inference forms, `s3.inference.compiled`); the cold
            start (first frame + warm-up, where the compilation happens) is printed beside the time per frame
        flops: also count GFLOP per frame (one extra memory cycle)
        device: cpu or cuda[:N]
        precision: fp32, or bf16 autocast (on a CPU worth it only with amx_bf16 / avx512_bf16; also reports J&F vs
            fp32)
        compare_fp32: with --precision bf16: also time fp32 on the same path (interleaved) and print bf16's speed-up
        accuracy_videos: with --precision bf16: synthetic validation videos segmented in fp32 and bf16 to compare J&F
            (0: off)
        threads: torch CPU threads (default: torch's)
        inference_preset: memory policy preset
        dataset: time over this evaluation dataset instead of synthetic frames (davis, youtube2019, mose, lvos...)
        data: the data module as `s3 fit` takes it (`--config FIT.yaml`, `--data.init_args.data_root DIR`): its
            data root, and the folder of a `val_datasets` entry named like --dataset
        split: split of --dataset
        dataset_path: the dataset's folder under the data root (default: the data module's, else DATASETS.md's)
        videos: only the first N videos of --dataset
    """
    if threads is not None:
        torch.set_num_threads(threads)
    presets = [preset] + ([compare] if compare and compare != preset else [])
    common = dict(device=device, precision=precision, inference_preset=inference_preset)
    warning = bf16_warning(precision, device)
    if warning is not None:
        print(f"s3 benchmark: warning: {warning}", file=sys.stderr)
    if dataset is not None:
        if data is None:
            raise BenchmarkError("--dataset needs a data root: --config FIT.yaml or --data.init_args.data_root DIR")
        if dataset_path is None:
            named = [spec for spec in data.val_specs if spec.name == dataset]
            dataset_path = named[0].path if named else None
        modes = [not reference, False] if compare_reference and not reference else [not reference]
        split_results = [
            result
            for fast in modes
            for result in benchmark_split(
                presets, size, dataset, str(data.data_root), split=split, dataset_path=dataset_path, videos=videos,
                fast_paths=fast, compile=compile and fast == modes[0], **common,
            )
        ]  # fmt: skip
        print_split_results(split_results)
        return 0
    results = benchmark_presets(
        presets, size, height, frames=frames, warmup=warmup, objects=objects, count_flops=flops,
        accuracy_videos=accuracy_videos, fast_paths=not reference, compare_reference=compare_reference,
        compile=compile, compare_fp32=compare_fp32, **common,
    )  # fmt: skip
    print_results(results)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`s3 benchmark ...` (argv without the `benchmark`); returns the exit code."""
    from s3.cli import main as s3_main

    return s3_main(["benchmark", *(sys.argv[1:] if argv is None else argv)])


def _modules(fast_paths: bool) -> str:
    return "" if fast_paths else " [reference modules]"


def print_split_results(results: list[SplitBenchmarkResult]) -> None:
    """One line per preset, the time ratio when two were timed (and the reference modules' time over the inference
    forms' when both were), then the raw numbers as JSON."""
    for r in results:
        memory = "" if r.peak_memory_mib is None else f", peak memory {r.peak_memory_mib:.0f} MiB"
        print(
            f"{r.preset} ({r.network_size}){_modules(r.fast_paths)} {r.dataset} {r.split}, {r.videos} videos, "
            f"{r.device} {r.precision}, {r.threads} thread(s): {r.fps:.2f} FPS over {r.frames} frames (warm-up "
            f"video: {r.warmup_fps:.2f} FPS over {r.warmup_frames} frames){memory}"
        )
    main = [r for r in results if r.fast_paths == results[0].fast_paths]
    if len(main) == 2 and main[0].fps and main[1].fps:
        print(f"time per frame {main[0].preset} / {main[1].preset}: {main[1].fps / main[0].fps:.2f}x")
    for fast in (r for r in results if r.fast_paths):
        for ref in (r for r in results if not r.fast_paths and r.preset == fast.preset and r.fps):
            print(f"time per frame {fast.preset} reference modules / inference forms: {fast.fps / ref.fps:.2f}x")
    for r in results:
        print(json.dumps(asdict(r)))


def print_results(results: list[BenchmarkResult]) -> None:
    """One line per result, the speed ratio when two presets were timed (and the reference modules' time over the
    inference forms' per preset when both were), then the raw numbers as JSON."""
    for r in results:
        flops = "" if r.gflops_per_frame is None else (
            f", {r.gflops_per_frame:.1f} GFLOP/frame ({r.achieved_gflops_per_second:.0f} GFLOP/s)"
        )  # fmt: skip
        if r.peak_memory_mib is not None:
            flops += f", peak memory {r.peak_memory_mib:.0f} MiB"
        if r.cold_start_s is not None:
            compiled = "" if r.compile_s is None else f", of which compiling {r.compile_s:.1f} s"
            flops += f"; cold start (first frame + warm-up) {r.cold_start_s:.1f} s{compiled}"
        print(
            f"{r.preset} ({r.network_size}){_modules(r.fast_paths)}{' compiled' if r.compiled else ''} {r.width}x"
            f"{r.height}, {r.objects} objects, {r.device} {r.precision}, {r.threads} thread(s): {r.ms_per_frame:.1f} "
            f"ms/frame, {r.fps:.2f} FPS over {r.frames} frames{flops}"
        )
        if r.jf_fp32 is not None and r.jf_bf16 is not None:
            print(
                f"  bf16 vs fp32 on {r.accuracy_videos} synthetic validation videos (same random weights): J&F "
                f"{r.jf_bf16:.4f} vs {r.jf_fp32:.4f} (difference {r.jf_bf16 - r.jf_fp32:+.4f}), "
                f"{100 * (r.pixel_agreement or 0):.2f}% of pixels agree; CPU bf16 flags: "
                f"{', '.join(r.cpu_bf16_flags or []) or 'none'}"
            )
    main = [r for r in results if (r.fast_paths, r.precision) == (results[0].fast_paths, results[0].precision)]
    if len(main) == 2:
        first, second = main
        ratio = first.ms_per_frame / second.ms_per_frame
        line = f"time per frame {first.preset} / {second.preset}: {ratio:.2f}x"
        line += f" (median of frame pairs {paired_ratio(first, second):.2f}x)"
        if first.gflops_per_frame and second.gflops_per_frame:
            line += f", GFLOP ratio {first.gflops_per_frame / second.gflops_per_frame:.2f}x"
        print(line)
    for fast in (r for r in results if r.fast_paths):
        for ref in (
            r for r in results if not r.fast_paths and (r.preset, r.precision) == (fast.preset, fast.precision)
        ):
            print(
                f"time per frame {fast.preset} reference modules / inference forms: "
                f"{ref.ms_per_frame / fast.ms_per_frame:.2f}x ({ref.ms_per_frame:.1f} vs {fast.ms_per_frame:.1f} "
                f"ms/frame; median of frame pairs {paired_ratio(ref, fast):.2f}x)"
            )
    for low in (r for r in results if r.precision == "bf16"):
        for full in (
            r for r in results if r.precision == "fp32" and (r.preset, r.fast_paths) == (low.preset, low.fast_paths)
        ):
            print(
                f"time per frame {low.preset}{' compiled' if low.compiled else ''} fp32 / bf16: "
                f"{full.ms_per_frame / low.ms_per_frame:.2f}x ({full.ms_per_frame:.1f} vs {low.ms_per_frame:.1f} "
                f"ms/frame; median of frame pairs {paired_ratio(full, low):.2f}x)"
            )
    for r in results:
        print(json.dumps(asdict(r)))


if __name__ == "__main__":
    sys.exit(main())
