"""Checks that need a CUDA device (`make gpu-check`; skipped without one by tests/conftest.py).

Untested on a GPU so far: no GPU was lent to this project when they were written. The thresholds are a few times
what the same bodies measure on a CPU under bf16 autocast (tests/gpu/agreement.py). `S3_GPU_TESTS_DEVICE=cpu
pytest -m gpu tests/gpu` runs the same bodies on the CPU (the device under test then stands where CUDA would).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s3.model.deformable_attention import MultiScaleDeformableAttention, deformable_sample
from s3.model.factory import build_network
from tests.gpu.agreement import predictor_agreement, training_agreement
from tests.inference.test_compiled import eager_and_compiled
from tests.run.run_helpers import REPO, metric_by_step, read_metrics, run_cli, tiny_args, write_run_config

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("preset", ["cutie", "s3"])
def test_predictor_step_bf16_agrees_with_fp32(preset: str, gpu_device: str) -> None:
    # random weights put many pixels near a tie, so the argmax is not compared; the probabilities are
    agreement = predictor_agreement(preset, gpu_device)
    assert agreement["max"] < 0.05 and agreement["mean"] < 0.01, agreement


@pytest.mark.parametrize("preset", ["cutie", "s3"])
def test_training_step_bf16_agrees_with_fp32(preset: str, gpu_device: str) -> None:
    agreement = training_agreement(preset, gpu_device)
    assert agreement["relative_loss"] < 0.08 and agreement["cosine"] > 0.98, agreement


@pytest.mark.parametrize("preset", ["cutie", "s3"])
def test_compiled_predictor_matches_eager_on_the_gpu(
    preset: str, gpu_device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on CUDA: inductor with CUDA graphs for the fixed-shape stages, whose outputs the predictor keeps across
    # replays (keys in the memory, the sensory state); TF32 convolutions off on both sides so that 1e-4 means fp32
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    torch.manual_seed(0)
    network = build_network(preset, "tiny").to(gpu_device).eval()
    eager, compiled, _ = eager_and_compiled(network, 6, 64, 113)
    for t, (a, b) in enumerate(zip(eager, compiled, strict=True)):
        assert torch.allclose(a, b, atol=1e-4, rtol=0), f"frame {t}: max diff {(a - b).abs().max().item():.2e}"
    assert not torch.allclose(compiled[1], compiled[5])  # the frames differ: the comparison is not trivial


def test_deformable_attention_on_cuda_matches_the_cpu_reference(gpu_device: str) -> None:
    torch.manual_seed(0)
    spatial_shapes = [(12, 20), (6, 10), (3, 5)]
    tokens = sum(h * w for h, w in spatial_shapes)
    attention = MultiScaleDeformableAttention(d_model=64, num_heads=4, num_levels=3, num_points=4)
    for parameter in attention.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    query, value = torch.randn(2, 50, 64), torch.randn(2, tokens, 64)
    reference = torch.rand(2, 50, 3, 2)
    expected = attention(query, reference, value, spatial_shapes)
    expected.square().sum().backward()
    cpu_grads = [p.grad.clone() for p in attention.parameters()]
    attention.zero_grad(set_to_none=True)

    cuda = attention.to(gpu_device)
    actual = cuda(query.to(gpu_device), reference.to(gpu_device), value.to(gpu_device), spatial_shapes)
    torch.testing.assert_close(actual.cpu(), expected, atol=1e-4, rtol=1e-4)
    actual.square().sum().backward()
    for cpu_grad, parameter in zip(cpu_grads, cuda.parameters(), strict=True):
        torch.testing.assert_close(parameter.grad.cpu(), cpu_grad, atol=1e-3, rtol=1e-3)

    # the sampler alone, in eval / inference mode (the path the predictor takes)
    values = torch.randn(1, tokens, 4, 16)
    locations = torch.rand(1, 30, 4, 3, 4, 2) * 1.4 - 0.2
    weights = torch.rand(1, 30, 4, 3, 4).softmax(-1)
    with torch.inference_mode():
        on_cpu = deformable_sample(values, spatial_shapes, locations, weights)
        on_cuda = deformable_sample(
            values.to(gpu_device), spatial_shapes, locations.to(gpu_device), weights.to(gpu_device)
        )
    torch.testing.assert_close(on_cuda.cpu(), on_cpu, atol=1e-5, rtol=1e-5)


def test_deepspeed_zero2_bf16_resumes_on_the_gpu(tmp_path: Path, gpu_device: str) -> None:
    deepspeed = str(REPO / "configs" / "strategy" / "deepspeed_stage2.yaml")
    run_config = write_run_config(tmp_path, "zero2", {"every_n_train_steps": 2, "save_top_k": 0, "save_last": True})
    accelerator = "gpu" if gpu_device.startswith("cuda") else gpu_device
    common = [
        *tiny_args(tmp_path), "--config", deepspeed, "--config", run_config,
        f"--trainer.accelerator={accelerator}", "--trainer.devices=1", "--trainer.val_check_interval=1000",
    ]  # fmt: skip
    first = run_cli(tmp_path, "fit", *common, "--trainer.max_steps=2", timeout=420)
    assert first.returncode == 0, first.stderr[-4000:]
    last = tmp_path / "zero2" / "checkpoints" / "last.ckpt"
    assert (last / "checkpoint" / "mp_rank_00_model_states.pt").is_file()  # a DeepSpeed checkpoint folder
    resumed = run_cli(tmp_path, "fit", *common, "--trainer.max_steps=4", "--ckpt_path=last", timeout=420)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    rows = [row for path in sorted((tmp_path / "zero2" / "csv").rglob("metrics.csv")) for row in read_metrics(path)]
    losses = metric_by_step(rows, "train/loss")
    assert sorted(losses) == [0, 1, 2, 3]  # steps 2 and 3 continue from the checkpoint of step 2
    assert all(value == value for value in losses.values())  # no NaN under bf16-mixed
