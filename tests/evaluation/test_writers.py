"""Submission writers: exact layouts, zip members and frame lists, BURST JSON, resume and atomicity."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s3.evaluation import evaluate_davis
from s3.evaluation.errors import EvaluationError, MissingFileError
from s3.evaluation.writers import BurstWriter, PngFolderWriter, make_writer


def _mask(value: int, shape: tuple[int, int] = (6, 8)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[1:4, 2:6] = value
    return mask


def _write_video(writer: PngFolderWriter | BurstWriter, video: str, frames: list[str], value: int = 1) -> list[str]:
    wanted = writer.begin_video(video, frames)
    for frame in frames:
        writer.write_frame(video, frame, _mask(value))
    writer.finish_video(video)
    return wanted


def test_davis_layout_is_scored_by_the_evaluator(
    tmp_path: Path, davis_root_builder: Callable[[Path, dict[str, np.ndarray]], Path]
) -> None:
    gt = np.stack([_mask(1, (12, 16)) for _ in range(4)])
    root = davis_root_builder(tmp_path / "DAVIS", {"seq": gt})
    writer = make_writer("davis", tmp_path / "results")
    frames = [f"{t:05d}" for t in range(4)]
    writer.begin_video("seq", frames)
    assert not writer.is_done("seq")
    for t, frame in enumerate(frames):
        writer.write_frame("seq", frame, gt[t])
    assert not (tmp_path / "results" / "seq").exists()  # staged until finished
    writer.finish_video("seq")
    assert writer.is_done("seq")
    assert sorted(p.name for p in (tmp_path / "results" / "seq").iterdir()) == [f"{f}.png" for f in frames]
    with Image.open(tmp_path / "results" / "seq" / "00000.png") as image:
        assert image.mode == "P"
    assert writer.finalize() is None
    assert evaluate_davis(root, tmp_path / "results", workers=1).global_table.jf_mean == 1.0


def test_youtube_vos_zip_holds_exactly_the_meta_frames(tmp_path: Path) -> None:
    meta = {
        "videos": {
            "aaa": {"objects": {"1": {"frames": ["00000", "00005"]}, "3": {"frames": ["00005", "00010"]}}},
            "bbb": {"objects": {"2": {"frames": ["00010", "00015"]}}},
        }
    }
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    writer = make_writer("youtube-vos", tmp_path / "out", meta_json=tmp_path / "meta.json")
    all_frames = [f"{t:05d}" for t in range(20)]  # 30 fps input; only 6 fps frames are submitted
    assert _write_video(writer, "aaa", all_frames) == ["00000", "00005", "00010"]
    with pytest.raises(MissingFileError, match="bbb"):
        writer.finalize()
    _write_video(writer, "bbb", all_frames, value=2)
    archive = writer.finalize()
    assert archive == tmp_path / "out" / "submission.zip"
    with zipfile.ZipFile(archive) as handle:
        assert handle.namelist() == [
            "Annotations/aaa/00000.png",
            "Annotations/aaa/00005.png",
            "Annotations/aaa/00010.png",
            "Annotations/bbb/00010.png",
            "Annotations/bbb/00015.png",
        ]
    assert (tmp_path / "out" / "Annotations" / "bbb" / "00015.png").is_file()


def test_youtube_vos_rejects_unknown_videos_and_missing_input_frames(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"videos": {"aaa": {"objects": {"1": {"frames": ["00005"]}}}}}))
    writer = make_writer("youtube-vos", tmp_path / "out", meta_json=tmp_path / "meta.json")
    with pytest.raises(EvaluationError, match="'zzz' is not in"):
        writer.begin_video("zzz", ["00000"])
    with pytest.raises(EvaluationError, match="required frames absent from the input: 00005"):
        writer.begin_video("aaa", ["00000", "00001"])


def test_youtube_vos_without_meta_writes_the_frames_it_is_given(tmp_path: Path) -> None:
    writer = make_writer("youtube-vos", tmp_path / "out")
    assert _write_video(writer, "ccc", ["00000", "00005"]) == ["00000", "00005"]
    with zipfile.ZipFile(writer.finalize()) as handle:
        assert handle.namelist() == ["Annotations/ccc/00000.png", "Annotations/ccc/00005.png"]


@pytest.mark.parametrize(("benchmark", "prefix"), [("mose", ""), ("davis-testdev", ""), ("lvos-test", "Annotations/")])
def test_zip_layouts_with_every_frame(tmp_path: Path, benchmark: str, prefix: str) -> None:
    writer = make_writer(benchmark, tmp_path / "out", expected_videos=["v1", "v2"])  # type: ignore[arg-type]
    _write_video(writer, "v2", ["00000", "00001"])
    _write_video(writer, "v1", ["00000", "00001", "00002"])
    with zipfile.ZipFile(writer.finalize()) as handle:
        names = handle.namelist()
        assert names == [f"{prefix}v1/00000.png", f"{prefix}v1/00001.png", f"{prefix}v1/00002.png"] + [
            f"{prefix}v2/00000.png",
            f"{prefix}v2/00001.png",
        ]
        with handle.open(names[0]) as member:
            np.testing.assert_array_equal(np.array(Image.open(member)), _mask(1))


def test_lvos_val_is_a_plain_folder(tmp_path: Path) -> None:
    writer = make_writer("lvos", tmp_path / "out")
    _write_video(writer, "vid", ["00000001", "00000006"])
    assert sorted(p.name for p in (tmp_path / "out" / "vid").iterdir()) == ["00000001.png", "00000006.png"]


def test_unfinished_video_is_not_published(tmp_path: Path) -> None:
    writer = make_writer("davis", tmp_path / "out")
    writer.begin_video("seq", ["00000", "00001"])
    writer.write_frame("seq", "00000", _mask(1))
    with pytest.raises(EvaluationError, match="frames never written: 00001"):
        writer.finish_video("seq")
    assert not writer.is_done("seq")
    with pytest.raises(EvaluationError, match="before begin_video"):
        writer.write_frame("other", "00000", _mask(1))
    with pytest.raises(EvaluationError, match="must be non-empty"):
        writer.begin_video("../escape", ["00000"])


_KILLED_RUN = """
import os, signal, sys
import numpy as np
from s3.evaluation.writers import make_writer
writer = make_writer("mose", sys.argv[1], expected_videos=["done", "killed"])
for video in ("done", "killed"):
    if writer.is_done(video):
        continue
    writer.begin_video(video, ["00000", "00001", "00002"])
    for frame in ("00000", "00001", "00002"):
        writer.write_frame(video, frame, np.ones((4, 4), dtype=np.uint8))
        if video == "killed" and frame == "00001" and sys.argv[2] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    writer.finish_video(video)
