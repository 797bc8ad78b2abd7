"""Submission writers: each benchmark's result layout, written atomically and resumably.

Protocol for every writer (one video at a time, frames in any order)::

    frames = writer.begin_video(video, frame_names)   # the frames this benchmark wants written
    for name in frames:
        writer.write_frame(video, name, mask)          # H W index mask, original ids, original resolution
    writer.finish_video(video)                         # checks completeness, then publishes atomically
    ...
    writer.finalize()                                  # once, on one process: zip / JSON for the server

`writer.is_done(video)` tells whether a video was already published, so `predict` can resume and skip it.
PNG writers stage a video's frames in `<root>/.partial/<video>/` and publish the folder with one rename,
so a killed run never leaves a half-written video where a scorer (or a resumed run) would see it; the
zip and JSON files are written under a temporary name and renamed. Under DDP each rank writes its own
videos (names must be unique) and only one rank calls `finalize()`.

Layouts (DATASETS.md §11):
    davis         <root>/<seq>/<frame>.png, every frame (local toolkit)
    davis-testdev same folders, and submission.zip with the sequence folders at the zip root
    youtube-vos   <root>/Annotations/<vid>/<frame>.png for exactly the frames listed in valid/meta.json
                  (union over objects), zipped with Annotations/ at the zip root (2018 and 2019 alike)
    mose          <root>/<vid>/<frame>.png, every frame, zipped with the video folders at the zip root
    lvos          <root>/<video>/<frame>.png, every frame (local toolkit, val)
    lvos-test     <root>/Annotations/<video>/<frame>.png, zipped with Annotations/ at the zip root
    burst         predictions.json: the input first-frame JSON with `segmentations` replaced by the
                  predicted compressed RLEs on annotated frames (empty masks omitted, given masks verbatim)
"""

from __future__ import annotations

import copy
import json
import shutil
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from s3.evaluation.errors import EvaluationError, MissingFileError
from s3.io.atomic import atomic_path, replace_directory, write_text_atomic
from s3.io.palette import write_index_mask

Benchmark = Literal["davis", "davis-testdev", "youtube-vos", "mose", "lvos", "lvos-test", "burst"]
PARTIAL_DIR = ".partial"


class SubmissionWriter(ABC):
    """Common begin / write / finish / finalize protocol (see the module docstring)."""

    def __init__(self) -> None:
        self._pending: dict[str, set[str]] = {}  # video -> frames still to write

    @abstractmethod
    def is_done(self, video: str) -> bool:
        """Whether `video` has been published (a resumed run should skip it)."""

    def wanted_frames(self, video: str, frame_names: Sequence[str]) -> list[str]:
        """Frames of `video` the benchmark expects (default: all of them)."""
        return list(frame_names)

    def begin_video(self, video: str, frame_names: Sequence[str]) -> list[str]:
        """Start a video; returns the frame names that must be written (a subset of `frame_names`)."""
        if not video or "/" in video or video.startswith("."):
            raise EvaluationError(f"video name {video!r} must be non-empty, without '/' and not start with '.'")
        wanted = self.wanted_frames(video, frame_names)
        self._pending[video] = set(wanted)
        self._begin(video)
        return wanted

    def write_frame(self, video: str, frame: str, mask: np.ndarray, palette: bytes | None = None) -> bool:
        """Write one frame's H W index mask; returns False (and writes nothing) for a frame not wanted."""
        pending = self._pending.get(video)
        if pending is None:
            raise EvaluationError(f"video {video!r}: write_frame before begin_video")
        if frame not in pending:
            return False
        self._write(video, frame, mask, palette)
        pending.discard(frame)
        return True

    def finish_video(self, video: str) -> None:
        """Publish a video once every wanted frame is written."""
        pending = self._pending.pop(video, None)
        if pending is None:
            raise EvaluationError(f"video {video!r}: finish_video before begin_video")
        if pending:
            raise EvaluationError(f"video {video!r}: frames never written: {', '.join(sorted(pending)[:5])}")
        self._publish(video)

    def finalize(self) -> Path | None:
        """Build the file to upload, if the benchmark has one (returns its path)."""
        return None

    @abstractmethod
    def _begin(self, video: str) -> None: ...

    @abstractmethod
    def _write(self, video: str, frame: str, mask: np.ndarray, palette: bytes | None) -> None: ...

    @abstractmethod
    def _publish(self, video: str) -> None: ...


