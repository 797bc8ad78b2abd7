"""The paper configs carry the poster's implementation table and parse through the real CLI parser."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from run_helpers import REPO
from wired_cli import main as wired_main

from s3.inference import evaluation_size, inference_config

CONFIGS = REPO / "configs"

# The poster's implementation table (shared/paper), identical for both columns except the iterations.
PAPER = {
    "lr": 5.0e-5,
    "weight_decay": 0.05,
    "drop_path_rate": 0.15,
    "global_batch_size": 16,
    "num_ref_frames": 3,
    "num_frames": 8,
    "max_skip": [5, 10, 15, 5],
    "max_skip_phase_ends": [0.1, 0.3, 0.8, 1.0],
}
ITERATIONS = {"davis_ytvos.yaml": 150_000, "mega.yaml": 190_000}
# MultiStepLR (x0.1) at 80 % and 92 % of training: Cutie's 100k/115k of 125k, scaled.
MILESTONES = {"davis_ytvos.yaml": [120_000, 138_000], "mega.yaml": [152_000, 174_800]}
TRAIN_MIX = {
    "davis_ytvos.yaml": ["davis", "youtube"],
    "mega.yaml": ["youtube", "davis", "ovis", "mose", "burst"],
}


def print_config(capsys: pytest.CaptureFixture, *args: str) -> dict:
    with pytest.raises(SystemExit) as info:
        wired_main(["fit", *args, "--print_config"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    return yaml.safe_load(out[out.index("# lightning") :])  # `import deepspeed` prints a warning first


@pytest.mark.parametrize("name", sorted(ITERATIONS))
def test_paper_config_values(name: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config = print_config(capsys, "--config", f"configs/{name}")  # the composed config, as `s3 fit` builds it
    model, trainer, data = config["model"], config["trainer"], config["data"]["init_args"]
    optimizer, scheduler = model["optimizer"], model["lr_scheduler"]
    assert optimizer["class_path"] == "torch.optim.AdamW"
    assert optimizer["init_args"]["lr"] == PAPER["lr"]
    assert optimizer["init_args"]["weight_decay"] == PAPER["weight_decay"]
    assert model["network"]["init_args"]["pixel_encoder"]["init_args"]["drop_path_rate"] == PAPER["drop_path_rate"]
    assert model["num_ref_frames"] == PAPER["num_ref_frames"]
    assert model["preset"] == "s3" and model["size"] == "base"
    assert model["backbone_lr_ratio"] == 0.1 and model["embed_weight_decay"] == 0.0
    assert model["mixed_precision_eps"] == 1e-6
    assert config["global_batch_size"] == PAPER["global_batch_size"]
    assert data["num_frames"] == PAPER["num_frames"]
    assert data["curriculum"]["values"] == PAPER["max_skip"]
    assert data["curriculum"]["phase_ends"] == PAPER["max_skip_phase_ends"]
    assert trainer["max_steps"] == ITERATIONS[name]
    assert scheduler["class_path"] == "torch.optim.lr_scheduler.MultiStepLR"
    milestones = scheduler["init_args"]["milestones"]
    assert milestones == MILESTONES[name] and scheduler["init_args"]["gamma"] == 0.1
    assert [m / ITERATIONS[name] for m in milestones] == pytest.approx([0.8, 0.92])
    assert trainer["gradient_clip_val"] == 3.0 and trainer["gradient_clip_algorithm"] == "norm"
    assert trainer["precision"] == "bf16-mixed"
    assert config["seed_everything"] == 14159265
    assert [d["name"] for d in data["train_datasets"]] == TRAIN_MIX[name]
    assert data["crop_size"] == 480 and data["num_objects"] == 3


@pytest.mark.parametrize("name", sorted(ITERATIONS))
def test_paper_config_parses_from_repo_root_and_from_configs(
    name: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    from_root = print_config(capsys, "--config", f"configs/{name}")
    monkeypatch.chdir(CONFIGS)
    from_configs = print_config(capsys, "--config", name)  # `logger: logger/wandb.yaml` resolves next to the file
    assert from_root == from_configs
    assert from_root["model"]["optimizer"]["init_args"]["lr"] == PAPER["lr"]
    encoder = from_root["model"]["network"]["init_args"]["pixel_encoder"]["init_args"]
    assert encoder["drop_path_rate"] == PAPER["drop_path_rate"]
    assert from_root["trainer"]["max_steps"] == ITERATIONS[name]
    wandb_logger, csv_logger = from_root["trainer"]["logger"]
    assert wandb_logger["class_path"] == "s3.run.wandb_logger.S3WandbLogger"
    assert wandb_logger["init_args"]["offline"] is True
    assert csv_logger["class_path"] == "lightning.pytorch.loggers.CSVLogger"
    monitors = [c.get("init_args", {}).get("monitor") for c in from_root["trainer"]["callbacks"]]
    assert "val/davis/JF" in monitors


def test_strategy_fragments_layer_on_paper_config(capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    config = print_config(capsys, "--config", "configs/mega.yaml", "--config", "configs/strategy/deepspeed_stage2.yaml")
    assert config["trainer"]["strategy"]["class_path"] == "s3.run.strategies.S3DeepSpeedStrategy"
    assert config["trainer"]["strategy"]["init_args"]["stage"] == 2
    assert config["trainer"]["precision"] == "bf16-mixed"
    config = print_config(capsys, "--config", "configs/davis_ytvos.yaml", "--config", "configs/strategy/ddp.yaml")
    assert config["trainer"]["strategy"]["class_path"] == "lightning.pytorch.strategies.DDPStrategy"
    assert config["model"]["optimizer"]["init_args"]["lr"] == PAPER["lr"]  # the fragment changes nothing else


# §3.3: Cutie's eval_config (480p rows) and eval_plus_config (the "600/720" rows).
EVAL_SIZES = {
    "480p.yaml": {"davis": 480, "youtube2019": 480, "mose": 480, "lvos": 480, "burst": 600},
    "600_720p.yaml": {"davis": 720, "youtube2019": 600, "mose": 720, "lvos": 480, "burst": 600},
}
SAME_PROTOCOL = {"davis2016": "davis", "youtube2018": "youtube2019"}  # same test size as their family's main set
EVAL_SIZES = {
    name: {**sizes, **{other: sizes[main] for other, main in SAME_PROTOCOL.items()}}
    for name, sizes in EVAL_SIZES.items()
}


@pytest.mark.parametrize("name", sorted(EVAL_SIZES))
def test_eval_configs_match_the_inference_presets(name: str) -> None:
    evaluation = yaml.safe_load((CONFIGS / "eval" / name).read_text())["model"]["evaluation"]
    for dataset, settings in evaluation["datasets"].items():
        overrides = {k: v for k, v in settings.items() if k != "size"}
        assert settings["size"] == EVAL_SIZES[name][dataset]
        assert evaluation_size(evaluation["preset"], dataset) == settings["size"]
        # the fragment restates the preset: applying its overrides changes nothing
        assert inference_config(evaluation["preset"], dataset, **overrides) == inference_config(
            evaluation["preset"], dataset
        )
    plus = inference_config("cutie-plus", "davis")
    assert (plus.max_mem_frames, plus.mem_every) == (10, 3)


def test_eval_config_keys_are_inference_fields(tmp_path: Path) -> None:
    from dataclasses import fields

    from s3.inference import InferenceConfig

    known = {f.name for f in fields(InferenceConfig)} | {"size"}
    for path in (CONFIGS / "eval").glob("*.yaml"):
        for settings in yaml.safe_load(path.read_text())["model"]["evaluation"]["datasets"].values():
            assert set(settings) <= known, path


FRAGMENTS = sorted(
    str(path.relative_to(REPO))
    for folder in ("data", "eval", "logger", "strategy")
    for path in (CONFIGS / folder).glob("*.yaml")
)


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_every_fragment_layers_on_a_paper_config(
    fragment: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    expected = yaml.safe_load((REPO / fragment).read_text())
    if isinstance(expected, list):  # a training mix: `--data.init_args.train_datasets=configs/data/mega.yaml`
        config = print_config(
            capsys, "--config", "configs/davis_ytvos.yaml", f"--data.init_args.train_datasets={fragment}"
        )
        assert [d["name"] for d in config["data"]["init_args"]["train_datasets"]] == [d["name"] for d in expected]
        assert config["data"]["init_args"]["crop_size"] == 480  # the rest of base.yaml's data settings stay
        return
    if "class_path" in expected:  # a logger value file: `--trainer.logger=configs/logger/csv.yaml`
        config = print_config(capsys, "--config", "configs/mega.yaml", f"--trainer.logger={fragment}")
        assert config["trainer"]["logger"]["class_path"] == expected["class_path"]
        return
    config = print_config(capsys, "--config", "configs/mega.yaml", "--config", fragment)
    if "model" in expected:  # e.g. the eval fragments: their values reach the module's arguments
        assert config["model"]["evaluation"]["preset"] == expected["model"]["evaluation"]["preset"]
        sizes = {name: d["size"] for name, d in config["model"]["evaluation"]["datasets"].items()}
        assert sizes == {name: d["size"] for name, d in expected["model"]["evaluation"]["datasets"].items()}


def leaf_keys(tree: dict, prefix: str = "") -> set[str]:
    """Dotted keys of every value (a list or a class_path entry counts as one value)."""
    keys = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "class_path" not in value:
            keys |= leaf_keys(value, f"{name}.")
        else:
            keys.add(name)
    return keys


@pytest.mark.parametrize("name", sorted(ITERATIONS))
def test_paper_configs_are_base_plus_their_own_values(name: str) -> None:
    config = yaml.safe_load((CONFIGS / name).read_text())
    assert next(iter(config)) == "config" and config["config"] == "base.yaml"  # the include comes first
    own = leaf_keys(config) - {"config"}
    assert own == {
        "data.init_args.train_datasets",
        "trainer.max_steps",
        "trainer.default_root_dir",
        "model.lr_scheduler",
        "model.network.init_args.pixel_encoder.init_args.drop_path_rate",  # read by s3.run.preset_args
    }
    base = leaf_keys(yaml.safe_load((CONFIGS / "base.yaml").read_text()))
    assert not own & base  # nothing written twice
    assert "seed_everything" in base and "data.init_args.seed" not in base  # the data module takes the run seed


def test_data_seed_is_the_run_seed_unless_given() -> None:
    from jsonargparse import Namespace

    from s3.run.run_config import link_seed

    config = Namespace(seed_everything=7, data=Namespace(init_args=Namespace(seed=None)))
    link_seed(config)
    assert config.data.init_args.seed == 7
    config = Namespace(seed_everything=7, data=Namespace(init_args=Namespace(seed=0)))  # the demo's own data seed
    link_seed(config)
    assert config.data.init_args.seed == 0


def test_sweep_preset_switch_keeps_the_paper_drop_path(capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    config = print_config(capsys, "--config", "configs/mega.yaml", "--model.preset=cutie_dq_vit")
    network = config["model"]["network"]["init_args"]
    assert network["pixel_encoder"]["class_path"] == "s3.model.vit_pyramid.ViTPyramidEncoder"
    assert network["pixel_encoder"]["init_args"]["drop_path_rate"] == PAPER["drop_path_rate"]
    assert config["model"]["optimizer"]["init_args"]["lr"] == PAPER["lr"]  # base.yaml's values stay