print(writer.finalize())
"""


def test_killed_run_leaves_no_published_partial_video_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(out), "kill"], capture_output=True)
    assert killed.returncode != 0
    writer = make_writer("mose", out, expected_videos=["done", "killed"])
    assert writer.is_done("done") and not writer.is_done("killed")
    assert not (out / "killed").exists() and not (out / "submission.zip").exists()
    done_mtime = (out / "done" / "00000.png").stat().st_mtime_ns
    resumed = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(out), "finish"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "done" / "00000.png").stat().st_mtime_ns == done_mtime  # finished video skipped, not rewritten
    with zipfile.ZipFile(out / "submission.zip") as handle:
        assert len(handle.namelist()) == 6
    assert not list((out / ".partial").iterdir())


def _burst_input(tmp_path: Path) -> tuple[Path, str]:
    from pycocotools import mask as mask_utils

    given = np.zeros((6, 8), dtype=np.uint8)
    given[0:2, 0:2] = 1
    given_rle = mask_utils.encode(np.asfortranarray(given))["counts"].decode("ascii")
    data = {
        "split": "val",
        "categories": [{"id": 5, "name": "cup"}],
        "sequences": [
            {
                "id": 1,
                "dataset": "LaSOT",
                "seq_name": "cup-1",
                "width": 8,
                "height": 6,
                "fps": 30,
                "all_image_paths": ["00000001.jpg", "00000002.jpg", "00000031.jpg"],
                "annotated_image_paths": ["00000001.jpg", "00000031.jpg"],
                "track_category_ids": {"7": 5},
                "segmentations": [{"7": {"rle": given_rle, "is_gt": True, "bbox": [0, 0, 2, 2], "point": [1, 1]}}, {}],
            }
        ],
    }
    path = tmp_path / "first_frame_annotations.json"
    path.write_text(json.dumps(data))
    return path, given_rle


def test_burst_predictions_json(tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    source, given_rle = _burst_input(tmp_path)
    writer = make_writer("burst", tmp_path / "out", burst_json=source)
    video = "LaSOT_-_cup-1"
    assert writer.begin_video(video, ["00000001", "00000002", "00000031"]) == ["00000001", "00000031"]
    predicted = np.zeros((6, 8), dtype=np.uint8)
    predicted[3:6, 4:8] = 7
    assert writer.write_frame(video, "00000001", predicted)  # the given mask wins on its own frame
    assert not writer.write_frame(video, "00000002", predicted)  # not annotated: not written
    writer.write_frame(video, "00000031", predicted)
    assert not writer.is_done(video)
    writer.finish_video(video)
    assert writer.is_done(video)
    output = json.loads(writer.finalize().read_text())
    sequence = output["sequences"][0]
    assert set(sequence) == set(json.loads(source.read_text())["sequences"][0])
    assert sequence["segmentations"][0] == {"7": {"rle": given_rle}}
    rle = {"size": [6, 8], "counts": sequence["segmentations"][1]["7"]["rle"].encode()}
    np.testing.assert_array_equal(mask_utils.decode(rle), (predicted == 7).astype(np.uint8))


def test_burst_omits_empty_masks_and_requires_every_sequence(tmp_path: Path) -> None:
    source, _ = _burst_input(tmp_path)
    writer = BurstWriter(tmp_path / "out", source)
    with pytest.raises(MissingFileError, match="LaSOT_-_cup-1"):
        writer.finalize()
    writer.begin_video("LaSOT_-_cup-1", ["00000001", "00000031"])
    writer.write_frame("LaSOT_-_cup-1", "00000001", np.zeros((6, 8), dtype=np.uint8))
    writer.write_frame("LaSOT_-_cup-1", "00000031", np.zeros((6, 8), dtype=np.uint8))
    writer.finish_video("LaSOT_-_cup-1")
    segmentations = json.loads(writer.finalize().read_text())["sequences"][0]["segmentations"]
    assert list(segmentations[0]) == ["7"] and segmentations[1] == {}
    with pytest.raises(EvaluationError, match="not a sequence"):
        writer.begin_video("AVA_-_nothing", ["a"])
