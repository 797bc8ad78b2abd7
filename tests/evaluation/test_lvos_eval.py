"""The LVOS scorer and `s3 eval lvos`: per-object frame ranges, V, seen/unseen means, toolkit CSVs, errors.

The tiny split below is built so that every number is known by hand. Images are 24x32, so the F
tolerance radius is ceil(0.008 * 40) = 1 pixel. Every prediction is either the GT, empty (J = F = 0), or
the GT minus 6 pixels of its bottom row (J = 94/100, F = 1 since no boundary moves by more than 1 pixel).

    video    set     frames      meta position: id, range   evaluated   prediction on evaluated frames
    charlie  seen    1..26       1: id 1, 6..26             11 16 21    perfect                 -> J F V = 1 1 0
    alpha    seen    1..46       1: id 2, 1..46             6 .. 41     empty on 21             -> 7/8 7/8 sqrt(.1094)
                                 2: id 1, 11..31            16 21 26    perfect                 -> 1 1 0
    bravo    unseen  1..21       1: id 1, 1..21             6 11 16     empty on 11             -> 2/3 2/3 sqrt(.2222)
                                 2: id 3, 6..21             11 16       J .94 on 11             -> .97 1 sqrt(.0002)

Garbage is written where nothing is evaluated: every object's first and last frame of its range (empty
prediction there), object 1 of alpha outside its range (a blob where its GT is empty), and charlie has
no result files at all for frames 1, 6 and 26.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from s3.evaluation.cli import main
from s3.evaluation.errors import EvaluationError, MissingFileError
from s3.evaluation.lvos import (
    LvosObject,
    evaluate_lvos,
    lvos_global_csv_text,
    lvos_per_sequence_csv_text,
    temporal_variation,
    write_lvos_csvs,
)
from s3.io.palette import write_index_mask

HEIGHT, WIDTH = 24, 32
BOXES = {  # (video, id) -> rows, cols of the object's GT
    ("alpha", 2): (slice(2, 10), slice(2, 10)),
    ("alpha", 1): (slice(12, 20), slice(12, 22)),
    ("bravo", 1): (slice(2, 10), slice(2, 10)),
    ("bravo", 3): (slice(4, 14), slice(14, 24)),  # 10x10 = 100 pixels
    ("charlie", 1): (slice(10, 18), slice(8, 16)),
}
FRAMES = {"alpha": range(1, 47, 5), "bravo": range(1, 22, 5), "charlie": range(1, 27, 5)}
META = {  # videos and objects deliberately not in name / id order
    "videos": {
        "charlie": {"objects": {"1": {"frame_range": {"start": "6", "end": "26", "frame_nums": 5}}}},
        "alpha": {
            "objects": {
                "2": {"frame_range": {"start": 1, "end": 46, "frame_nums": 10}},
                "1": {"frame_range": {"start": 11, "end": 31, "frame_nums": 5}},
            }
        },
        "bravo": {
            "objects": {
                "1": {"frame_range": {"start": 1, "end": 21, "frame_nums": 5}},
                "3": {"frame_range": {"start": 6, "end": 21, "frame_nums": 4}},
            }
        },
    }
}

V_ALPHA_1 = math.sqrt(0.1094)  # JF = seven 1s and one 0: variance 7/64 = 0.109375 -> 0.1094
V_BRAVO_1 = math.sqrt(0.2222)  # JF = 1, 0, 1: variance 2/9 -> 0.2222
V_BRAVO_2 = math.sqrt(0.0002)  # JF = 0.97, 1: variance 0.000225 -> 0.0002 (0.015 without the rounding)
J_SEEN = (7 / 8 + 1 + 1) / 3
F_SEEN = J_SEEN
V_SEEN = (V_ALPHA_1 + 0 + 0) / 3
J_UNSEEN = (2 / 3 + 0.97) / 2
F_UNSEEN = (2 / 3 + 1) / 2
V_UNSEEN = (V_BRAVO_1 + V_BRAVO_2) / 2

EXPECTED_GLOBAL_CSV = (
    "J&F-Mean,J-Mean,J-seen-Mean,J-unseen-Mean,F-Mean,F-seen-Mean,F-unseen-Mean,V-Mean,V-seen-Mean,V-unseen-Mean\n"
    "0.892,0.888,0.958,0.818,0.896,0.958,0.833,0.177,0.110,0.243\n"
)
EXPECTED_PER_SEQUENCE_CSV = (
    "Sequence,J-Mean,F-Mean,V-Mean\n"
    "alpha_1,0.875,0.875,0.331\n"
    "alpha_2,1.000,1.000,0.000\n"
    "bravo_1,0.667,0.667,0.471\n"
    "bravo_2,0.970,1.000,0.014\n"
    "charlie_1,1.000,1.000,0.000\n"
)


def _ground_truth(video: str, frame: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    for object_id, info in META["videos"][video]["objects"].items():
        frame_range = info["frame_range"]
        if int(frame_range["start"]) <= frame <= int(frame_range["end"]):
            mask[BOXES[video, int(object_id)]] = int(object_id)
    return mask


def _prediction(video: str, frame: int) -> np.ndarray:
    pred = _ground_truth(video, frame)
    if video == "alpha":
        if frame in (1, 46, 21):  # id 2: first and last frame of its range (not scored), and frame 21 (scored)
            pred[pred == 2] = 0
        if frame in (11, 31):  # id 1: first and last frame of its range, not scored
            pred[pred == 1] = 0
        if not 11 <= frame <= 31:  # id 1 outside its range, where its GT is empty: not scored either
            pred[2:6, 24:30] = 1
    elif video == "bravo":
        if frame == 11:
            pred[pred == 1] = 0
            pred[13, 14:20] = 0  # id 3 loses 6 of its 100 pixels: J = 0.94, F = 1
        if frame in (6, 21):  # id 3: first and last frame of its range
            pred[pred == 3] = 0
    return pred


@pytest.fixture()
def lvos_split(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(split folder with Annotations/ and valid_meta.json, results folder, unseen_videos.txt)."""
    split = tmp_path / "LVOS" / "valid"
    results = tmp_path / "results"
    for video, frames in FRAMES.items():
        for frame in frames:
            write_index_mask(split / "Annotations" / video / f"{frame:08d}.png", _ground_truth(video, frame))
            if video == "charlie" and frame in (1, 6, 26):
                continue  # never opened: outside the evaluated frames
            write_index_mask(results / video / f"{frame:08d}.png", _prediction(video, frame))
    (split / "valid_meta.json").write_text(json.dumps(META))
    unseen = tmp_path / "unseen_videos.txt"
    unseen.write_text("bravo\n")
    return split, results, unseen


