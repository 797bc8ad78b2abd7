"""One-command GPU check (`make gpu-check`, <= ~8 min on one H100): the `gpu`-marked tests, then one table.

    python tests/gpu_check.py [--frames 50] [--train-steps 6] [--skip-tests] [--no-compile]

Table rows: `s3 benchmark --device cuda` at 480p (854x480, 2 objects, random weights) for `cutie` and `s3`: fp32
and bf16 autocast eager, and bf16 compiled (`--compile`; its cold start in the row): ms/frame, FPS, peak CUDA
memory; then training iterations/s of the paper batch (16 clips of 8 frames, 480x480 crops, 3 objects) for both
presets under bf16-mixed, fed by the data loader from the synthetic set rendered at 480p (as many workers as cores).
On a machine without CUDA it says so in one line and exits 0.

Each row is printed as soon as it is measured (a run cut short still shows what it got), and a row whose
measurement fails says so in the table instead of ending the check; the exit status is then 1. `--out FILE` also
writes the table there. On the workplace's lent GPU machines (no package index) run it through
`tests/gpu/run_on_device.sh` (see that script).

`--smoke` runs the same code (eager only) on the CPU with the tiny networks and small sizes: how it was exercised
before any GPU was lent to the project; the CUDA numbers themselves are unmeasured so far.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PAPER_BATCH = 16  # clips per optimiser step (global batch of the paper)


@dataclass
class Row:
    what: str
    preset: str
    precision: str
    speed: str
    peak_memory_mib: float | None

    def cells(self) -> list[str]:
        memory = "-" if self.peak_memory_mib is None else f"{self.peak_memory_mib:,.0f}"
        return [self.what, self.preset, self.precision, self.speed, memory]


def run_gpu_tests() -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/gpu"]
    print("$ " + " ".join(command[2:]), flush=True)
    return subprocess.call(command, cwd=REPO)


def inference_measurements(
    device: str, network_size: str, size: int, frames: int, warmup: int, compiled: bool = True
) -> list[tuple[Row, Callable[[], Row]]]:
    """Eager fp32 and bf16, then (with `compiled`) the compiled bf16 path with its cold start, per preset: each as
    (the row's labels, the call that measures it)."""
    from s3.benchmark import benchmark_predictor

    def measure(preset: str, precision: str, compile_network: bool, what: str) -> Row:
        result = benchmark_predictor(
            preset,
            network_size,
            size,
            frames=frames,
            warmup=warmup,
            device=device,
            precision=precision,
            compile=compile_network,
        )
        speed = f"{result.fps:.1f} FPS ({result.ms_per_frame:.1f} ms/frame, {result.width}x{result.height})"
        if compile_network and result.cold_start_s is not None:
            speed += f"; cold start {result.cold_start_s:.0f} s"
        return Row(what, preset, precision, speed, result.peak_memory_mib)

    modes = [("fp32", False), ("bf16", False)] + ([("bf16", True)] if compiled else [])
    measurements = []
    for preset in ("cutie", "s3"):
        for precision, compile_network in modes:
            what = "inference, compiled" if compile_network else "inference, eager"
            label = Row(what, preset, precision, "", None)
            measurements.append((label, lambda p=preset, q=precision, c=compile_network, w=what: measure(p, q, c, w)))
    return measurements


def measured(label: Row, measure: Callable[[], Row], device: str) -> tuple[Row, bool]:
    """The row `measure` returns, or `label` saying how the measurement failed (traceback on stderr)."""
    try:
        row, ok = measure(), True
    except Exception as error:  # noqa: BLE001 - one failed measurement must not cost the rest of the table
        traceback.print_exc()
        message = (str(error).strip().splitlines() or [""])[0][:160]
        row, ok = (
            Row(label.what, label.preset, label.precision, f"FAILED: {type(error).__name__}: {message}", None),
            False,
        )
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row, ok


class StepTimer:
    """Lightning callback: wall time of optimiser steps after `warmup` of them (device synchronised)."""

    def __init__(self, warmup: int) -> None:
        import lightning.pytorch as pl

        class _Callback(pl.Callback):
            def __init__(inner) -> None:  # noqa: N805 - closure over the timer
                inner.timer = self

            def on_train_batch_end(inner, trainer, *args: object) -> None:  # noqa: ANN001, N805
                if trainer.fit_loop._should_accumulate():  # only optimiser steps count
                    return
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                now = time.perf_counter()
                inner.timer.steps += 1
                if inner.timer.steps == warmup:
                    inner.timer.start = now
                elif inner.timer.steps > warmup:
                    inner.timer.end = now

        self.callback = _Callback()
        self.steps, self.start, self.end = 0, 0.0, 0.0
        self.warmup = warmup

    def iterations_per_second(self) -> float:
        timed = self.steps - self.warmup
        return timed / (self.end - self.start) if timed > 0 and self.end > self.start else float("nan")


def training_row(
    preset: str, device: str, network_size: str, crop: int, frames: int, steps: int, per_step: int, root: Path
) -> Row:
    """bf16-mixed training iterations/s of `PAPER_BATCH` clips (per_step clips per forward, the rest accumulated)."""
    import lightning.pytorch as pl

    from s3.data import VOSDataModule
    from s3.data.datamodule import SyntheticOptions
    from s3.training import S3Module

    accumulate = max(1, PAPER_BATCH // per_step)
    height, width = crop, int(crop * 854 / 480)
    data = VOSDataModule(
        data_root=str(root),
        synthetic=True,
        synthetic_options=SyntheticOptions(
            num_train=24, num_val=1, num_frames=max(12, frames + 4), height=height, width=width
        ),  # fmt: skip
        crop_size=crop,
        num_frames=frames,
        num_objects=3,
        batch_size=per_step,
        num_workers=os.cpu_count() or 1,
        index_cache_dir=None,
    )
    module = S3Module(preset=preset, size=network_size)
    timer = StepTimer(warmup=min(2, steps - 1))
    trainer = pl.Trainer(
        accelerator="gpu" if device.startswith("cuda") else "cpu",
        devices=1,
        precision="bf16-mixed",
        max_steps=steps,
        accumulate_grad_batches=accumulate,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer.callback],
        gradient_clip_val=3.0,
    )
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    try:
        trainer.fit(module, datamodule=data)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return Row("training, bf16-mixed", preset, "bf16-mixed", f"out of memory at {per_step} clips per pass", None)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    speed = (
        f"{timer.iterations_per_second():.3f} it/s ({PAPER_BATCH} clips x {frames}x{crop}x{crop}, "
        f"{per_step} per pass x {accumulate})"
    )
    return Row("training, bf16-mixed", preset, "bf16-mixed", speed, peak)


def format_table(rows: list[Row], device_name: str) -> str:
    header = ["what", "preset", "precision", "speed", "peak MiB"]
    table = [header, *[row.cells() for row in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [f"GPU check on {device_name} (torch {torch.__version__})"]
    for index, line in enumerate(table):
        lines.append("| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=50, help="timed inference frames per preset and precision")
    parser.add_argument("--train-steps", type=int, default=6, help="optimiser steps per preset (2 of them warm-up)")
    parser.add_argument("--per-step", type=int, default=4, help="clips per forward pass (16 / this accumulated)")
    parser.add_argument("--skip-tests", action="store_true", help="only the table")
    parser.add_argument("--tests-only", action="store_true", help="only the gpu tests, no table")
    parser.add_argument("--no-compile", action="store_true", help="leave out the compiled inference rows")
    parser.add_argument("--smoke", action="store_true", help="the same code on the CPU, tiny networks, small sizes")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    if not args.smoke and not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine; nothing to check (the gpu tests skip here).")
        return 0
    device = "cpu" if args.smoke else "cuda"
    device_name = "CPU (smoke)" if args.smoke else torch.cuda.get_device_name()
    tests_status = 0 if args.skip_tests or args.smoke else run_gpu_tests()
    if args.tests_only:
        verdict = f"FAILED (pytest exit {tests_status})" if tests_status else "passed"
        print(f"gpu-check: the gpu tests {verdict}")
        return 1 if tests_status else 0
    network_size, size, crop, frames = ("tiny", 64, 64, 3) if args.smoke else ("base", 480, 480, 8)
    frames_timed, warmup = (2, 1) if args.smoke else (args.frames, 10)
    steps = 3 if args.smoke else args.train_steps
    per_step = 8 if args.smoke else args.per_step
    rows: list[Row] = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="s3-gpu-check-") as scratch:
        measurements = inference_measurements(
            device, network_size, size, frames_timed, warmup, compiled=not (args.smoke or args.no_compile)
        )
        for preset in ("cutie", "s3"):
            label = Row("training, bf16-mixed", preset, "bf16-mixed", "", None)
            root = Path(scratch) / preset
            measurements.append(
                (
                    label,
                    lambda p=preset, r=root: training_row(p, device, network_size, crop, frames, steps, per_step, r),
                )
            )
        for label, measure in measurements:
            row, ok = measured(label, measure, device)
            failed += not ok
            rows.append(row)
            print("gpu-check row: " + " | ".join(row.cells()), flush=True)
    table = format_table(rows, device_name)
    print("\n" + table, end="", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    if tests_status:
        print(f"gpu-check: the gpu tests FAILED (pytest exit {tests_status}); see above")
    if failed:
        print(f"gpu-check: {failed} measurement(s) FAILED; their tracebacks are above")
    return 1 if tests_status or failed else 0


if __name__ == "__main__":
    sys.exit(main())
