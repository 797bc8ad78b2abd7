"""The architecture as typed config: configs/model/ rows and sizes, `--model.preset` / `--model.size`, overrides.

Every row file and size parses through the real CLI and builds the same state-dict layout as `build_network`;
layouts are compared on the meta device (no weights are materialised, so the base networks cost little).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch
import yaml

from s3.cli import S3CLI, main
from s3.model import build_network
from s3.model.network import VOSNetwork
from s3.model.network_config import NETWORK_CONFIG_DIR, instantiate_network, network_config
from s3.model.registry import PRESETS, SIZES, TRANSFORMER_SIZES, ConfigurationError, get_size
from s3.model.spatial_semantic_encoder import SpatialSemanticEncoder
from s3.run import preset_args
from s3.training import S3Module

REPO = Path(__file__).resolve().parents[2]
USER_DIR = REPO / "configs" / "model"


def print_config(capsys: pytest.CaptureFixture, *args: str) -> dict:
    with pytest.raises(SystemExit) as info:
        main(["fit", "--trainer.accelerator=cpu", *args, "--print_config"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    return yaml.safe_load(out[out.index("# lightning") :])


def layout(network: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def test_package_copy_equals_the_user_facing_files() -> None:
    shipped = sorted(p.relative_to(NETWORK_CONFIG_DIR) for p in NETWORK_CONFIG_DIR.rglob("*.yaml"))
    user = sorted(p.relative_to(USER_DIR) for p in USER_DIR.rglob("*.yaml"))
    assert shipped == user
    assert [Path(f"{name}.yaml") for name in sorted(PRESETS)] == sorted(p for p in user if p.parent == Path("."))
    assert sorted(p.stem for p in user if p.parent == Path("size")) == sorted(SIZES)
    for relative in user:
        assert (NETWORK_CONFIG_DIR / relative).read_bytes() == (USER_DIR / relative).read_bytes(), relative


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_row_and_size_parses_through_the_cli_and_builds_build_networks_layout(
    preset: str, size: str, capsys: pytest.CaptureFixture
) -> None:
    config = print_config(capsys, f"--model.preset={preset}", f"--model.size={size}")
    assert (config["model"]["preset"], config["model"]["size"]) == (preset, size)
    tree = config["model"]["network"]
    assert tree == network_config(preset, size)
    with torch.device("meta"):
        assert layout(instantiate_network(tree)) == layout(build_network(preset, size))


def test_a_row_file_is_the_value_of_model_network(capsys: pytest.CaptureFixture) -> None:
    for preset in PRESETS:
        config = print_config(capsys, f"--model.network={USER_DIR / f'{preset}.yaml'}")
        assert config["model"]["network"] == yaml.safe_load((USER_DIR / f"{preset}.yaml").read_text())


def test_mega_print_config_names_every_architecture_argument_of_the_s3_row(capsys: pytest.CaptureFixture) -> None:
    tree = print_config(capsys, "--config", str(REPO / "configs" / "mega.yaml"))["model"]["network"]
    network_args, encoder = tree["init_args"], tree["init_args"]["pixel_encoder"]
    assert encoder["class_path"] == "s3.model.spatial_semantic_encoder.SpatialSemanticEncoder"
    assert set(network_args) == set(inspect.signature(VOSNetwork).parameters)
    assert set(encoder["init_args"]) == set(inspect.signature(SpatialSemanticEncoder).parameters)
    expected = network_config("s3", "base")
    expected["init_args"]["pixel_encoder"]["init_args"]["drop_path_rate"] = 0.15  # the paper's, from mega.yaml
    assert tree == expected


@pytest.mark.parametrize(
    "override",
    [
        "--model.network.init_args.read_from_pixel=discrimnative",
        "--model.network.init_args.dq_normalization=pixels",
        "--model.network.init_args.pixel_encoder.init_args.arch=resnet51",
    ],
)
def test_a_typo_in_a_choice_is_a_parser_error(override: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["fit", "--model.preset=cutie", "--model.size=tiny", override, "--print_config"]) == 2
    key, _, value = override.partition("=")
    err = capsys.readouterr().err.strip()  # the one-line parser error of s3/cli.py: the key, the value, the choices
    assert err.startswith(f"s3: error: {key}: invalid choice: {value!r} (choose from ") and "\n" not in err


def test_num_extra_extractors_from_the_cli_and_from_build_network() -> None:
    override = "--model.network.init_args.pixel_encoder.init_args.num_extra_extractors=0"
    cli = S3CLI(args=["--model.preset=s3", "--model.size=tiny", override, "--trainer.accelerator=cpu"], run=False)
    from_cli = cli.model.network
    from_python = build_network("s3", "tiny", num_extra_extractors=0)
    assert from_cli.pixel_encoder.interactions[-1].extra_extractors is None
    assert layout(from_cli) == layout(from_python)
    assert len(layout(from_python)) < len(layout(build_network("s3", "tiny")))
    assert cli.model.network.preset == "s3" and cli.model.network.components == PRESETS["s3"].components


def test_preset_and_size_switches_follow_the_argument_order(capsys: pytest.CaptureFixture) -> None:
    davis = str(REPO / "configs" / "davis_ytvos.yaml")
    encoder = "init_args.pixel_encoder.init_args"

    def network(*args: str) -> dict:
        return print_config(capsys, *args)["model"]["network"]

    # a sweep's later preset wins; the config's drop-path stays where the new row has it
    tree = network("--config", davis, "--model.preset=cutie")
    assert tree["init_args"]["pixel_encoder"] == network_config("cutie")["init_args"]["pixel_encoder"]
    assert network("--config", davis, "--model.preset=cutie_dq_vit")["init_args"]["pixel_encoder"]["init_args"][
        "drop_path_rate"
    ] == pytest.approx(0.15)
    # an override after the size applies on top of it; one before it is kept where the network accepts it
    tree = network("--model.preset=s3", f"--model.network.{encoder}.depth=4", "--model.size=tiny")
    assert tree["init_args"]["pixel_dim"] == 64 and tree["init_args"]["pixel_encoder"]["init_args"]["depth"] == 4
    tree = network("--model.preset=s3", "--model.preset=cutie_dq", "--model.network.init_args.num_blocks=2")
    assert tree["init_args"]["num_blocks"] == 2 and tree["init_args"]["read_from_pixel"] == "discriminative"


def test_registry_tables_agree_with_the_files() -> None:
    for preset in PRESETS.values():
        args = network_config(preset.name)["init_args"]
        default = TRANSFORMER_SIZES["s3" if "vit" in preset.components else "cutie"]
        assert {key: args[key] for key in default} == default
        assert (args["read_from_pixel"] == "discriminative") == ("discriminative_query" in preset.components)
    defaults = inspect.signature(S3Module).parameters
    assert (defaults["preset"].default, defaults["size"].default) == (
        preset_args.DEFAULT_PRESET,
        preset_args.DEFAULT_SIZE,
    )
    with pytest.raises(ConfigurationError, match="unknown network size 'huge'"):
        get_size("huge")
    with pytest.raises(ConfigurationError, match="unknown network argument 'depthh'"):
        build_network("s3", "tiny", depthh=3)


def test_preset_expansion_places_the_network_where_the_name_is_given(tmp_path: Path) -> None:
    inner = tmp_path / "row.yaml"
    inner.write_text("model: {preset: cutie_dq, size: tiny}\n")
    outer = tmp_path / "run.yaml"
    outer.write_text("config: row.yaml\nmodel: {network: {init_args: {num_blocks: 2}}}\n")
    expanded = preset_args.expand_preset_arguments(["fit", "--config", str(outer), "--model.preset=s3", "--x=1"])
    networks = [arg for arg in expanded if arg.startswith("--model.network=")]
    assert networks[0] == preset_args.network_argument("cutie", "base")[0]  # the defaults' network comes first
    assert networks[1] == preset_args.network_argument("cutie_dq", "tiny")[0]  # before the file that names it
    assert expanded.index(networks[1]) < expanded.index(str(outer))
    assert networks[2] == preset_args.network_argument("s3", "tiny")[0]  # after the flag, at the size in force
    assert json.loads(networks[3].split("=", 1)[1]) == {"init_args": {"num_blocks": 2}}  # the file's override, kept
    assert expanded[-1] == "--x=1"
    # unknown names insert nothing (check_preset reports them); --help is left alone
    assert preset_args.expand_preset_arguments(["fit", "--model.preset", "s4"])[-2:] == ["--model.preset", "s4"]
    assert preset_args.expand_preset_arguments(["fit", "--help"]) == ["fit", "--help"]
