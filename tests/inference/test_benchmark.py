"""`s3 benchmark` (s3/benchmark.py) on the tiny network: runs, reports, compares; no timing assertions."""

from __future__ import annotations

import json

import pytest
import torch

from s3.benchmark import BenchmarkError, benchmark_predictor, main


def test_benchmark_predictor_reports_the_test_size() -> None:
    result = benchmark_predictor("cutie", "tiny", 32, frames=2, warmup=1, objects=3)
    assert (result.height, result.width, result.objects, result.frames) == (32, 56, 3, 2)
    assert result.ms_per_frame > 0 and result.fps == pytest.approx(1000 / result.ms_per_frame)


def test_cli_compare_prints_ratio(capsys) -> None:  # noqa: ANN001
    argv = ["--preset", "cutie", "--network-size", "tiny", "--size", "32", "--frames", "1", "--warmup", "0"]
    assert main([*argv, "--compare", "cutie", "--precision", "bf16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "ms/frame" in lines[0]
    assert json.loads(lines[-1])["precision"] == "bf16"


def test_bad_settings(capsys) -> None:  # noqa: ANN001
    with pytest.raises(BenchmarkError, match="frames >= 1"):
        benchmark_predictor("cutie", "tiny", 32, frames=0)
    assert main(["--preset", "no-such-preset", "--network-size", "tiny", "--size", "32", "--frames", "1"]) == 2
    assert "unknown preset 'no-such-preset'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["--preset", "cutie", "--network-size", "tiny", "--device", "cuda"]) == 2
