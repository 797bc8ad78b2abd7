"""One tiny run through the paper-style callbacks: W&B offline logging, best/last checkpoints, export, report."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import yaml
from run_helpers import REPO, metric_by_step, read_metrics, tiny_args
from wired_cli import main as wired_main

from s3.model import build_network
from s3.report.cli import main as report_main
from s3.run.export import main as export_main


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("run")
    wandb_fragment = yaml.safe_load((REPO / "configs" / "logger" / "wandb.yaml").read_text())
    wandb_fragment["init_args"].update(save_dir=str(root / "runs"), name=None)  # demo.yaml names its logger "logs"
    config = {
        "trainer": {
            "max_steps": 2,
            "log_every_n_steps": 1,
            "check_val_every_n_epoch": None,
            "val_check_interval": 2,
            "default_root_dir": str(root / "runs"),
            "logger": [
                wandb_fragment,
                {
                    "class_path": "lightning.pytorch.loggers.CSVLogger",
                    "init_args": {"save_dir": str(root / "runs"), "name": "csv", "flush_logs_every_n_steps": 1},
                },
            ],
            # the paper configs' callbacks, with test-sized intervals
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {
                        "monitor": "val/davis/JF",
                        "mode": "max",
                        "save_top_k": 1,
                        "filename": "best-step{step:06d}-jf{val/davis/JF:.4f}",
                        "auto_insert_metric_name": False,
                    },
                },  # fmt: skip
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"every_n_train_steps": 1, "save_top_k": 0, "save_last": True},
                },
                {"class_path": "s3.run.callbacks.TrainingStatusLogger"},
                {"class_path": "s3.run.callbacks.StepSeeding"},
                {"class_path": "s3.run.callbacks.MaskOverlayLogger", "init_args": {"num_videos": 1, "max_frames": 4}},
            ],
        }
    }
    (root / "run.yaml").write_text(yaml.safe_dump(config))
    patch = pytest.MonkeyPatch()
    wandb_env = {"WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true"}
    wandb_env.update(WANDB_CACHE_DIR=str(root / "cache"), WANDB_CONFIG_DIR=str(root / "cfg"))
    for name, value in wandb_env.items():
        patch.setenv(name, value)
    try:
        args = tiny_args(root, "--config", str(root / "run.yaml"))
        assert wired_main(["fit", *args]) == 0
        import wandb

        wandb.finish()  # a finished run writes its summary (a real `s3 fit` finishes at process exit)
        # The offline record log is written by wandb's service process; `finish` can return before that process
        # has flushed it. Tearing the service down (what a real `s3 fit` does at exit) waits for the flush.
        wandb.teardown()
    finally:
        patch.undo()
    return root


def wandb_run_folder(root: Path) -> Path:
    folders = list((root / "runs" / "wandb").glob("offline-run-*"))
    assert len(folders) == 1
    return folders[0]


def offline_records(run: Path, timeout_s: float = 60.0) -> bytes:
    """The offline run's binary record log, once its writer has flushed past the 7-byte file header."""
    path = run / f"run-{run.name.split('-')[-1]}.wandb"
    deadline = time.monotonic() + timeout_s
    records = path.read_bytes()
    while len(records) <= 64 and time.monotonic() < deadline:
        time.sleep(0.5)
        records = path.read_bytes()
    return records


def final_davis_jf(root: Path) -> float:
    rows = read_metrics(next((root / "runs" / "csv").glob("version_*/metrics.csv")))
    return list(metric_by_step(rows, "val/davis/JF").values())[-1]


def test_wandb_offline_run_has_losses_lr_max_skip_scores_and_overlays(finished_run: Path) -> None:
    run = wandb_run_folder(finished_run)
    # wandb >= 0.2x writes offline runs only as a binary record log (uploaded later by `wandb sync`)
    records = offline_records(run)
    assert b"cutie-tiny-synthetic" in records  # the run name given by the run hooks
    for key in ("train/loss", "train/loss_ce", "train/lr", "train/lr_backbone", "train/max_skip", "val/davis/JF",
                "val/davis/J", "val/davis/F", "val/davis/copy_first_frame/JF", "val/overlays"):  # fmt: skip
        assert key.encode() in records or all(part.encode() in records for part in key.split("/")), key
    overlays = list((run / "files" / "media" / "images").rglob("*.png"))
    assert len(overlays) == 1
    from PIL import Image

    width, height = Image.open(overlays[0]).size
    assert (width, height) == (4 * 64, 2 * 64)  # 4 frames side by side; ground truth above, prediction below


def test_best_and_last_checkpoints_and_export(finished_run: Path, tmp_path: Path, capsys) -> None:
    folder = finished_run / "runs" / "checkpoints"
    names = sorted(p.name for p in folder.iterdir())
    assert "last.ckpt" in names
    best = [n for n in names if n.startswith("best-step000002-jf")]
    assert len(best) == 1
    assert best[0] == f"best-step000002-jf{final_davis_jf(finished_run):.4f}.ckpt"

    exported = tmp_path / "weights.pth"
    assert export_main([str(folder / best[0]), str(exported)]) == 0
    payload = torch.load(exported, map_location="cpu", weights_only=True)
    assert (payload["preset"], payload["size"], payload["global_step"]) == ("cutie", "tiny", 2)
    network = build_network("cutie", "tiny", weights=exported)  # strict load
    state = torch.load(folder / best[0], map_location="cpu", weights_only=False)["state_dict"]
    for key, value in network.state_dict().items():
        assert torch.equal(value, state[f"network.{key}"]), key


def test_report_ablation_from_local_runs(finished_run: Path, tmp_path: Path, capsys) -> None:
    assert report_main(["ablation", "--runs", str(finished_run / "runs"), "--output", str(tmp_path)]) == 0
    markdown = (tmp_path / "ablation_davis_ytvos_480p.md").read_text()
    assert (tmp_path / "ablation_davis_ytvos_480p.png").stat().st_size > 1000
    cutie_rows = [line for line in markdown.splitlines() if "`cutie`" in line]
    assert len(cutie_rows) == 1
    # DAVIS17 J&F: ours (paper 84.2)
    assert f"{final_davis_jf(finished_run) * 100:.1f} (84.2)" in cutie_rows[0] and "1 run)" in cutie_rows[0]
    assert "| +Semantic (Full) (`s3`, 0 runs) | – (68.5)" in markdown
