"""The notebooks run top to bottom in a real Jupyter kernel (the project's python), small parameters injected.

As papermill does, the injected values go into a new cell right after the cell tagged `parameters`, so they replace
its values; a last cell pickles the variables a test reads. A notebook that relies on anything but its own cells
(the test's namespace, an earlier run) fails here.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from s3.model import build_network
from s3.model.registry import PRESETS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(path.name for path in (REPO / "notebooks").glob("*.ipynb"))
KERNEL_NAME = "s3-project-python"


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernel spec that starts `sys.executable` (the project's environment), whatever kernels are installed."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL_NAME
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "s3", "language": "python"}))
    return root


def execute(notebook: nbformat.NotebookNode, kernel_dirs: Path, cwd: Path) -> None:
    """Runs every cell of `notebook` in a fresh kernel of the project's python, from `cwd`; a failing cell raises."""
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dirs)])
    manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    NotebookClient(notebook, km=manager, timeout=600, resources={"metadata": {"path": str(cwd)}}).execute()


def collect_cell(names: list[str], results: Path) -> nbformat.NotebookNode:
    """A last cell that pickles the kernel's variables `names` into `results`."""
    source = f"import pickle\nwith open({str(results)!r}, 'wb') as _file:\n"
    source += f"    pickle.dump({{name: globals()[name] for name in {names!r}}}, _file)"
    return nbformat.v4.new_code_cell(source)


def run_notebook(name: str, parameters: dict, collect: list[str], kernel_dirs: Path, tmp_path: Path) -> dict:
    """Executes `notebooks/<name>` from the notebooks folder with `parameters` injected; returns the `collect`
    variables."""
    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: expected one cell tagged `parameters`"
    injected = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected"]}))
    notebook.cells.append(collect_cell(collect, tmp_path / "results.pkl"))
    execute(notebook, kernel_dirs, REPO / "notebooks")
    with (tmp_path / "results.pkl").open("rb") as handle:
        return pickle.load(handle)


def test_every_notebook_is_committed_without_outputs() -> None:
    assert NOTEBOOKS == ["ablation_presets.ipynb", "feature_maps.ipynb", "segment_a_video.ipynb"]
    for name in NOTEBOOKS:
        notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), name


def cell_id_problems(path: Path) -> list[str]:
    """What is wrong with the cell ids of the notebook file at `path`, read as stored (`nbformat.read` fills in
    missing ids in memory, so it would hide them): a cell without an id, or an id used twice."""
    cells = json.loads(path.read_text())["cells"]
    ids = [cell.get("id") for cell in cells]
    problems = [f"cell {index} has no id" for index, cell_id in enumerate(ids) if not cell_id]
    problems += [f"id {cell_id!r} is used twice" for cell_id in sorted({i for i in ids if i and ids.count(i) > 1})]
    return problems


def test_every_notebook_cell_has_a_unique_id() -> None:
    # nbformat 4.5 requires cell ids; a cell without one is a MissingIDFieldWarning today, a hard error later.
    for name in NOTEBOOKS:
        path = REPO / "notebooks" / name
        assert json.loads(path.read_text())["nbformat_minor"] >= 5, name
        assert cell_id_problems(path) == [], name


def test_a_cell_without_an_id_is_reported(tmp_path: Path) -> None:
    notebook = json.loads((REPO / "notebooks" / NOTEBOOKS[0]).read_text())
    del notebook["cells"][1]["id"]
    notebook["cells"][2]["id"] = notebook["cells"][0]["id"]
    path = tmp_path / "no_id.ipynb"
    path.write_text(json.dumps(notebook))
    first = notebook["cells"][0]["id"]
    assert cell_id_problems(path) == ["cell 1 has no id", f"id {first!r} is used twice"]


def test_kernel_runs_the_project_python(kernel_dirs: Path, tmp_path: Path) -> None:
    probe = nbformat.v4.new_code_cell("import sys\nexecutable, names = sys.executable, sorted(globals())")
    notebook = nbformat.v4.new_notebook(cells=[probe, collect_cell(["executable", "names"], tmp_path / "r.pkl")])
    execute(notebook, kernel_dirs, tmp_path)
    with (tmp_path / "r.pkl").open("rb") as handle:
        results = pickle.load(handle)
    assert results["executable"] == sys.executable
    assert "torch" not in results["names"]  # a fresh namespace: nothing from the test process


def test_a_failing_cell_fails_the_run(kernel_dirs: Path, tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("undefined_name_from_the_tests")])
    with pytest.raises(Exception, match="NameError"):
        execute(notebook, kernel_dirs, tmp_path)


def test_segment_notebook_loads_weights_and_scores(kernel_dirs: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pth"
    torch.save(build_network("cutie", "tiny").state_dict(), weights)
    results = run_notebook(
        "segment_a_video.ipynb",
        {"CHECKPOINT": str(weights), "MAX_FRAMES": 6, "SHOW_FRAMES": 2},
        ["predictions", "object_ids", "ground_truth", "jf", "weights"],
        kernel_dirs,
        tmp_path,
    )
    predictions, ids = results["predictions"], results["object_ids"]
    assert predictions.shape == results["ground_truth"].shape == (6, 128, 160)
    assert set(np.unique(predictions)) <= {0, *ids}
    np.testing.assert_array_equal(predictions[0], results["ground_truth"][0])  # the given mask is kept
    assert 0.0 <= results["jf"] <= 1.0
    assert results["weights"] == str(weights)


def test_ablation_notebook_lists_every_preset(kernel_dirs: Path, tmp_path: Path) -> None:
    results = run_notebook(
        "ablation_presets.ipynb", {"NETWORK_SIZE": "tiny", "HEIGHT": 32}, ["rows"], kernel_dirs, tmp_path
    )
    rows = results["rows"]
    assert [row[0] for row in rows] == list(PRESETS)
    assert all(total >= trainable > 0 and gflops > 0 for _, _, total, trainable, gflops, _ in rows)


def test_feature_maps_notebook_draws_every_preset(kernel_dirs: Path, tmp_path: Path) -> None:
    output = tmp_path / "compare.png"
    parameters = {"PRESETS": ["cutie", "s3"], "HEIGHT": 64, "OUTPUT": str(output)}
    results = run_notebook("feature_maps.ipynb", parameters, ["layout", "separation"], kernel_dirs, tmp_path)
    layout = results["layout"]
    assert [row.label for row in layout.rows] == ["cutie (random weights)", "s3 (random weights)"]
    counts = layout.panel_counts()
    assert counts["cutie (random weights)"] == 7  # 4 ResNet stages, key, readout, attention
    assert counts["s3 (random weights)"] == 19  # tiny s3: 4 ViT blocks, prior, 4 stages x 2, f16/f8/f4, 3 memory
    assert output.is_file() and output.with_suffix(".pt").is_file()
    assert set(results["separation"]) == {"cutie (random weights)", "s3 (random weights)"}