class PngFolderWriter(SubmissionWriter):
    """Paletted PNGs in `<root>/<prefix><video>/<frame>.png`, optionally zipped by `finalize()`.

    Args:
        root: output folder.
        prefix: path inside root (and inside the zip) above the video folders, e.g. "Annotations/".
        required_frames: video -> the only frame names to write (YouTube-VOS); others write every frame.
        expected_videos: videos the archive must contain; `finalize()` fails naming any missing one.
        archive: zip file name to build in `finalize()` (None: no archive).
    """

    def __init__(
        self,
        root: str | Path,
        prefix: str = "",
        required_frames: Mapping[str, Sequence[str]] | None = None,
        expected_videos: Iterable[str] | None = None,
        archive: str | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.required_frames = None if required_frames is None else {v: list(f) for v, f in required_frames.items()}
        if expected_videos is None and self.required_frames is not None:
            expected_videos = self.required_frames
        self.expected_videos = None if expected_videos is None else list(expected_videos)
        self.archive = archive
        self.root.mkdir(parents=True, exist_ok=True)

    def video_dir(self, video: str) -> Path:
        return self.root / self.prefix / video

    def _partial_dir(self, video: str) -> Path:
        return self.root / PARTIAL_DIR / video

    def is_done(self, video: str) -> bool:
        return self.video_dir(video).is_dir()

    def wanted_frames(self, video: str, frame_names: Sequence[str]) -> list[str]:
        if self.required_frames is None:
            return list(frame_names)
        if video not in self.required_frames:
            raise EvaluationError(f"video {video!r} is not in the benchmark's list of videos to submit")
        required = self.required_frames[video]
        available = set(frame_names)
        missing = [frame for frame in required if frame not in available]
        if missing:
            raise EvaluationError(f"video {video!r}: required frames absent from the input: {', '.join(missing[:5])}")
        return list(required)

    def _begin(self, video: str) -> None:
        partial = self._partial_dir(video)
        if partial.exists():
            shutil.rmtree(partial)  # left over from a killed run
        partial.mkdir(parents=True)

    def _write(self, video: str, frame: str, mask: np.ndarray, palette: bytes | None) -> None:
        write_index_mask(self._partial_dir(video) / f"{frame}.png", mask, palette)

    def _publish(self, video: str) -> None:
        replace_directory(self._partial_dir(video), self.video_dir(video))  # a re-run replaces a finished video

    def published_videos(self) -> list[str]:
        folder = self.root / self.prefix
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def finalize(self) -> Path | None:
        """Zip the published videos (sorted members, `<prefix><video>/<frame>.png`); None without `archive`."""
        if self.archive is None:
            return None
        videos = self.published_videos()
        if self.expected_videos is not None:
            missing = sorted(set(self.expected_videos) - set(videos))
            if missing:
                raise MissingFileError(
                    f"{self.root / self.prefix}: {len(missing)} video(s) not written yet, e.g. {', '.join(missing[:5])}"
                )
            videos = sorted(self.expected_videos)
        if not videos:
            raise EvaluationError(f"{self.root / self.prefix}: no finished video to archive")
        archive_path = self.root / self.archive
        with atomic_path(archive_path) as temporary:
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed
                for video in videos:
                    frames = sorted(self.video_dir(video).glob("*.png"))
                    if self.required_frames is not None:
                        expected = {f"{name}.png" for name in self.required_frames[video]}
                        if {f.name for f in frames} != expected:
                            raise EvaluationError(f"{self.video_dir(video)}: frames differ from the required list")
                    for frame in frames:
                        archive.write(frame, f"{self.prefix}{video}/{frame.name}")
        return archive_path


def youtube_vos_required_frames(meta_json: str | Path) -> dict[str, list[str]]:
    """Video -> sorted union of its objects' `frames` in a YouTube-VOS valid `meta.json`."""
    path = Path(meta_json)
    if not path.is_file():
        raise MissingFileError(f"{path}: meta.json not found")
    try:
        videos = json.loads(path.read_text())["videos"]
        return {
            video: sorted({frame for obj in info["objects"].values() for frame in obj["frames"]})
            for video, info in videos.items()
        }
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise EvaluationError(f"{path}: expected videos -> objects -> frames lists (YouTube-VOS meta.json)") from error


# ------------------------------------------------------------------------------------------- BURST


def burst_video_name(sequence: Mapping[str, Any]) -> str:
    """`<dataset>_-_<seq_name>`, the name BURST videos get in VOS layouts."""
    return f"{sequence['dataset']}_-_{sequence['seq_name']}"


def encode_rle(mask: np.ndarray) -> str:
    """COCO compressed RLE string of a binary H W mask."""
    from pycocotools import mask as mask_utils

    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return encoded["counts"].decode("ascii")


class BurstWriter(SubmissionWriter):
    """BURST `predictions.json` built from the evaluation input (`first_frame_annotations.json`).

    Frames are the stems of each sequence's `annotated_image_paths`; a track given in the input on a frame
    keeps its input RLE there, every other non-empty predicted track gets its RLE; empty masks are omitted.
    Finished videos are kept as `<root>/.burst/<video>.json` fragments until `finalize()` merges them.
    """

    def __init__(self, root: str | Path, first_frame_json: str | Path, output_name: str = "predictions.json") -> None:
        super().__init__()
        self.root = Path(root)
        path = Path(first_frame_json)
        if not path.is_file():
            raise MissingFileError(f"{path}: BURST annotation file not found")
        try:
            self.source = json.loads(path.read_text())
            self.sequences = {burst_video_name(seq): seq for seq in self.source["sequences"]}
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise EvaluationError(f"{path}: expected a BURST JSON with 'sequences' (dataset, seq_name)") from error
        self.output_name = output_name
        self._frames: dict[str, list[dict[str, Any]]] = {}
        (self.root / ".burst").mkdir(parents=True, exist_ok=True)

    def _fragment(self, video: str) -> Path:
        return self.root / ".burst" / f"{video}.json"

    def _sequence(self, video: str) -> Mapping[str, Any]:
        if video not in self.sequences:
            raise EvaluationError(f"video {video!r} is not a sequence of the BURST annotation file")
        return self.sequences[video]

    @staticmethod
    def _stems(sequence: Mapping[str, Any]) -> list[str]:
        return [Path(name).stem for name in sequence["annotated_image_paths"]]

    def is_done(self, video: str) -> bool:
        return self._fragment(video).is_file()

    def wanted_frames(self, video: str, frame_names: Sequence[str]) -> list[str]:
        stems = self._stems(self._sequence(video))
        available = set(frame_names)
        missing = [stem for stem in stems if stem not in available]
        if missing:
            raise EvaluationError(f"video {video!r}: annotated frames absent from the input: {', '.join(missing[:5])}")
        return stems

    def _begin(self, video: str) -> None:
        self._frames[video] = [{} for _ in self._stems(self._sequence(video))]

    def _write(self, video: str, frame: str, mask: np.ndarray, palette: bytes | None) -> None:
        sequence = self._sequence(video)
        index = self._stems(sequence).index(frame)
        given = sequence["segmentations"][index] if index < len(sequence["segmentations"]) else {}
        tracks: dict[str, dict[str, str]] = {}
        for track_id in np.unique(mask).tolist():
            if track_id == 0:
                continue
            tracks[str(track_id)] = {"rle": encode_rle(mask == track_id)}
        for track_id, annotation in given.items():
            tracks[str(track_id)] = {"rle": annotation["rle"]}
        self._frames[video][index] = {key: tracks[key] for key in sorted(tracks, key=int)}

    def _publish(self, video: str) -> None:
        write_text_atomic(self._fragment(video), json.dumps(self._frames.pop(video)))

    def finalize(self) -> Path:
        """Merge all fragments into `predictions.json` (every sequence of the input must be finished)."""
        missing = [video for video in self.sequences if not self.is_done(video)]
        if missing:
            raise MissingFileError(
                f"{self.root / '.burst'}: {len(missing)} BURST sequence(s) not written yet, "
                f"e.g. {', '.join(missing[:5])}"
            )
        output = copy.deepcopy(self.source)
        for sequence in output["sequences"]:
            sequence["segmentations"] = json.loads(self._fragment(burst_video_name(sequence)).read_text())
        return write_text_atomic(self.root / self.output_name, json.dumps(output))


# ----------------------------------------------------------------------------------------- factory


def make_writer(
    benchmark: Benchmark,
    root: str | Path,
    meta_json: str | Path | None = None,
    burst_json: str | Path | None = None,
    expected_videos: Iterable[str] | None = None,
) -> SubmissionWriter:
    """The writer for a benchmark's submission layout (see the module docstring).

    Args:
        meta_json: YouTube-VOS `valid/meta.json`: restricts every video to (and checks) exactly the listed
            frames and the archive to exactly its videos. Without it, pass each video's frames to submit
            (a `VideoSample`'s `frames_to_write`) to `begin_video`.
        burst_json: BURST `first_frame_annotations.json` (required for burst).
        expected_videos: videos the archive must hold (zip layouts); defaults to meta.json's for YouTube-VOS.
    """
    if benchmark == "davis":
        return PngFolderWriter(root)
    if benchmark == "davis-testdev":
        return PngFolderWriter(root, expected_videos=expected_videos, archive="submission.zip")
    if benchmark == "youtube-vos":
        required = None if meta_json is None else youtube_vos_required_frames(meta_json)
        return PngFolderWriter(root, "Annotations/", required, expected_videos, archive="submission.zip")
    if benchmark == "mose":
        return PngFolderWriter(root, expected_videos=expected_videos, archive="submission.zip")
    if benchmark == "lvos":
        return PngFolderWriter(root)
    if benchmark == "lvos-test":
        return PngFolderWriter(root, "Annotations/", expected_videos=expected_videos, archive="submission.zip")
    if benchmark == "burst":
        if burst_json is None:
            raise EvaluationError("burst needs burst_json (first_frame_annotations.json)")
        return BurstWriter(root, burst_json)
    raise EvaluationError(f"unknown benchmark {benchmark!r}; expected one of {', '.join(Benchmark.__args__)}")
