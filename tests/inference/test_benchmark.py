"""`s3 benchmark` (s3/benchmark.py) on the tiny network: runs, reports, compares; no timing assertions."""

from __future__ import annotations

import json

import pytest
import torch

from s3.benchmark import BenchmarkError, benchmark_predictor, benchmark_presets, main


def test_benchmark_predictor_reports_the_test_size() -> None:
    result = benchmark_predictor("cutie", "tiny", 32, frames=2, warmup=1, objects=3)
    assert (result.height, result.width, result.objects, result.frames) == (32, 56, 3, 2)
    assert result.ms_per_frame > 0 and result.fps == pytest.approx(1000 / result.ms_per_frame)


def test_cli_compare_prints_ratio(capsys) -> None:  # noqa: ANN001
    argv = ["--preset", "cutie", "--network-size", "tiny", "--size", "32", "--frames", "1", "--warmup", "0"]
    assert main([*argv, "--compare", "cutie_dq", "--precision", "bf16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "ms/frame" in lines[0] and lines[1].startswith("cutie_dq (tiny)")
    assert lines[2].startswith("time per frame cutie / cutie_dq: ") and "GFLOP" not in lines[2]
    assert json.loads(lines[-1])["precision"] == "bf16"


def test_presets_are_interleaved_and_flops_counted(capsys) -> None:  # noqa: ANN001
    results = benchmark_presets(["cutie", "s3"], "tiny", 32, frames=3, warmup=1, count_flops=True)
    assert [r.preset for r in results] == ["cutie", "s3"] and all(r.frames == 3 for r in results)
    for r in results:
        assert r.gflops_per_frame > 0
        assert r.achieved_gflops_per_second == pytest.approx(r.gflops_per_frame * 1000 / r.ms_per_frame)
    argv = ["--preset", "s3", "--compare", "cutie", "--network-size", "tiny", "--size", "32", "--frames", "1"]
    assert main([*argv, "--flops", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "GFLOP/frame" in out and "(GFLOP ratio " in out


def test_bad_settings(capsys) -> None:  # noqa: ANN001
    with pytest.raises(BenchmarkError, match="frames >= 1"):
        benchmark_predictor("cutie", "tiny", 32, frames=0)
    assert main(["--preset", "no-such-preset", "--network-size", "tiny", "--size", "32", "--frames", "1"]) == 2
    assert "unknown preset 'no-such-preset'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["--preset", "cutie", "--network-size", "tiny", "--device", "cuda"]) == 2
