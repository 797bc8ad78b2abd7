"""The ablation sweeps expand to one run per Table 3 preset, each parsed by the real CLI parser."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from run_helpers import REPO
from wired_cli import main as wired_main

from s3.report.paper import TABLE3_PRESETS
from s3.run.errors import RunConfigError
from s3.run.sweeps import agent_command, check_sweep, expand_grid, load_sweep, s3_arguments

SWEEPS = REPO / "configs" / "sweeps"


@pytest.mark.parametrize("name", ["ablation.yaml", "ablation_mega.yaml"])
def test_every_grid_point_parses_through_the_cli(name: str, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # the agent runs the command from the checkout
    sweep = load_sweep(SWEEPS / name)
    points = expand_grid(sweep)
    expected = [p for p in TABLE3_PRESETS if not (name == "ablation_mega.yaml" and p == "cutie_dq_vit")]
    assert [p["model.preset"] for p in points] == expected
    for point in points:
        argv = agent_command(sweep, point)
        assert argv[:3] == ["/usr/bin/env", "s3", "fit"] and argv[-1] == f"--model.preset={point['model.preset']}"
        with pytest.raises(SystemExit) as info:
            wired_main([*s3_arguments(argv), "--print_config"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        config = yaml.safe_load(out[out.index("# lightning") :])
        assert config["model"]["preset"] == point["model.preset"]
        assert config["trainer"]["logger"][0]["init_args"]["offline"] is False  # sweeps log to the server
    assert len(check_sweep(SWEEPS / name)) == len(points)  # every preset is in the registry


def test_sweep_with_unknown_preset_is_rejected(tmp_path: Path) -> None:
    sweep = yaml.safe_load((SWEEPS / "ablation.yaml").read_text())
    sweep["parameters"]["model.preset"]["values"] = ["cutie", "cutie_xl"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(sweep))
    with pytest.raises(RunConfigError, match="model.preset value 'cutie_xl' is not a known preset"):
        check_sweep(bad)


def test_grid_of_two_parameters() -> None:
    sweep = {"method": "grid", "parameters": {"a": {"values": [1, 2]}, "b": {"value": "x"}}, "command": ["${args}"]}
    points = expand_grid(sweep)
    assert points == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert agent_command(sweep, points[1]) == ["--a=2", "--b=x"]
