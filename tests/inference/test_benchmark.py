"""`s3 benchmark` (s3/benchmark.py) on the tiny network: runs, reports, compares; no timing assertions."""

from __future__ import annotations

import json

import pytest
import torch

from s3.benchmark import (
    ATTENTION_FLOP_FORMULAS,
    BenchmarkError,
    BenchmarkResult,
    benchmark_predictor,
    benchmark_presets,
    main,
    paired_ratio,
)


def test_benchmark_predictor_reports_the_test_size() -> None:
    result = benchmark_predictor("cutie", "tiny", 32, frames=2, warmup=1, objects=3)
    assert (result.height, result.width, result.objects, result.frames) == (32, 56, 3, 2)
    assert result.ms_per_frame > 0 and result.fps == pytest.approx(1000 / result.ms_per_frame)


def test_cli_compare_prints_ratio(capsys) -> None:  # noqa: ANN001
    argv = ["--preset", "cutie", "--size", "tiny", "--height", "32", "--frames", "1", "--warmup", "0"]
    assert main([*argv, "--compare", "cutie_dq", "--precision", "bf16", "--accuracy-videos", "0"]) == 0
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
    argv = ["--preset", "s3", "--compare", "cutie", "--size", "tiny", "--height", "32", "--frames", "1"]
    assert main([*argv, "--flops", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "GFLOP/frame" in out and ", GFLOP ratio " in out and "(median of frame pairs " in out


def test_cpu_attention_is_counted() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    # Equal head dims: CPU SDPA takes its flash kernel, which torch's own table counts as 0 FLOPs.
    query, key, value = torch.randn(2, 3, 5, 16), torch.randn(2, 3, 7, 16), torch.randn(2, 3, 7, 16)
    counts = []
    for mapping in ({}, ATTENTION_FLOP_FORMULAS):
        counter = FlopCounterMode(display=False, custom_mapping=mapping)
        with counter:
            torch.nn.functional.scaled_dot_product_attention(query, key, value)
        counts.append(counter.get_total_flops())
    # Q Kᵀ and A V: 2·(B·H)·Lq·Lk·E each
    assert counts == [0, 2 * (2 * 6 * 5 * 7 * 16)]


def test_paired_ratio_is_the_median_of_back_to_back_frames() -> None:
    def result(frame_ms: list[float]) -> BenchmarkResult:
        mean = sum(frame_ms) / max(len(frame_ms), 1) or 1.0
        return BenchmarkResult("p", "tiny", 32, 56, 1, len(frame_ms), "cpu", "fp32", 1, mean, 1000 / mean, mean,
                               frame_ms=frame_ms)  # fmt: skip

    # Pair ratios 2, 4, 2 (the second pair hit by a burst of load): median 2, mean ratio 12/5 = 2.4.
    assert paired_ratio(result([2.0, 4.0, 6.0]), result([1.0, 1.0, 3.0])) == 2.0
    assert paired_ratio(result([1.0, 3.0]), result([1.0, 1.0])) == 2.0  # even count: mean of the middle two
    with pytest.raises(BenchmarkError, match="no timed frame pairs"):
        paired_ratio(result([]), result([]))


def test_frame_times_are_recorded_per_step() -> None:
    result = benchmark_predictor("cutie", "tiny", 32, frames=3, warmup=0)
    assert len(result.frame_ms) == 3 and sum(result.frame_ms) / 3 == pytest.approx(result.ms_per_frame)


def test_bad_settings(capsys) -> None:  # noqa: ANN001
    with pytest.raises(BenchmarkError, match="frames >= 1"):
        benchmark_predictor("cutie", "tiny", 32, frames=0)
    assert main(["--preset", "no-such-preset", "--size", "tiny", "--height", "32", "--frames", "1"]) == 2
    assert "unknown preset 'no-such-preset'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["--preset", "cutie", "--size", "tiny", "--device", "cuda"]) == 2


def test_fps_over_a_real_split_counts_frames_from_the_first_mask(tmp_path, capsys) -> None:  # noqa: ANN001
    from s3.data.synthetic import ensure_synthetic_davis
    from s3.inference.fps import time_split

    root = ensure_synthetic_davis(tmp_path / "davis", num_train=1, num_val=3, num_frames=4, height=32, width=48)
    argv = ["--preset", "cutie", "--size", "tiny", "--dataset", "davis", "--data.init_args.data_root", str(root)]
    argv += ["--dataset-path", "."]  # the synthetic set is the DAVIS folder itself
    assert main([*argv, "--split", "val"]) == 0
    lines = capsys.readouterr().out.splitlines()
    result = json.loads(lines[-1])
    # 3 videos of 4 frames, each with its mask on frame 0: the first video is the warm-up
    assert (result["videos"], result["warmup_frames"], result["frames"]) == (3, 4, 8)
    assert result["fps"] == pytest.approx(8 / result["seconds"]) and "warm-up video" in lines[0]

    class Predictor:  # a predictor stub: frames before the mask must not be timed
        def reset(self) -> None: ...
        def step(self, frame, mask=None, object_ids=None, *, end=False):  # noqa: ANN001, ANN202
            return torch.zeros(2, *frame.shape[-2:])

        def index_mask(self, prob):  # noqa: ANN001, ANN202
            return prob.argmax(0)

    masks = torch.zeros(5, 8, 8, dtype=torch.int64)
    masks[2, :4] = 1
    video = {"name": "v", "images": torch.rand(5, 3, 8, 8), "masks": masks, "annotated": torch.arange(5) == 2,
             "object_ids": [1], "first_appearance": {1: 2}}  # fmt: skip
    timing = time_split(Predictor(), [video, video], torch.device("cpu"))
    assert (timing.warmup_frames, timing.frames, timing.videos) == (3, 3, 2)
    assert main([*argv, "--videos", "0"]) == 2 and "--videos must be >= 1" in capsys.readouterr().err
    assert main(["--preset", "cutie", "--dataset", "davis"]) == 2  # no data root
