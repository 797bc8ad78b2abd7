"""`make gpu-check`'s script without CUDA: one line and exit 0; `--smoke` runs its table code on the CPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent / "gpu_check.py"


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
