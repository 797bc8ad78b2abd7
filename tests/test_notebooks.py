"""The notebooks run top to bottom (small parameters injected after their `parameters` cell)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from s3.model import build_network
from s3.model.registry import PRESETS

REPO = Path(__file__).resolve().parents[1]


def run_notebook(name: str, overrides: dict) -> dict:
    """Executes the code cells of `notebooks/<name>` in one namespace; `overrides` replace the parameters."""
    cells = json.loads((REPO / "notebooks" / name).read_text())["cells"]
    namespace: dict = {"__name__": "__notebook__"}
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        exec(compile("".join(cell["source"]), f"{name}:{cells.index(cell)}", "exec"), namespace)  # noqa: S102
        if "parameters" in cell["metadata"].get("tags", []):
            namespace.update(overrides)
    return namespace


@pytest.fixture(autouse=True)
def _headless(monkeypatch: pytest.MonkeyPatch) -> None:
    matplotlib.use("Agg")
    monkeypatch.chdir(REPO / "notebooks")  # the notebooks move to the repository root themselves


def test_segment_notebook_loads_weights_and_scores(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pth"
    torch.save(build_network("cutie", "tiny").state_dict(), weights)
    namespace = run_notebook("segment_a_video.ipynb", {"CHECKPOINT": str(weights), "MAX_FRAMES": 6, "SHOW_FRAMES": 2})
    predictions, ids = namespace["predictions"], namespace["object_ids"]
    assert predictions.shape == namespace["ground_truth"].shape == (6, 128, 160)
    assert set(np.unique(predictions)) <= {0, *ids}
    np.testing.assert_array_equal(predictions[0], namespace["ground_truth"][0])  # the given mask is kept
    assert 0.0 <= namespace["jf"] <= 1.0
    assert namespace["weights"] == str(weights)


def test_ablation_notebook_lists_every_preset() -> None:
    namespace = run_notebook("ablation_presets.ipynb", {"NETWORK_SIZE": "tiny", "HEIGHT": 32})
    rows = namespace["rows"]
    assert [row[0] for row in rows] == list(PRESETS)
    assert all(total >= trainable > 0 and gflops > 0 for _, _, total, trainable, gflops, _ in rows)
