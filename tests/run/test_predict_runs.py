"""`s3 predict` as users run it: two DDP processes write every video once; a killed run resumes cleanly."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import yaml
from run_helpers import REPO, cli_command, cli_env, tiny_args

DDP = str(REPO / "configs" / "strategy" / "ddp.yaml")
THREE_VIDEOS = "{seed: 3, num_train: 1, num_val: 3, num_frames: 6, height: 64, width: 64}"


def predict_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "predict", *tiny_args(tmp_path), f"--data.init_args.synthetic_options={THREE_VIDEOS}",
        f"--model.evaluation.output_dir={tmp_path / 'predictions'}", "--trainer.accelerator=cpu", *extra,
    ]  # fmt: skip


def published(tmp_path: Path) -> dict[str, list[str]]:
    folder = tmp_path / "predictions" / "davis-val"
    return {
        video.name: sorted(p.name for p in video.iterdir())
        for video in sorted(folder.iterdir())
        if not video.name.startswith(".")
    }


def test_ddp_predict_writes_each_video_once(tmp_path: Path) -> None:
    result = subprocess.run(
        cli_command(*predict_args(tmp_path, "--config", DDP, "--trainer.devices=2")),
        cwd=REPO, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    videos = published(tmp_path)
    assert sorted(videos) == ["synth-val-0000", "synth-val-0001", "synth-val-0002"]  # 3 videos over 2 ranks
    assert all(frames == [f"{t:05d}.png" for t in range(6)] for frames in videos.values())
    partial = tmp_path / "predictions" / "davis-val" / ".partial"
    assert not partial.exists() or not any(partial.iterdir())


def test_killed_predict_resumes_without_redoing_finished_videos(tmp_path: Path) -> None:
    marker = tmp_path / "paused"
    pause = {"class_path": "fault_injection.PauseAfterPrediction", "init_args": {"index": 0, "marker": str(marker)}}
    config = tmp_path / "pause.yaml"
    config.write_text(yaml.safe_dump({"trainer": {"callbacks": [pause]}}))
    env = cli_env(tmp_path)
    killed = subprocess.Popen(
        cli_command(*predict_args(tmp_path, "--config", str(config))),
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert killed.poll() is None, killed.stderr.read()[-4000:]
        assert time.monotonic() < deadline, "predict never finished its first video"
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    first = published(tmp_path)
    assert list(first) == ["synth-val-0000"]  # only the finished video is visible
    stamp = (tmp_path / "predictions" / "davis-val" / "synth-val-0000" / "00003.png").stat().st_mtime_ns

    resumed = subprocess.run(cli_command(*predict_args(tmp_path)), cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert sorted(published(tmp_path)) == ["synth-val-0000", "synth-val-0001", "synth-val-0002"]
    assert (tmp_path / "predictions" / "davis-val" / "synth-val-0000" / "00003.png").stat().st_mtime_ns == stamp
