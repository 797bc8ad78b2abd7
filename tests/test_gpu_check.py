"""`make gpu-check`'s script without CUDA: one line and exit 0; `--smoke` runs its table code on the CPU."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent / "gpu_check.py"
REPO = SCRIPT.parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_without_cuda_it_says_so_in_one_line(capsys: pytest.CaptureFixture) -> None:
    assert load_script().main([]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("gpu-check: no CUDA device") and "\n" not in out


def test_smoke_run_prints_one_row_per_measurement(capsys: pytest.CaptureFixture) -> None:
    assert load_script().main(["--smoke"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "preset" not in line]
    kinds = [tuple(cell.strip() for cell in row.strip("|").split("|")[:3]) for row in rows]
    assert kinds == [
        ("inference, eager", "cutie", "fp32"),
        ("inference, eager", "cutie", "bf16"),
        ("inference, eager", "s3", "fp32"),
        ("inference, eager", "s3", "bf16"),
        ("training, bf16-mixed", "cutie", "bf16-mixed"),
        ("training, bf16-mixed", "s3", "bf16-mixed"),
    ]
    assert all("FPS" in row or "it/s" in row for row in rows)


def test_a_failed_measurement_is_a_row_not_the_end_of_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    script = load_script()
    measure_training = script.training_row

    def training_row(preset: str, *args: object) -> object:
        if preset == "cutie":
            raise RuntimeError("CUDA error: an illegal memory access was encountered\nsecond line")
        return measure_training(preset, *args)

    monkeypatch.setattr(script, "training_row", training_row)
    table = tmp_path / "out" / "gpu_check.md"
    assert script.main(["--smoke", "--out", str(table)]) == 1
    out = capsys.readouterr().out
    rows = [line for line in table.read_text().splitlines() if line.startswith("| training")]
    assert "FAILED: RuntimeError: CUDA error: an illegal memory access was encountered" in rows[0]
    assert "second line" not in out.split("gpu-check row:")[-1]
    assert "it/s" in rows[1]  # the s3 row after the failure was still measured
    assert table.read_text() in out and "1 measurement(s) FAILED" in out


def test_the_gpu_tests_bodies_run_on_the_cpu() -> None:
    # `make gpu-check` runs them on CUDA; here they run on the CPU (S3_GPU_TESTS_DEVICE), so an import or API
    # slip in them shows up before a GPU is lent. The DeepSpeed and compiled-predictor bodies are left to
    # tests/run/test_strategies.py and tests/inference/test_compiled.py, which run them on the CPU already.
    environment = {**os.environ, "S3_GPU_TESTS_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "tests/gpu"]
    command += ["-k", "not deepspeed and not compiled"]
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed, 3 deselected" in result.stdout
