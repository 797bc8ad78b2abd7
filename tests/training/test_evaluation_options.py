"""`model.evaluation` is typed: dataset keys and preset names are checked when the config is parsed."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

import s3
from s3.cli import S3CLI, main
from s3.data.registry import EvalName
from s3.inference.config import EVALUATION_PRESETS, EvaluationPresetName, InferenceConfig, LongTermConfig
from s3.training import S3Module
from s3.training.evaluation import (
    DatasetEvaluation,
    EvaluationConfigError,
    EvaluationOptions,
    LongTermOverrides,
    dataset_config,
    dataset_test_size,
)

DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")


def parser_error(capsys: pytest.CaptureFixture, *args: str) -> str:
    """The CLI's one `s3: error:` line (exit status 2) for a config that must not parse."""
    assert main(["fit", "--config", DEMO, *args, "--print_config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3: error: ") and "\n" not in err
    return err


def test_typo_in_a_preset_name_is_a_parser_error(capsys: pytest.CaptureFixture) -> None:
    err = parser_error(capsys, "--model.evaluation.preset", "cutie-pluss")
    assert "model.evaluation" in err and "preset" in err and "'cutie-pluss'" in err and "'cutie-plus'" in err


@pytest.mark.parametrize("key", ["youtube-vos", "davis17"])
def test_unknown_dataset_key_is_a_parser_error(key: str, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    override = tmp_path / "eval.yaml"
    override.write_text(f"model:\n  evaluation:\n    datasets:\n      {key}: {{mem_every: 3}}\n")
    err = parser_error(capsys, "--config", str(override))
    assert "evaluation" in err and key in err


def test_unknown_override_field_is_a_parser_error(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    override = tmp_path / "eval.yaml"
    override.write_text("model:\n  evaluation:\n    datasets:\n      davis: {mem_evry: 3}\n")
    assert "mem_evry" in parser_error(capsys, "--config", str(override))


def test_dataset_overrides_reach_the_predictor(tmp_path: Path) -> None:
    override = tmp_path / "eval.yaml"
    override.write_text(
        "model:\n  evaluation:\n    preset: cutie-plus\n    fast_paths: false\n    datasets:\n"
        "      youtube2019: {mem_every: 3, top_k: full, long_term: {max_num_tokens: 20000}}\n"
    )
    model: S3Module = S3CLI(args=["--config", DEMO, "--config", str(override)], run=False).model
    assert model.evaluation.datasets["youtube2019"] == DatasetEvaluation(
        mem_every=3, top_k="full", long_term=LongTermOverrides(max_num_tokens=20000)
    )
    predictor = model.predictor("youtube2019")
    assert predictor.fast_paths is False
    config = predictor.config
    assert (config.mem_every, config.top_k, config.max_mem_frames) == (3, None, 10)  # 10: the preset's
    assert config.long_term.max_num_tokens == 20000
    assert dataset_test_size(model.evaluation, "youtube2019") == 600  # the preset's YouTube-VOS size
    youtube2018 = model.predictor("youtube2018").config  # a key applies to that dataset only
    assert (youtube2018.mem_every, youtube2018.top_k) == (5, 30)


def test_python_callers_get_the_same_checks() -> None:
    options = EvaluationOptions(datasets={"lvos": {"size": 600, "long_term": {"min_mem_frames": 3}}})
    assert options.datasets["lvos"] == DatasetEvaluation(size=600, long_term=LongTermOverrides(min_mem_frames=3))
    with pytest.raises(EvaluationConfigError, match="model.evaluation.datasets: unknown dataset 'youtube-vos'"):
        EvaluationOptions(datasets={"youtube-vos": {"mem_every": 3}})


def test_dataset_config_precedence() -> None:
    options = EvaluationOptions(preset="cutie", datasets={"burst": DatasetEvaluation(size=720, mem_every=7)})
    burst = dataset_config(options, "burst")
    assert (dataset_test_size(options, "burst"), burst.mem_every, burst.use_long_term) == (720, 7, True)
    assert dataset_test_size(EvaluationOptions(preset="cutie", size=360), "burst") == 360
    assert dataset_test_size(options, "davis2016") == 480


def test_override_fields_mirror_the_inference_config() -> None:
    inference = {f.name for f in dataclasses.fields(InferenceConfig)}
    assert {f.name for f in dataclasses.fields(DatasetEvaluation)} == inference | {"size"}
    long_term = {f.name for f in dataclasses.fields(LongTermConfig)}
    assert {f.name for f in dataclasses.fields(LongTermOverrides)} == long_term


def test_names_are_one_vocabulary() -> None:
    assert set(typing.get_args(EvaluationPresetName)) == set(EVALUATION_PRESETS)
    for preset in EVALUATION_PRESETS.values():
        assert set(preset.datasets) <= set(typing.get_args(EvalName)), preset.name
    assert set(EVALUATION_PRESETS["cutie"].datasets) == set(typing.get_args(EvalName))


def test_one_evaluation_options_class_in_the_package() -> None:
    package = Path(s3.__file__).parent
    defining = [p for p in package.rglob("*.py") if "class EvaluationOptions" in p.read_text()]
    assert [p.relative_to(package).as_posix() for p in defining] == ["training/evaluation.py"]