def test_hand_computed_scores_ranges_and_seen_unseen_means(lvos_split: tuple[Path, Path, Path]) -> None:
    split, results, _ = lvos_split
    evaluation = evaluate_lvos(split, results, {"bravo"}, workers=1)
    assert evaluation.warnings == []
    by_row = {obj.row_name: obj for obj in evaluation.objects}
    assert list(by_row) == ["alpha_1", "alpha_2", "bravo_1", "bravo_2", "charlie_1"]  # sorted videos, meta order
    alpha_1, alpha_2 = by_row["alpha_1"], by_row["alpha_2"]
    assert alpha_1.frames == (6, 11, 16, 21, 26, 31, 36, 41)  # 1 and 46 (first and last) left out
    assert alpha_1.j.tolist() == [1, 1, 1, 0, 1, 1, 1, 1] and alpha_1.f.tolist() == alpha_1.j.tolist()
    assert alpha_1.v == pytest.approx(V_ALPHA_1, abs=1e-12)
    assert alpha_2.frames == (16, 21, 26)  # garbage at 11 and 31 and outside the range is never scored
    assert (alpha_2.j_mean, alpha_2.f_mean, alpha_2.v) == (1.0, 1.0, 0.0)
    bravo_1, bravo_2 = by_row["bravo_1"], by_row["bravo_2"]
    assert bravo_1.j_mean == pytest.approx(2 / 3) and bravo_1.f_mean == pytest.approx(2 / 3)
    assert bravo_1.j_recall == pytest.approx(2 / 3)
    assert bravo_1.v == pytest.approx(V_BRAVO_1, abs=1e-12)
    assert bravo_2.frames == (11, 16)
    assert bravo_2.j.tolist() == pytest.approx([0.94, 1.0]) and bravo_2.f.tolist() == [1.0, 1.0]
    assert bravo_2.v == pytest.approx(V_BRAVO_2, abs=1e-12)
    assert by_row["charlie_1"].frames == (11, 16, 21)
    assert [obj.seen for obj in evaluation.objects] == [True, True, False, False, True]

    table = evaluation.global_table
    assert (table.num_seen, table.num_unseen) == (3, 2)
    assert table.j_seen == pytest.approx(J_SEEN) and table.f_seen == pytest.approx(F_SEEN)
    assert table.j_unseen == pytest.approx(J_UNSEEN) and table.f_unseen == pytest.approx(F_UNSEEN)
    assert table.v_seen == pytest.approx(V_SEEN) and table.v_unseen == pytest.approx(V_UNSEEN)
    assert table.j == pytest.approx((J_SEEN + J_UNSEEN) / 2)  # not the pooled mean over the 5 objects
    assert table.f == pytest.approx((F_SEEN + F_UNSEEN) / 2)
    assert table.v == pytest.approx((V_SEEN + V_UNSEEN) / 2)
    assert table.jf == pytest.approx((J_SEEN + F_SEEN + J_UNSEEN + F_UNSEEN) / 4)


