"""The in-memory index every reader produces: one `VideoRecord` per video.

Positions are indices into `frame_files` (temporal order = sorted file names). Masks are referenced per
annotated position; per-frame object ids are filled in where the source says them cheaply (JSON metadata,
empty-frame lists) and may stay unknown (`None`) for plain folders until a mask is read.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path


@dataclass
class VideoRecord:
    """One video of a dataset.

    dataset:        short dataset name (e.g. "davis", "youtube"); used for per-dataset settings and logs.
    name:           video name (folder name, or `<dataset>_-_<seq>` for BURST).
    image_dir:      folder that holds the frames (absolute path), or the video file's folder.
    frame_files:    frame file names in temporal order (relative to `image_dir`).
    mask_dir:       folder of the index-mask PNGs, or None when masks come from a JSON file / are absent.
    mask_files:     position -> mask file name (relative to `mask_dir`) for every annotated frame.
    frame_object_ids: position -> object ids present on that frame, where known.
    object_ids:     every object id of the video, ascending, where known.
    empty_positions: positions known to carry an all-zero mask (first clip frames avoid them).
    frame_interval: source frames between consecutive positions (scales the max skip, DATASETS.md §9.2).
    video_file:     an .mp4 (or other decord-readable file) holding the frames instead of `frame_files`.
    annotation_file / annotation_key: JSON file and video key whose RLE segmentations hold the masks.
    mask_rles:      position -> ((object id, compressed COCO RLE counts), ...) in painting order (later ids
                    overwrite earlier ones) for every annotated frame, when masks come from a JSON file
                    (OVIS, BURST); an empty tuple is an annotated all-zero frame. Decoded on demand.
    mask_size:      (H, W) the RLEs were encoded at (checked against the frames when decoded).
    frames_to_write: frame stems a submission must contain (YouTube-VOS valid, BURST, LVOS), else None.
    object_categories: object id -> category name, where the source gives it.
    object_seen:    object id -> whether its category is seen in training (YouTube-VOS G), where known.
    object_frame_ranges: object id -> (first, last) annotated position (LVOS meta), where known.
    first_appearance_only: evaluation masks keep each object only on the first annotated frame that
                    carries it (and, where `frame_object_ids` lists a frame, only the ids listed there), so
                    dense ground truth (LVOS valid) is fed under the first-appearance protocol.
    """

    dataset: str
    name: str
    image_dir: str
    frame_files: list[str]
    mask_dir: str | None = None
    mask_files: dict[int, str] = field(default_factory=dict)
    frame_object_ids: dict[int, tuple[int, ...]] = field(default_factory=dict)
    object_ids: tuple[int, ...] | None = None
    empty_positions: frozenset[int] = frozenset()
    frame_interval: int = 1
    video_file: str | None = None
    annotation_file: str | None = None
    annotation_key: str | None = None
    mask_rles: dict[int, tuple[tuple[int, bytes], ...]] = field(default_factory=dict)
    mask_size: tuple[int, int] | None = None
    frames_to_write: tuple[str, ...] | None = None
    object_categories: dict[int, str] = field(default_factory=dict)
    object_seen: dict[int, bool] = field(default_factory=dict)
    object_frame_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    first_appearance_only: bool = False

    def __setstate__(self, state: dict) -> None:
        # Index caches pickled before a field existed load with that field's default.
        for spec in fields(self):
            if spec.name not in state:
                if spec.default is not MISSING:
                    state[spec.name] = spec.default
                elif spec.default_factory is not MISSING:
                    state[spec.name] = spec.default_factory()
        self.__dict__.update(state)

    @property
    def num_frames(self) -> int:
        return len(self.frame_files)

    @property
    def frame_stems(self) -> list[str]:
        return [Path(name).stem for name in self.frame_files]

    def image_path(self, position: int) -> Path:
        return Path(self.image_dir) / self.frame_files[position]

    def mask_path(self, position: int) -> Path | None:
        if self.mask_dir is None or position not in self.mask_files:
            return None
        return Path(self.mask_dir) / self.mask_files[position]

    @property
    def annotated_positions(self) -> list[int]:
        if self.mask_rles:
            return sorted(self.mask_rles)
        return sorted(self.mask_files) if self.mask_files else sorted(self.frame_object_ids)
