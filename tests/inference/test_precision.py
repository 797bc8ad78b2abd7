"""bf16 on CPUs: flags read from /proc/cpuinfo (never assumed), the warning without them, J&F fp32 vs bf16."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from s3.benchmark import main
from s3.inference import InferenceConfig, VideoPredictor, propagate_video
from s3.inference import precision as precision_module
from s3.inference.precision import (
    bf16_warning,
    cpu_bf16_flags,
    cpu_flags,
    precision_agreement,
    synthetic_validation_videos,
)
from s3.metrics.vos_metric import VOSMetric
from s3.model.network import VOSNetwork

SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n"
AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse avx avx2 fma\n"


def fake_cpuinfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_flags_come_from_cpuinfo(tmp_path: Path) -> None:
    assert cpu_bf16_flags(cpu_flags(fake_cpuinfo(tmp_path, SAPPHIRE_RAPIDS))) == ["amx_bf16", "avx512_bf16"]
    assert cpu_bf16_flags(cpu_flags(fake_cpuinfo(tmp_path, AVX2_ONLY))) == []
    assert cpu_flags(tmp_path / "missing") == frozenset()  # no /proc (macOS, Windows): nothing is assumed


def test_warning_only_for_bf16_on_a_cpu_without_the_flags(tmp_path: Path) -> None:
    avx2 = cpu_flags(fake_cpuinfo(tmp_path, AVX2_ONLY))
    amx = cpu_flags(fake_cpuinfo(tmp_path, SAPPHIRE_RAPIDS))
    message = bf16_warning("bf16", "cpu", avx2)
    assert message is not None and "amx_bf16" in message and "\n" not in message
    assert bf16_warning("bf16", "cpu", amx) is None
    assert bf16_warning("fp32", "cpu", avx2) is None
    assert bf16_warning("bf16", "cuda", avx2) is None


def test_predictor_warns_for_bf16_on_an_avx2_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_network: VOSNetwork
) -> None:
    monkeypatch.setattr(precision_module, "CPUINFO", fake_cpuinfo(tmp_path, AVX2_ONLY))
    with pytest.warns(UserWarning, match="avx512_bf16"):
        VideoPredictor(tiny_network, InferenceConfig(amp=True, amp_dtype="bfloat16"))
    monkeypatch.setattr(precision_module, "CPUINFO", fake_cpuinfo(tmp_path, SAPPHIRE_RAPIDS))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        VideoPredictor(tiny_network, InferenceConfig(amp=True, amp_dtype="bfloat16"))
    assert not [w for w in caught if "bf16" in str(w.message)]


def test_agreement_scores_both_precisions(tiny_network: VOSNetwork) -> None:
    videos = synthetic_validation_videos(1)
    assert videos[0]["images"].shape[-2:] == (128, 160) and videos[0]["object_ids"]
    agreement = precision_agreement(tiny_network, videos)
    assert agreement.videos == 1 and agreement.frames == videos[0]["images"].shape[0]
    # the fp32 half is plain fp32 inference
    metric = VOSMetric()
    metric.update_from_sample(propagate_video(VideoPredictor(tiny_network), videos[0]), videos[0])
    assert agreement.jf_fp32 == pytest.approx(float(metric.compute()["J&F"]), abs=1e-12)
    assert 0.0 <= agreement.jf_bf16 <= 1.0 and agreement.pixel_agreement > 0.5
    assert agreement.jf_difference == pytest.approx(agreement.jf_bf16 - agreement.jf_fp32)


def test_benchmark_reports_bf16_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--preset", "cutie", "--size", "tiny", "--height", "32", "--frames", "1", "--warmup", "0"]
    assert main([*argv, "--precision", "bf16", "--accuracy-videos", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  bf16 vs fp32 on 1 synthetic validation videos") and "J&F" in lines[1]
    row = json.loads(lines[-1])
    assert row["precision"] == "bf16" and row["accuracy_videos"] == 1
    assert row["jf_fp32"] is not None and row["jf_bf16"] is not None
    assert row["cpu_bf16_flags"] == cpu_bf16_flags()


def test_benchmark_times_fp32_beside_bf16(capsys: pytest.CaptureFixture[str]) -> None:
    """--compare-fp32: the same preset also in fp32, interleaved, and bf16's speed-up over it printed."""
    argv = ["--preset", "cutie", "--compare", "cutie_dq", "--size", "tiny", "--height", "32", "--frames", "2"]
    assert main([*argv, "--warmup", "0", "--precision", "bf16", "--accuracy-videos", "1", "--compare-fp32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    assert [(r["preset"], r["precision"]) for r in rows] == [
        ("cutie", "bf16"), ("cutie_dq", "bf16"), ("cutie", "fp32"), ("cutie_dq", "fp32")
    ]  # fmt: skip
    assert all(r["frames"] == 2 for r in rows)
    assert [r["accuracy_videos"] for r in rows] == [1, 1, None, None]  # J&F agreement only for the bf16 timings
    assert any(line.startswith("time per frame cutie / cutie_dq: ") for line in lines)  # the bf16 pair only
    for preset in ("cutie", "cutie_dq"):
        speedup = [line for line in lines if line.startswith(f"time per frame {preset} fp32 / bf16: ")]
        assert len(speedup) == 1 and "median of frame pairs" in speedup[0]