def test_rows_use_the_meta_position_not_the_object_id(lvos_split: tuple[Path, Path, Path]) -> None:
    split, results, _ = lvos_split
    evaluation = evaluate_lvos(split, results, {"bravo"}, workers=1)
    ids = {obj.row_name: obj.object_id for obj in evaluation.objects}
    assert ids == {"alpha_1": 2, "alpha_2": 1, "bravo_1": 1, "bravo_2": 3, "charlie_1": 1}


def test_csvs_have_the_toolkit_headers_and_format(lvos_split: tuple[Path, Path, Path], tmp_path: Path) -> None:
    split, results, _ = lvos_split
    evaluation = evaluate_lvos(split, results, {"bravo"}, workers=1)
    global_path, per_sequence_path = write_lvos_csvs(evaluation, tmp_path / "scores")
    assert global_path.name == "global_results-valid.csv"
    assert per_sequence_path.name == "per-sequence_results-valid.csv"
    assert global_path.read_text() == EXPECTED_GLOBAL_CSV
    assert per_sequence_path.read_text() == EXPECTED_PER_SEQUENCE_CSV
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == [global_path.name, per_sequence_path.name]


def test_v_rounds_the_variance_to_four_decimals_before_the_square_root() -> None:
    j, f = np.array([0.94, 1.0]), np.array([1.0, 1.0])
    assert temporal_variation(j, f) == pytest.approx(math.sqrt(0.0002), abs=1e-12)
    assert f"{temporal_variation(j, f):.3f}" == "0.014"  # 0.015 without the rounding
    assert f"{np.std((j + f) / 2):.3f}" == "0.015"
    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 40):
        j, f = rng.random(size), rng.random(size)
        assert temporal_variation(j, f) == pytest.approx(np.sqrt(np.round(np.var((j + f) / 2), 4)), abs=1e-12)
    assert math.isnan(temporal_variation(np.zeros(0), np.zeros(0)))


def test_evaluated_frames_of_an_object_range() -> None:
    assert LvosObject(object_id=4, position=1, start=1156, end=1176).evaluated_frames == (1161, 1166, 1171)
    assert LvosObject(object_id=4, position=1, start=6, end=11).evaluated_frames == ()


def test_without_unseen_objects_the_seen_means_are_used_with_a_warning(lvos_split: tuple[Path, Path, Path]) -> None:
    split, results, _ = lvos_split
    evaluation = evaluate_lvos(split, results, {"zulu"}, workers=1)
    table = evaluation.global_table
    assert (table.num_seen, table.num_unseen) == (5, 0)
    j_all = (7 / 8 + 1 + 2 / 3 + 0.97 + 1) / 5
    f_all = (7 / 8 + 1 + 2 / 3 + 1 + 1) / 5
    assert table.j == pytest.approx(j_all) and table.f == pytest.approx(f_all)
    assert table.jf == pytest.approx((j_all + f_all) / 2)
    assert math.isnan(table.j_unseen) and math.isnan(table.v_unseen)
    # Blank cells for the empty group, as pandas writes NaN; V-seen = (V_ALPHA_1 + V_BRAVO_1 + V_BRAVO_2) / 5.
    assert lvos_global_csv_text(table).splitlines()[1] == "0.905,0.902,0.902,,0.908,0.908,,0.163,0.163,"
    assert any("no unseen objects" in warning for warning in evaluation.warnings)
    assert any("zulu" in warning for warning in evaluation.warnings)  # listed as unseen but not in the meta


def test_object_without_evaluated_frames_is_blank_and_left_out(lvos_split: tuple[Path, Path, Path]) -> None:
    split, results, _ = lvos_split
    meta = json.loads(json.dumps(META))
    meta["videos"]["charlie"]["objects"]["5"] = {"frame_range": {"start": 6, "end": 11, "frame_nums": 2}}
    (split / "valid_meta.json").write_text(json.dumps(meta))
    evaluation = evaluate_lvos(split, results, {"bravo"}, workers=1)
    assert lvos_per_sequence_csv_text(evaluation.objects).splitlines()[-1] == "charlie_2,,,"
    assert lvos_global_csv_text(evaluation.global_table) == EXPECTED_GLOBAL_CSV  # the means are unchanged
    assert evaluation.warnings == [
        "charlie_2 (object 5): its range has no frame between the first and the last; left out of the means"
    ]


