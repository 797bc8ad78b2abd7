"""The `s3` command line: subcommand listing, LightningCLI configs, and one-line errors for bad input."""

from __future__ import annotations

import errno
import inspect
import json
import logging
import os
import subprocess
import sys
import typing
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from s3.cli import (
    S3CLI,
    TOOL_COMMANDS,
    TRAINER_COMMANDS,
    Tool,
    main,
    resolve,
    run_guarded,
    underscore_flags,
    user_error_message,
)
from s3.errors import S3Error

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


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_demo_help_is_its_own(flag: str, capsys, monkeypatch) -> None:
    """`s3 demo --help` says what the demo runs and that other flags go to `fit`; it trains nothing and does not
    print `fit`'s help."""

    def no_fit(*args, **kwargs):
        raise AssertionError("`s3 demo --help` must not build the fit CLI")

    monkeypatch.setattr("s3.cli.S3CLI", no_fit)
    assert main(["demo", "--trainer.max_steps", "5", flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: s3 demo")
    assert "J&F model=" in out and "`s3 fit`" in out and "s3 demo --trainer.max_steps 50" in out
    assert "--trainer.accelerator" not in out and len(out.splitlines()) < 30  # not fit's ~600-line help


@pytest.mark.parametrize("rank", [0, 1])
def test_user_error_line_names_a_ddp_rank_other_than_zero(rank: int, capsys, monkeypatch) -> None:
    """Rank 0 prints the plain line; another rank labels its line with its rank (its error may be its own, so it is
    never silenced); the exit code is 2 on all."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", rank)

    def bad_input() -> int:
        raise S3Error("f.yaml: bad")

    assert run_guarded(bad_input, "fit") == 2
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    prefix = "s3: error: " if rank == 0 else f"s3: error (rank {rank}): "
    expected = f"{prefix}f.yaml: bad\n{prefix}unknown command 'frobnicate'; run `s3 --help` for the list\n"
    assert err == expected


def test_a_ddp_child_process_labels_its_error_line(tmp_path) -> None:
    """A process started as Lightning's DDP launcher starts rank 1 (env LOCAL_RANK=1) prints a rank-labelled line."""
    env = {key: value for key, value in os.environ.items() if key not in ("RANK", "SLURM_PROCID")}
    missing = tmp_path / "missing.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "s3.cli", "fit", "--config", str(missing)],
        capture_output=True, text=True, cwd=REPO, timeout=300, env={**env, "LOCAL_RANK": "1"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("s3: error (rank 1): ") and str(missing) in result.stderr
    assert len(result.stderr.splitlines()) == 1


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


# --- one CLI tree: typed tool parsers, one meaning per flag, one error boundary --------------------------------


def tool_paths() -> list[tuple[list[str], Tool]]:
    """(command words, tool) of every tool subcommand, nested ones included (`eval davis`)."""
    found = []
    for name, entry in TOOL_COMMANDS.items():
        if isinstance(entry, Tool):
            found.append(([name], entry))
        else:
            found += [([name, action], tool) for action, tool in entry.items()]
    return found


def test_root_help_lists_nested_actions(capsys) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for words, _ in tool_paths():
        assert words[-1] in text


@pytest.mark.parametrize(
    "words,tool", tool_paths(), ids=lambda value: " ".join(value) if isinstance(value, list) else ""
)
def test_tool_help_lists_typed_arguments_with_their_docstrings(words: list[str], tool: Tool, capsys) -> None:
    from docstring_parser import parse

    with pytest.raises(SystemExit) as info:
        main([*words, "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # help wraps lines: compare on collapsed whitespace
    function = resolve(tool.target)
    documented = {p.arg_name: " ".join(p.description.split()) for p in parse(function.__doc__).params}
    for name in inspect.signature(function).parameters:
        assert name in documented, f"{tool.target}: parameter {name} has no docstring entry"
        assert (name if tool.positional else f"--{name}") in text
        assert documented[name][:30] in text, (name, documented[name])
    assert "type:" in text


def test_size_is_the_network_size_in_every_tool() -> None:
    sizes = 0
    for _, tool in tool_paths():
        hints = typing.get_type_hints(resolve(tool.target))
        if "size" in hints:
            assert hints["size"] == typing.Literal["base", "small", "tiny"], tool.target
            sizes += 1
    assert sizes >= 3  # segment, benchmark, ablations


def test_benchmark_frame_height_is_height_not_size(capsys) -> None:
    assert main(["benchmark", "--preset", "cutie", "--size", "32"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3: error: --size: invalid choice: '32' (choose from 'base', 'small', 'tiny')")
    assert "\n" not in err


def test_unknown_flag_is_one_parser_error(capsys) -> None:
    assert main(["segment", "--video", "v", "--mask", "m", "--output", "o", "--no-such-flag", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3: error: unrecognized arguments: --no_such_flag 1") and "\n" not in err
    assert main(["eval", "davis"]) == 2
    assert "required: --davis_root, --results" in capsys.readouterr().err


def test_dashes_and_underscores_name_the_same_flag() -> None:
    assert underscore_flags(["--max-internal-size", "64", "--data.init_args.data_root=/a-b", "-1", "a-b"]) == [
        "--max_internal_size", "64", "--data.init_args.data_root=/a-b", "-1", "a-b",
    ]  # fmt: skip


def test_data_inspect_takes_a_fit_config_and_data_keys(tmp_path, capsys) -> None:
    sheet = tmp_path / "sheet.png"
    argv = ["data", "inspect", "--config", DEMO]  # a full fit config: trainer, model, seed... are not data keys
    argv += [
        f"--data.init_args.data_root={tmp_path / 'synthetic'}",
        f"--data.init_args.synthetic_options={SMALL_SYNTHETIC}",
    ]
    argv += ["--data.init_args.crop_size", "48", "--data.init_args.num_frames=3", "--sheet", str(sheet), "--clips", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"data root: {tmp_path / 'synthetic'}" in out and "videos=     3" in out
    with Image.open(sheet) as image:
        assert image.size == (3 * 48, 48)


def test_data_inspect_seeds_as_fit_does_without_the_seed_line(tmp_path, capfd, caplog, monkeypatch) -> None:
    """`s3 data inspect` is read-only: Lightning's "Seed set to ..." info line is not printed, but the fit config's
    `seed_everything` is still applied (the data module's seed falls back to it)."""
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    caplog.set_level(logging.INFO)
    argv = ["data", "inspect", "--config", DEMO, f"--data.init_args.data_root={tmp_path / 'synthetic'}"]
    argv += [f"--data.init_args.synthetic_options={SMALL_SYNTHETIC}", "--data.init_args.crop_size=48"]
    assert main([*argv, "--sheet", str(tmp_path / "sheet.png"), "--clips", "1"]) == 0
    out, err = capfd.readouterr()
    assert "videos=" in out
    assert "Seed set to" not in out + err + caplog.text
    assert os.environ["PL_GLOBAL_SEED"] == str(yaml.safe_load(Path(DEMO).read_text())["seed_everything"])
    # A config without `seed_everything` (Lightning's default True, no PL_GLOBAL_SEED): seed 0, and no warning.
    monkeypatch.delenv("PL_GLOBAL_SEED")
    data_only = tmp_path / "data.yaml"
    data_only.write_text(yaml.safe_dump({"data": yaml.safe_load(Path(DEMO).read_text())["data"]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["data", "inspect", "--config", str(data_only), *argv[4:], "--sheet", str(tmp_path / "s.png")]) == 0
    out, err = capfd.readouterr()
    assert "videos=" in out and "seed set to" not in (out + err + caplog.text).lower()
    assert [str(w.message) for w in caught if "seed set to" in str(w.message).lower()] == []
    assert os.environ["PL_GLOBAL_SEED"] == "0"


def test_benchmark_dataset_takes_a_fit_config(tmp_path, capsys) -> None:
    from s3.data.synthetic import ensure_synthetic_davis

    root = ensure_synthetic_davis(tmp_path / "davis", num_train=1, num_val=2, num_frames=3, height=32, width=48)
    config = tmp_path / "fit.yaml"
    config.write_text(
        "trainer: {max_steps: 1}\nmodel: {preset: cutie}\ndata:\n  class_path: s3.data.VOSDataModule\n"
        f"  init_args: {{data_root: {root}, val_datasets: [{{name: davis, split: val, path: .}}]}}\n"
    )
    assert (
        main(["benchmark", "--preset", "cutie", "--size", "tiny", "--dataset", "davis", "--config", str(config)]) == 0
    )
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["videos"] == 2


def test_reference_flag_reaches_the_predictor(monkeypatch, fixtures_dir: Path, tmp_path: Path) -> None:
    import s3.inference.segment as segment

    seen = []

    class Recorder(segment.VideoPredictor):
        def __init__(self, *args, fast_paths: bool = True, **kwargs) -> None:
            seen.append(fast_paths)
            super().__init__(*args, fast_paths=fast_paths, **kwargs)

    monkeypatch.setattr(segment, "VideoPredictor", Recorder)
    bike = fixtures_dir / "cutie_examples"
    argv = ["segment", "--video", str(bike / "images" / "bike"), "--mask", str(bike / "masks" / "bike" / "00000.png")]
    argv += ["--size", "tiny", "--max_internal_size", "64", "--max_frames", "2", "--no_overlay", "--device", "cpu"]
    assert main([*argv, "--output", str(tmp_path / "fast")]) == 0
    assert main([*argv, "--output", str(tmp_path / "reference"), "--reference"]) == 0
    assert seen == [True, False]


def test_benchmark_prints_the_reference_time_beside(capsys) -> None:
    argv = ["benchmark", "--preset", "cutie", "--size", "tiny", "--height", "32", "--frames", "1", "--warmup", "0"]
    assert main([*argv, "--compare_reference"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "[reference modules]" not in lines[0] and "[reference modules]" in lines[1]
    assert lines[2].startswith("time per frame cutie reference modules / inference forms: ")
    assert [json.loads(line)["fast_paths"] for line in lines[3:]] == [True, False]


def test_user_errors_are_one_line_with_the_path() -> None:
    assert user_error_message(PermissionError(errno.EACCES, "Permission denied", "/x/y")) == "/x/y: permission denied"
    assert user_error_message(OSError(errno.ENOSPC, "No space left on device", "/d")) == "/d: no space left on device"
    assert user_error_message(FileExistsError(errno.EEXIST, "File exists", "/a", None, "/b")) == "/a -> /b: file exists"
    assert user_error_message(S3Error("f.yaml: bad")) == "f.yaml: bad"
    assert user_error_message(RuntimeError("a bug")) is None  # keeps its traceback
    assert user_error_message(OSError(errno.EIO, "I/O error", "/d")) is None


def test_s3_error_and_unwritable_output_are_one_line(tmp_path, capsys) -> None:
    assert main(["eval", "davis", "--davis-root", str(tmp_path), "--results", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3: error: ") and "\n" not in err and "ImageSets/2017/val.txt" in err
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["report", "ablation", "--runs", str(tmp_path), "--output", str(blocker / "tables")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"s3: error: --output: cannot write to {blocker / 'tables'}: not a directory"
    )


def test_yaml_syntax_error_names_the_file_and_line(tmp_path, capsys) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("model:\n  lr: [1,\n  size: tiny\n")
    assert main(["fit", "--config", DEMO, "--config", str(broken), "--print_config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"s3: error: {broken}: line ") and "invalid YAML" in err and "\n" not in err


def test_data_typo_is_reduced_to_the_field(tmp_path, capsys) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("data:\n  init_args:\n    crop_sise: 64\n")
    assert main(["fit", "--config", DEMO, "--config", str(typo), "--print_config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3: error: --data: Option 'crop_sise' is not accepted") and "\n" not in err
    assert main(["fit", "--config", DEMO, "--data.init_args.crop_size=big", "--print_config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3: error: --data.init_args.crop_size: Expected a int. Got value: big"), err


def test_checkpoint_hyper_parameters_do_not_replace_the_config(tmp_path) -> None:
    """The config stays the source of truth with --ckpt_path (LightningCLI would load the checkpoint's hparams)."""
    checkpoint = tmp_path / "same_network.ckpt"
    hparams = {"preset": "cutie", "size": "tiny", "num_ref_frames": 5, "num_points": 64}
    torch.save({"state_dict": {}, "hyper_parameters": hparams}, checkpoint)

    class Parsed(Exception):
        pass

    class ParseOnly(S3CLI):
        def before_instantiate_classes(self) -> None:
            super().before_instantiate_classes()
            raise Parsed(self.config)

    with pytest.raises(Parsed) as info:
        ParseOnly(args=["fit", "--config", DEMO, f"--ckpt_path={checkpoint}"])
    config = info.value.args[0].fit
    assert (config.model.num_ref_frames, config.model.num_points) == (2, 2048)  # demo.yaml's, not the checkpoint's
    assert config.ckpt_path == str(checkpoint)


def test_constructor_errors_wrapped_by_the_parser_are_one_line(tmp_path, capsys) -> None:
    """jsonargparse wraps a constructor's S3Error in its union-type message: the CLI digs it out."""
    args = demo_args(tmp_path, "--data.init_args.crop_size=-5", "--trainer.max_steps=1")
    assert main(["fit", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "s3: error: data.crop_size: expected an integer >= 1, got -5"
    wrapped = ValueError("Does not validate against any of the Union subtypes")
    wrapped.__cause__ = S3Error("data.batch_size: expected an integer >= 1, got 0")
    assert user_error_message(wrapped) == "data.batch_size: expected an integer >= 1, got 0"
