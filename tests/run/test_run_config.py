"""Run-level checks and derived values: global batch split, run names, checkpoint folders, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_helpers import REPO
from wired_cli import main as wired_main

import s3.cli
from s3.run.batching import count_devices, split_global_batch
from s3.run.errors import RunConfigError
from s3.run.run_config import check_ckpt_path

MEGA = str(REPO / "configs" / "mega.yaml")
CPU = ["--trainer.accelerator=cpu", "--model.preset=cutie"]


class ParseOnlyCLI(s3.cli.S3CLI):
    """Parses and runs the hooks, builds nothing."""

    def instantiate_classes(self) -> None:
        pass


def parsed(*args: str):
    return ParseOnlyCLI(args=list(args), run=False).config


def test_split_global_batch() -> None:
    assert split_global_batch(16, 1) == split_global_batch(16, 1, None)
    assert (split_global_batch(16, 1).per_device, split_global_batch(16, 1).accumulate) == (16, 1)
    assert (split_global_batch(16, 8).per_device, split_global_batch(16, 8).accumulate) == (2, 1)
    split = split_global_batch(16, 2, max_per_device=4)
    assert (split.per_device, split.accumulate, split.global_size) == (4, 2, 16)
    split = split_global_batch(16, 1, max_per_device=3)  # 16 = 2 x 8: the largest per-device batch <= 3
    assert (split.per_device, split.accumulate) == (2, 8)
    with pytest.raises(RunConfigError, match="not divisible by devices x nodes = 3"):
        split_global_batch(16, 3)


def test_count_devices() -> None:
    assert count_devices("cpu", 2) == 2
    assert count_devices("cpu", "3") == 3
    assert count_devices("gpu", [0, 1]) == 2
    assert count_devices("gpu", "0,1,") == 2
    assert count_devices("cpu", "auto") == 1
    assert count_devices("auto", -1) == (torch.cuda.device_count() if torch.cuda.is_available() else 1)


def test_global_batch_sets_per_device_batch_and_accumulation() -> None:
    config = parsed("--config", MEGA, *CPU, "--trainer.devices=2", "--trainer.num_nodes=2")
    assert config.data.init_args.batch_size == 4 and config.trainer.accumulate_grad_batches == 1
    config = parsed("--config", MEGA, *CPU, "--trainer.devices=2", "--max_batch_per_device=2")
    assert config.data.init_args.batch_size == 2 and config.trainer.accumulate_grad_batches == 4


def test_run_name_and_checkpoint_folder(tmp_path: Path) -> None:
    config = parsed("--config", MEGA, *CPU, f"--trainer.default_root_dir={tmp_path}")
    wandb_logger, csv_logger = config.trainer.logger
    assert wandb_logger.init_args.name == "cutie-base-youtube+davis+ovis+mose+burst"
    assert csv_logger.init_args.name == "csv"  # only W&B runs are renamed
    folders = {c.init_args.dirpath for c in config.trainer.callbacks if c.class_path.endswith("ModelCheckpoint")}
    assert folders == {str(tmp_path / "checkpoints")}
    named = parsed("--config", MEGA, *CPU, f"--trainer.logger={REPO / 'configs' / 'logger' / 'wandb.yaml'}",
                   "--trainer.logger.init_args.name=mine")  # fmt: skip
    assert named.trainer.logger.init_args.name == "mine"


def one_error_line(capsys: pytest.CaptureFixture, *args: str) -> str:
    assert wired_main(["fit", *args]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("s3: error:")]
    assert len(errors) == 1, lines
    return errors[0]


def test_bad_global_batch_is_one_line_before_training(capsys: pytest.CaptureFixture) -> None:
    line = one_error_line(capsys, "--config", MEGA, *CPU, "--trainer.devices=3")
    assert "global_batch_size 16 is not divisible by devices x nodes = 3" in line
    line = one_error_line(capsys, "--config", MEGA, *CPU, "--trainer.devices=2", "--trainer.num_nodes=3")
    assert "devices x nodes = 6" in line


def test_unknown_preset_is_one_line(capsys: pytest.CaptureFixture) -> None:
    line = one_error_line(capsys, "--config", MEGA, "--trainer.accelerator=cpu", "--model.preset=cutie_xxl")
    assert "model.preset: unknown preset 'cutie_xxl'; available: cutie" in line


def test_missing_ckpt_path_is_one_line(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    missing = tmp_path / "nope.ckpt"
    line = one_error_line(capsys, "--config", MEGA, *CPU, f"--ckpt_path={missing}")
    assert f"--ckpt_path: checkpoint {missing} does not exist" in line


def test_ckpt_of_another_preset_or_size_is_one_line(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    checkpoint = tmp_path / "other.ckpt"
    torch.save(
        {"state_dict": {}, "hyper_parameters": {"preset": "cutie", "size": "small"}, "global_step": 7}, checkpoint
    )
    line = one_error_line(capsys, "--config", MEGA, *CPU, f"--ckpt_path={checkpoint}")
    assert "model.size='small'" in line and "model.size='base'" in line and str(checkpoint) in line


def test_ckpt_path_last_without_checkpoint_starts_fresh(tmp_path: Path) -> None:
    config = parsed("--config", MEGA, *CPU, f"--trainer.default_root_dir={tmp_path}")
    config.ckpt_path = "last"
    check_ckpt_path(config)  # no last.ckpt yet: nothing to check, Lightning starts from scratch


def test_ckpt_path_last_is_checked_against_the_config(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    torch.save({"hyper_parameters": {"preset": "cutie", "size": "tiny"}}, tmp_path / "checkpoints" / "last.ckpt")
    line = one_error_line(capsys, "--config", MEGA, *CPU, f"--trainer.default_root_dir={tmp_path}", "--ckpt_path=last")
    assert "last.ckpt" in line and "model.size='tiny'" in line