def test_frame_nums_disagreeing_with_the_range_is_an_error(lvos_split: tuple[Path, Path, Path]) -> None:
    split, results, _ = lvos_split
    meta = json.loads(json.dumps(META))
    meta["videos"]["bravo"]["objects"]["3"]["frame_range"]["frame_nums"] = 5
    (split / "valid_meta.json").write_text(json.dumps(meta))
    with pytest.raises(EvaluationError, match=r"video bravo, object 3: frame_range.frame_nums is 5 .* holds 4"):
        evaluate_lvos(split, results, {"bravo"}, workers=1)


def test_missing_ground_truth_frame_is_named(lvos_split: tuple[Path, Path, Path]) -> None:
    split, results, _ = lvos_split
    (split / "Annotations" / "bravo" / "00000016.png").unlink()
    with pytest.raises(MissingFileError, match=r"bravo/00000016.png: missing ground-truth frame 00000016"):
        evaluate_lvos(split, results, {"bravo"}, workers=1)


# ------------------------------------------------------------------------------------------------------- CLI


def _argv(split: Path, results: Path, unseen: Path, *extra: str) -> list[str]:
    return ["lvos", "--lvos-path", str(split), "--results", str(results), "--unseen-videos", str(unseen), *extra]


def _run_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_cli_writes_both_csvs_into_the_results_folder(
    lvos_split: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    split, results, unseen = lvos_split
    assert main(_argv(split, results, unseen, "--quiet", "--workers", "1")) == 0
    captured = capsys.readouterr()
    assert "unseen (2)" in captured.out and "0.892083" in captured.out
    assert captured.err == ""
    assert (results / "global_results-valid.csv").read_text() == EXPECTED_GLOBAL_CSV
    assert (results / "per-sequence_results-valid.csv").read_text() == EXPECTED_PER_SEQUENCE_CSV


def test_cli_output_folder_process_pool_and_val_meta_fallback(
    lvos_split: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    split, results, unseen = lvos_split
    (split / "valid_meta.json").rename(split / "val_meta.json")
    out = tmp_path / "scores"
    assert main(_argv(split, results, unseen, "--output", str(out), "--workers", "2")) == 0
    captured = capsys.readouterr()
    assert "val_meta.json: using it as the meta file (the toolkit expects valid_meta.json)" in captured.err
    assert "alpha_1" in captured.out  # the per-object table
    assert (out / "global_results-valid.csv").read_text() == EXPECTED_GLOBAL_CSV
    assert (out / "per-sequence_results-valid.csv").read_text() == EXPECTED_PER_SEQUENCE_CSV
    assert not (results / "global_results-valid.csv").exists()


def test_cli_missing_result_frame_names_video_and_frame(
    lvos_split: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    split, results, unseen = lvos_split
    (results / "alpha" / "00000021.png").unlink()
    err = _run_error(_argv(split, results, unseen, "--quiet"), capsys)
    assert "alpha/00000021.png" in err and "missing result frame 00000021 of video 'alpha'" in err
    assert not (results / "global_results-valid.csv").exists()


def test_cli_missing_meta_names_the_file(
    lvos_split: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    split, results, unseen = lvos_split
    (split / "valid_meta.json").unlink()
    err = _run_error(_argv(split, results, unseen, "--quiet"), capsys)
    assert f"{split / 'valid_meta.json'}: LVOS meta file not found (nor val_meta.json)" in err
    err = _run_error(_argv(split, results, unseen, "--quiet", "--set", "test"), capsys)
    assert "test_meta.json: LVOS meta file not found;" in err


def test_cli_missing_unseen_list_and_bad_meta(
    lvos_split: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    split, results, _ = lvos_split
    err = _run_error(_argv(split, results, tmp_path / "nope.txt", "--quiet"), capsys)
    assert "nope.txt: unseen video list not found" in err
    (split / "valid_meta.json").write_text(json.dumps({"videos": {"alpha": {"objects": {"1": {}}}}}))
    err = _run_error(_argv(split, results, tmp_path / "unseen_videos.txt", "--quiet"), capsys)
    assert "valid_meta.json: video alpha, object 1: expected a 'frame_range'" in err


def test_cli_unknown_set_is_a_usage_error(
    lvos_split: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    split, results, unseen = lvos_split
    assert main(_argv(split, results, unseen, "--set", "val")) == 2
    assert "invalid choice: 'val'" in capsys.readouterr().err
