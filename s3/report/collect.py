"""Finding runs and their final validation scores: local CSV / W&B offline folders, or the W&B API.

A run is reduced to its preset, its training mix (`davis_ytvos` or `mega`) and the last logged value of every
`val/<dataset>/<metric>` (or `test/...`) key, with dataset names mapped to Table 3's columns.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from s3.errors import S3Error

# Logged dataset names -> Table 3 column groups.
DATASET_ALIASES: dict[str, str] = {
    "mose": "MOSE",
    "davis": "DAVIS17",
    "davis2017": "DAVIS17",
    "lvos": "LVOS",
    "youtube2019": "YouTube-VOS19",
    "youtube-vos": "YouTube-VOS19",
    "youtube": "YouTube-VOS19",
}
MEGA_ONLY_DATASETS = {"ovis", "mose", "burst"}


class RunCollectionError(S3Error, ValueError):
    """No runs found, or a run folder that cannot be read."""


@dataclass
class RunScores:
    name: str
    preset: str
    training: str  # davis_ytvos | mega
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # Table 3 dataset -> metric -> value (0-100)


def training_mix(train_datasets: Any) -> str:
    names = set()
    for spec in train_datasets or []:
        names.add(str(spec.get("name") if isinstance(spec, dict) else spec).lower())
    return "mega" if names & MEGA_ONLY_DATASETS else "davis_ytvos"


def table_scores(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """`val/davis/JF: 0.85` -> `{"DAVIS17": {"JF": 85.0}}` (fractions become percentages)."""
    scores: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) != 3 or parts[0] not in ("val", "test"):
            continue
        dataset = DATASET_ALIASES.get(parts[1].lower())
        if dataset is None:
            continue
        scores.setdefault(dataset, {})[parts[2]] = value * 100 if value <= 1.0 else value
    return scores


def _last_values_from_csv(path: Path) -> dict[str, float]:
    last: dict[str, float] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key and value not in (None, ""):
                    try:
                        last[key] = float(value)
                    except ValueError:
                        continue
    return last


def _read_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {} if path.is_file() else {}


def _unwrap_wandb_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v.get("value") if isinstance(v, dict) and "value" in v else v for k, v in config.items()}


def read_csv_run(metrics_csv: Path) -> RunScores | None:
    folder = metrics_csv.parent
    hparams = _read_yaml(folder / "hparams.yaml")
    config = _read_yaml(folder / "config.yaml")
    model = config.get("model") or hparams
    preset = model.get("preset")
    if preset is None:
        return None
    data = ((config.get("data") or {}).get("init_args") or {}) if config else {}
    return RunScores(
        name=str(folder),
        preset=str(preset),
        training=training_mix(data.get("train_datasets")),
        scores=table_scores(_last_values_from_csv(metrics_csv)),
    )


def read_wandb_offline_run(run_folder: Path) -> RunScores | None:
    files = run_folder / "files"
    summary_path = files / "wandb-summary.json"
    if not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    config = _unwrap_wandb_config(_read_yaml(files / "config.yaml"))
    preset = config.get("preset")
    if preset is None:
        return None
    metrics = {k: float(v) for k, v in summary.items() if isinstance(v, int | float)}
    return RunScores(run_folder.name, str(preset), training_mix(config.get("train_datasets")), table_scores(metrics))


def collect_local_runs(folder: str | Path) -> list[RunScores]:
    """Every CSV run (`metrics.csv` + `hparams.yaml`/`config.yaml`) and W&B offline run under `folder`."""
    folder = Path(folder)
    runs = [run for path in sorted(folder.rglob("metrics.csv")) if (run := read_csv_run(path)) is not None]
    for run_folder in sorted(folder.rglob("offline-run-*")) + sorted(folder.rglob("run-*")):
        if run_folder.is_dir() and (run := read_wandb_offline_run(run_folder)) is not None:
            runs.append(run)
    return [run for run in runs if run.scores]


def collect_wandb_runs(project: str) -> list[RunScores]:
    """Finished runs of a W&B project (`entity/project`) through the public API (needs network and a login)."""
    import wandb

    try:
        api_runs = wandb.Api().runs(project)
    except Exception as error:  # noqa: BLE001 - the API raises many types; all mean "cannot reach the project"
        raise RunCollectionError(f"--runs {project}: not a folder, and the W&B API cannot read it ({error})") from error
    runs = []
    for run in api_runs:
        config = _unwrap_wandb_config(dict(run.config))
        if config.get("preset") is None:
            continue
        metrics = {k: float(v) for k, v in dict(run.summary).items() if isinstance(v, int | float)}
        runs.append(
            RunScores(
                run.name, str(config["preset"]), training_mix(config.get("train_datasets")), table_scores(metrics)
            )
        )
    return [run for run in runs if run.scores]


def collect_runs(source: str) -> list[RunScores]:
    """A local folder, else a W&B `entity/project`."""
    path = Path(source)
    if path.is_dir():
        runs = collect_local_runs(path)
        if not runs:
            raise RunCollectionError(f"--runs {source}: no runs with validation scores (metrics.csv or W&B files)")
        return runs
    if path.suffix or path.is_absolute() or source.startswith("."):
        raise RunCollectionError(f"--runs {source}: folder not found")
    return collect_wandb_runs(source)
