"""The `s3` command line: subcommand listing, LightningCLI configs, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from s3.cli import TOOL_COMMANDS, TRAINER_COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / "configs" / "demo.yaml")
SMALL_SYNTHETIC = "{seed: 1, num_train: 3, num_val: 2, num_frames: 8, height: 64, width: 64}"


def demo_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--config", DEMO,
        f"--data.init_args.data_root={tmp_path / 'synthetic'}",
        f"--data.init_args.synthetic_options={SMALL_SYNTHETIC}",
        "--data.init_args.crop_size=64",
        "--data.init_args.num_frames=3",
        "--data.init_args.batch_size=2",
        "--data.init_args.num_workers=0",
        f"--trainer.default_root_dir={tmp_path / 'out'}",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'out'}",
        "--model.num_points=256",
        *extra,
    ]  # fmt: skip


def test_help_lists_every_subcommand(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in [*TRAINER_COMMANDS, *TOOL_COMMANDS]:
        assert f"  {name} " in text


@pytest.mark.parametrize("preset", ["cutie", "cutie_dq", "cutie_dq_vit", "cutie_dq_vit_spatial", "s3"])
def test_fit_fast_dev_run_on_demo_config(tmp_path, preset: str) -> None:
    assert main(["fit", *demo_args(tmp_path, "--trainer.fast_dev_run=1", f"--model.preset={preset}")]) == 0


def test_print_config_shows_layered_values(tmp_path, capsys) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("model:\n  optimizer:\n    init_args:\n      lr: 0.123\n  size: small\n")
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", DEMO, "--config", str(override), "--model.size=tiny", "--print_config"])
    assert info.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["optimizer"]["init_args"]["lr"] == 0.123  # the later file wins over demo.yaml
    assert config["model"]["size"] == "tiny"  # command-line flags win over files
    assert config["model"]["preset"] == "cutie"
    assert config["data"]["class_path"] == "s3.data.VOSDataModule"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s3.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_unknown_key_and_wrong_type_give_parser_messages_without_traceback() -> None:
    result = run_cli("fit", "--config", DEMO, "--model.no_such_key=1", "--print_config")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no_such_key" in result.stderr
    result = run_cli("fit", "--config", DEMO, "--model.optimizer.lr=fast", "--print_config")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "lr" in result.stderr


def test_missing_data_root_is_one_line(tmp_path) -> None:
    missing = tmp_path / "no_davis_here"
    result = run_cli(
        "fit", "--config", DEMO, f"--data.init_args.data_root={missing}", "--data.init_args.synthetic=false",
        "--trainer.fast_dev_run=1", f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("s3: error:")]
    assert len(error_lines) == 1 and "Traceback" not in result.stderr
    assert str(missing) in error_lines[0] and "make demo" in error_lines[0]


def test_wrong_weights_file_lists_keys(tmp_path) -> None:
    bad = tmp_path / "bad.pth"
    torch.save({"pixel_encoder.conv1.weight": torch.zeros(1), "mystery.weight": torch.zeros(2)}, bad)
    result = run_cli("fit", "--config", DEMO, f"--model.weights={bad}", "--trainer.fast_dev_run=1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unexpected keys (1): mystery.weight" in result.stderr
    assert "missing keys" in result.stderr and "shape mismatches" in result.stderr


def test_unknown_command() -> None:
    assert main(["frobnicate"]) == 2


def test_data_inspect_is_wired(tmp_path, capsys) -> None:
    config = tmp_path / "data.yaml"
    config.write_text(
        "data:\n  class_path: s3.data.VOSDataModule\n  init_args:\n"
        f"    data_root: {tmp_path / 'synthetic'}\n    synthetic: true\n"
        f"    synthetic_options: {SMALL_SYNTHETIC}\n    crop_size: 64\n    num_frames: 3\n"
    )
    code = main(["data", "inspect", "--config", str(config), "--sheet", str(tmp_path / "sheet.png"), "--clips", "1"])
    assert code == 0
    assert "davis" in capsys.readouterr().out
    assert (tmp_path / "sheet.png").is_file()
    assert main(["data", "frobnicate"]) == 2
