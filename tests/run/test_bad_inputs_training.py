"""Bad inputs to training: a diverging `s3 fit` stops on the bad step and never saves non-finite weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_helpers import run_cli, tiny_args

from s3.model.weights import nonfinite_tensor_names
from s3.run.checkpoints import check_checkpoint_matches
from s3.run.export import export_weights
from s3.run.nonfinite import NonFiniteGuard, NonFiniteTrainingError

# lr 1e-4 for steps 0-2, then x1e14: step 3's update blows the weights up, step 4's loss is NaN.
DIVERGING = (
    "--model.optimizer.lr=1e-4",
    "--model.lr_scheduler.milestones=[3]",
    "--model.lr_scheduler.gamma=1e14",
    "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
    "--trainer.callbacks.every_n_train_steps=1",
    "--trainer.callbacks.save_last=true",
    "--trainer.callbacks.save_top_k=0",
)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("s3: error:")]


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("diverge")
    result = run_cli(root, "fit", *tiny_args(root, "--trainer.max_steps=8", *DIVERGING))
    return root, result


def test_diverging_fit_stops_on_the_bad_step_with_one_line(diverged_run) -> None:
    root, result = diverged_run
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("s3: error: step 4: non-finite training")
    assert "total_loss=nan" in lines[0] and "loss_ce=nan" in lines[0]
    assert "lr 1e+10" in lines[0]


def test_diverging_fit_keeps_the_last_good_checkpoint(diverged_run) -> None:
    root, _ = diverged_run
    last = root / "out" / "checkpoints" / "last.ckpt"
    checkpoint = load_checkpoint(last)
    # Written after step 3's update (global step 4), the last finite state; the bad step 4 never saved.
    assert checkpoint["global_step"] == 4
    assert nonfinite_tensor_names(checkpoint["state_dict"]) == []


def test_skipping_bad_steps_drops_their_updates_then_stops(tmp_path: Path) -> None:
    args = tiny_args(tmp_path, "--trainer.max_steps=8", "--model.max_bad_steps=2", *DIVERGING)
    result = run_cli(tmp_path, "fit", *args)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.count("update skipped") == 2
    assert "step 4: non-finite training" in result.stderr and "update skipped (1 of 2 allowed)" in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("s3: error: step 6: non-finite training")
    assert "2 bad step(s) allowed" in lines[0]
    checkpoint = load_checkpoint(tmp_path / "out" / "checkpoints" / "last.ckpt")
    # Skipped steps still count as steps, and their (unchanged, finite) weights may be saved.
    assert checkpoint["global_step"] == 6
    assert nonfinite_tensor_names(checkpoint["state_dict"]) == []


def poisoned_checkpoint(path: Path) -> Path:
    """A checkpoint-shaped file with one NaN tensor, as the unguarded run used to write."""
    from s3.model import build_network

    network = build_network("cutie", "tiny")
    state = {f"network.{k}": v.clone() for k, v in network.state_dict().items()}
    state["network.mask_decoder.pred.weight"].fill_(float("nan"))
    torch.save({"state_dict": state, "hyper_parameters": {"preset": "cutie", "size": "tiny"}, "global_step": 9}, path)
    return path


def test_every_loader_refuses_non_finite_weights(tmp_path: Path) -> None:
    from s3.model import build_network, load_network_weights

    path = poisoned_checkpoint(tmp_path / "poisoned.ckpt")
    with pytest.raises(Exception, match=r"poisoned\.ckpt: 1 of \d+ tensors hold NaN/inf") as caught:
        load_network_weights(build_network("cutie", "tiny"), path)
    assert "\n" not in str(caught.value)
    with pytest.raises(Exception, match=r"--ckpt_path .*poisoned\.ckpt: 1 of \d+ tensors hold NaN/inf"):
        check_checkpoint_matches(path, "cutie", "tiny")
    with pytest.raises(Exception, match=r"poisoned\.ckpt: 1 of \d+ tensors hold NaN/inf"):
        export_weights(path, tmp_path / "out" / "weights.pth")
    assert not (tmp_path / "out" / "weights.pth").exists()


def test_guard_refuses_to_save_non_finite_weights() -> None:
    guard = NonFiniteGuard()

    class Trainer:
        global_step = 7

    state = {"network.a": torch.ones(2), "network.b": torch.tensor([1.0, float("inf")])}
    with pytest.raises(NonFiniteTrainingError, match=r"step 7: refusing to save a checkpoint, 1 of 2 tensors"):
        guard.on_save_checkpoint(Trainer(), None, {"state_dict": state})  # type: ignore[arg-type]
    guard.on_save_checkpoint(Trainer(), None, {"state_dict": {"network.a": torch.ones(2)}})  # type: ignore[arg-type]


def test_corrupt_frame_read_in_a_dataloader_worker_is_one_line(tmp_path: Path) -> None:
    from s3.data.synthetic import ensure_synthetic_davis

    size = {"seed": 1, "num_train": 3, "num_val": 2, "num_frames": 8, "height": 64, "width": 64}  # SMALL_SYNTHETIC
    root = ensure_synthetic_davis(tmp_path / "synthetic", **size)
    for frame in (root / "JPEGImages" / "480p").glob("synth-train-*/*.jpg"):
        frame.write_bytes(b"\xff\xd8 not a jpeg")
    args = tiny_args(tmp_path, "--trainer.max_steps=1", "--data.init_args.num_workers=1")
    result = run_cli(tmp_path, "fit", *args)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "DataLoader worker" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and ".jpg: cannot decode image" in lines[0], result.stderr[-3000:]
    assert not (tmp_path / "out" / "checkpoints").exists() or not any((tmp_path / "out" / "checkpoints").iterdir())


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("--trainer.devices=0", "--trainer: `Trainer(devices='0')` value is not a valid input using cpu accelerator."),
        ("--trainer.strategy=fsdp", "--trainer: The strategy `fsdp` requires a GPU accelerator"),
    ],
)
def test_trainer_settings_lightning_refuses_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, setting: str, expected: str
) -> None:
    from s3.cli import main

    status = main(["fit", *tiny_args(tmp_path, "--trainer.accelerator=cpu", setting)])
    assert status == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(f"s3: error: {expected}"), lines
