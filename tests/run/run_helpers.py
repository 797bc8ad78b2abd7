"""Tiny CPU runs of `s3 fit` for the experiment-ops tests."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WIRED_CLI = Path(__file__).resolve().parent / "wired_cli.py"
DEMO = str(REPO / "configs" / "demo.yaml")
SMALL_SYNTHETIC = "{seed: 1, num_train: 3, num_val: 2, num_frames: 8, height: 64, width: 64}"


def tiny_args(root: Path, *extra: str, config: str = DEMO) -> list[str]:
    """`--config demo.yaml` shrunk to seconds: 3 train / 2 val synthetic videos, 64 px crops, 3-frame clips."""
    return [
        "--config", config,
        f"--data.init_args.data_root={root / 'synthetic'}",
        f"--data.init_args.synthetic_options={SMALL_SYNTHETIC}",
        "--data.init_args.crop_size=64",
        "--data.init_args.num_frames=3",
        "--data.init_args.batch_size=2",
        "--data.init_args.num_workers=0",
        "--data.init_args.index_cache_dir=null",
        f"--trainer.default_root_dir={root / 'out'}",
        f"--trainer.logger.init_args.save_dir={root / 'out'}",
        "--trainer.enable_progress_bar=false",
        "--model.num_points=256",
        *extra,
    ]  # fmt: skip


def cli_env(tmp_path: Path) -> dict[str, str]:
    """One thread per process, offline W&B in the test folder, DeepSpeed's compiled ops in the project cache."""
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1",
        WANDB_MODE="offline",
        WANDB_DIR=str(tmp_path),
        WANDB_CACHE_DIR=str(tmp_path / "wandb-cache"),
        WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"),
        WANDB_SILENT="true",
        TORCH_EXTENSIONS_DIR=str(REPO / ".cache" / "torch_extensions"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, str(WIRED_CLI), *args]


def run_cli(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_command(*args), capture_output=True, text=True, cwd=REPO, env=cli_env(tmp_path), timeout=timeout
    )


def read_metrics(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def metric_by_step(rows: list[dict[str, str]], name: str) -> dict[int, float]:
    return {int(row["step"]): float(row[name]) for row in rows if row.get(name) not in (None, "")}


def write_run_config(tmp_path: Path, name: str, checkpoint: dict) -> str:
    """CSV logging every step and one checkpoint callback writing to <tmp>/<name>/checkpoints."""
    config = {
        "trainer": {
            "log_every_n_steps": 1,
            "check_val_every_n_epoch": None,
            "logger": {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(tmp_path / name), "name": "csv", "flush_logs_every_n_steps": 1},
            },
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"dirpath": str(tmp_path / name / "checkpoints"), **checkpoint},
                }
            ],
        }
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)
