"""DDP (gloo) and DeepSpeed ZeRO-2 on 2 CPU processes through the shipped strategy fragments."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_helpers import REPO, metric_by_step, read_metrics, run_cli, tiny_args, write_run_config

from s3.model import build_network
from s3.run.export import main as export_main

DDP = str(REPO / "configs" / "strategy" / "ddp.yaml")
DEEPSPEED = str(REPO / "configs" / "strategy" / "deepspeed_stage2.yaml")


def validation_scores(tmp_path: Path, name: str) -> dict[str, float]:
    rows = read_metrics(next((tmp_path / name / "csv").glob("version_*/metrics.csv")))
    names = {key for row in rows for key in row if key.startswith("val/")}
    return {key: list(metric_by_step(rows, key).values())[-1] for key in names}


def check(result) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]


def test_ddp_two_cpu_processes_match_one_process_and_write_one_checkpoint(tmp_path: Path) -> None:
    fit_config = write_run_config(
        tmp_path,
        "ddp",
        {"every_n_train_steps": 2, "save_top_k": -1, "filename": "s{step}", "auto_insert_metric_name": False},
    )
    fit = run_cli(
        tmp_path, "fit", *tiny_args(tmp_path), "--config", DDP, "--config", fit_config,
        "--trainer.accelerator=cpu", "--trainer.devices=2", "--global_batch_size=4",
        "--trainer.max_steps=2", "--trainer.val_check_interval=2",
    )  # fmt: skip
    check(fit)
    checkpoints = sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir())
    # rank 0 alone writes: one file per callback (demo.yaml's last.ckpt and this run's s2.ckpt), no rank duplicates
    assert checkpoints == ["last.ckpt", "s2.ckpt"]
    ddp_scores = validation_scores(tmp_path, "ddp")
    assert {"val/davis/JF", "val/davis/J", "val/davis/F"} <= set(ddp_scores)

    single_config = write_run_config(tmp_path, "single", {"save_top_k": 0})
    single = run_cli(
        tmp_path, "validate", *tiny_args(tmp_path), "--config", single_config,
        "--trainer.accelerator=cpu", "--trainer.devices=1",
        f"--ckpt_path={tmp_path / 'ddp' / 'checkpoints' / 's2.ckpt'}",
    )  # fmt: skip
    check(single)
    single_scores = validation_scores(tmp_path, "single")
    assert set(single_scores) == set(ddp_scores)
    for key, value in ddp_scores.items():
        assert single_scores[key] == pytest.approx(value, abs=1e-6), key
    assert ddp_scores["val/davis/objects"] == single_scores["val/davis/objects"] > 0  # no video counted twice


@pytest.mark.slow  # ~2 min: two DeepSpeed start-ups of 2 processes each
def test_deepspeed_zero2_on_two_cpu_processes_resumes_from_sharded_checkpoint(tmp_path: Path) -> None:
    run_config = write_run_config(tmp_path, "zero2", {"every_n_train_steps": 2, "save_top_k": 0, "save_last": True})
    common = [
        *tiny_args(tmp_path), "--config", DEEPSPEED, "--config", run_config,
        "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.val_check_interval=1000",
    ]  # fmt: skip
    check(run_cli(tmp_path, "fit", *common, "--trainer.max_steps=2", timeout=400))
    last = tmp_path / "zero2" / "checkpoints" / "last.ckpt"
    assert last.is_dir()  # a DeepSpeed checkpoint folder
    shards = sorted(p.name for p in (last / "checkpoint").iterdir())
    assert "mp_rank_00_model_states.pt" in shards
    assert sum("optim_states" in name for name in shards) == 2  # ZeRO-2: optimizer state sharded over 2 ranks
    module = torch.load(last / "checkpoint" / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False)
    dtypes = {v.dtype for v in module["module"].values() if v.is_floating_point()}
    assert dtypes == {torch.float32}  # bf16-mixed = autocast with fp32 weights, not DeepSpeed's all-bf16 mode

    exported = tmp_path / "zero2.pth"
    assert export_main([str(last), str(exported)]) == 0  # consolidates the shards
    build_network("cutie", "tiny", weights=exported)

    resumed = run_cli(tmp_path, "fit", *common, "--trainer.max_steps=4", "--ckpt_path=last", timeout=400)
    check(resumed)
    rows = [
        row for path in sorted((tmp_path / "zero2" / "csv").glob("version_*/metrics.csv")) for row in read_metrics(path)
    ]
    losses = metric_by_step(rows, "train/loss")
    assert sorted(losses) == [0, 1, 2, 3]  # steps 2 and 3 continue from the checkpoint of step 2
    assert all(value == value for value in losses.values())  # no NaN
