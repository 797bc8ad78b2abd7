"""The DAVIS folder evaluator and `s3 eval davis`: toolkit-identical CSVs and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.evaluation import DavisScoringOptions, evaluate_davis, write_csvs
from s3.evaluation.cli import main
from s3.io.palette import write_index_mask

SCENARIOS = ("identity", "lag1", "drop_last_object", "all_background")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_csvs_are_byte_identical_to_the_toolkit(
    scenario: str,
    osvos_davis_root: Path,
    osvos_results: Callable[[str], Path],
    fixtures_dir: Path,
    tmp_path: Path,
) -> None:
    evaluation = evaluate_davis(osvos_davis_root, osvos_results(scenario), workers=2 if scenario == "lag1" else 1)
    global_path, per_sequence_path = write_csvs(evaluation, tmp_path)
    expected = fixtures_dir / "davis_osvos" / "expected" / scenario
    assert global_path.read_bytes() == (expected / "global_results-val.csv").read_bytes()
    assert per_sequence_path.read_bytes() == (expected / "per-sequence_results-val.csv").read_bytes()
    assert [seq.name for seq in evaluation.sequences] == ["bike-packing", "dogs-jump", "judo", "shooting"]


def test_lag1_global_values_and_evaluated_frames(osvos_davis_root: Path, osvos_results: Callable[[str], Path]) -> None:
    evaluation = evaluate_davis(osvos_davis_root, osvos_results("lag1"), workers=1)
    table = evaluation.global_table
    assert table.jf_mean == pytest.approx(0.612339, abs=1e-6)
    assert table.j_decay == pytest.approx(0.066143, abs=1e-6)
    assert table.f_recall == pytest.approx(0.735407, abs=1e-6)
    judo = next(seq for seq in evaluation.sequences if seq.name == "judo")
    assert judo.evaluated_frames[0] == "00001" and judo.evaluated_frames[-1] == "00032"  # 34 frames, 1..32


def test_cli_writes_csvs_into_results_by_default_and_prints_the_table(
    tiny_davis: tuple[Path, Path, dict[str, np.ndarray]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, results, _ = tiny_davis
    assert main(["davis", "--davis-root", str(root), "--results", str(results), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "J&F-Mean" in out and "1.000000" in out
    assert (results / "global_results-val.csv").read_text() == (
        "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n1.000,1.000,1.000,0.000,1.000,1.000,0.000\n"
    )
    assert (results / "per-sequence_results-val.csv").read_text() == (
        "Sequence,J-Mean,F-Mean\nalpha_1,1.000,1.000\nalpha_2,1.000,1.000\nbeta_1,1.000,1.000\n"
    )


def test_cli_output_folder_and_set(tiny_davis: tuple[Path, Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    root, results, _ = tiny_davis
    (root / "ImageSets" / "2017" / "mini.txt").write_text("beta\n")
    out = tmp_path / "scores"
    argv = ["davis", "--davis-root", str(root), "--results", str(results), "--set", "mini", "--output", str(out)]
    assert main([*argv, "--quiet", "--workers", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["global_results-mini.csv", "per-sequence_results-mini.csv"]
    assert not (results / "global_results-mini.csv").exists()


def test_missing_first_object_in_results_is_zero_padded(tiny_davis: tuple[Path, Path, dict[str, np.ndarray]]) -> None:
    root, results, sequences = tiny_davis
    for t, mask in enumerate(sequences["alpha"]):
        write_index_mask(results / "alpha" / f"{t:05d}.png", np.where(mask == 2, 0, mask))
    evaluation = evaluate_davis(root, results, workers=1)
    means = {obj.row_name: obj.statistics.j_mean for obj in evaluation.objects}
    assert means == {"alpha_1": 1.0, "alpha_2": 0.0, "beta_1": 1.0}


def test_void_label_in_ground_truth_is_background(tiny_davis: tuple[Path, Path, dict[str, np.ndarray]]) -> None:
    root, results, sequences = tiny_davis
    gt = sequences["beta"].copy()
    gt[:, 0, :] = 255  # void pixels become background, so a background prediction there is right
    for t, mask in enumerate(gt):
        write_index_mask(root / "Annotations" / "480p" / "beta" / f"{t:05d}.png", mask)
    evaluation = evaluate_davis(root, results, workers=1)
    assert evaluation.global_table.jf_mean == 1.0


def test_include_first_last_scores_every_frame(tiny_davis: tuple[Path, Path, dict[str, np.ndarray]]) -> None:
    root, results, _ = tiny_davis
    evaluation = evaluate_davis(root, results, options=DavisScoringOptions(include_first_last=True), workers=1)
    assert evaluation.sequences[0].evaluated_frames == ("00000", "00001", "00002", "00003", "00004")


def _run_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2  # user errors exit 2, as every s3 command
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_missing_result_frame_names_it(
    tiny_davis: tuple[Path, Path, dict[str, np.ndarray]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, results, _ = tiny_davis
    (results / "beta" / "00002.png").unlink()
    (results / "beta" / "00000.png").unlink()  # never opened: the first frame is not scored
    err = _run_error(["davis", "--davis-root", str(root), "--results", str(results), "--quiet"], capsys)
    assert "beta/00002.png" in err and "missing result frame 00002" in err
    assert not (results / "global_results-val.csv").exists()


def test_missing_sequence_folder(
    tiny_davis: tuple[Path, Path, dict[str, np.ndarray]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, results, _ = tiny_davis
    for path in (results / "alpha").iterdir():
        path.unlink()
    (results / "alpha").rmdir()
    argv = ["davis", "--davis-root", str(root), "--results", str(results), "--quiet", "--workers", "2"]
    err = _run_error(argv, capsys)
    assert "results/alpha" in err and "'alpha'" in err


def test_rgb_png_is_rejected(
    tiny_davis: tuple[Path, Path, dict[str, np.ndarray]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, results, sequences = tiny_davis
    Image.fromarray(np.stack([sequences["alpha"][1]] * 3, axis=-1)).save(results / "alpha" / "00001.png")
    err = _run_error(["davis", "--davis-root", str(root), "--results", str(results), "--quiet"], capsys)
    assert "alpha/00001.png" in err and "mode RGB" in err


def test_size_mismatch_is_rejected(
    tiny_davis: tuple[Path, Path, dict[str, np.ndarray]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, results, _ = tiny_davis
    write_index_mask(results / "beta" / "00003.png", np.zeros((12, 15), dtype=np.uint8))
    err = _run_error(["davis", "--davis-root", str(root), "--results", str(results), "--quiet"], capsys)
    assert "beta/00003.png" in err and "15x12" in err and "16x12" in err


def test_object_id_above_n_aborts(
    tiny_davis: tuple[Path, Path, dict[str, np.ndarray]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, results, sequences = tiny_davis
    write_index_mask(results / "beta" / "00001.png", np.where(sequences["beta"][1] == 1, 255, 0))
    err = _run_error(["davis", "--davis-root", str(root), "--results", str(results), "--quiet"], capsys)
    assert "beta/00001.png" in err and "object id 255" in err


def test_missing_image_set_and_results_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_error(["davis", "--davis-root", str(tmp_path), "--results", str(tmp_path), "--quiet"], capsys)
    assert "ImageSets/2017/val.txt" in err


def test_usage_error_returns_two_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["davis"]) == 2
    assert "--davis_root" in capsys.readouterr().err
