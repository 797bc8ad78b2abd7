"""Frames of a user's video for `s3 segment`: an mp4 (decord) or a folder of images, read one at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from s3.data.errors import DataError, DataFileNotFoundError
from s3.data.naming import frame_order
from s3.data.video_file import VIDEO_EXTENSIONS, open_video

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_FOLDER_FPS = 24.0
DECODE_BLOCK = 16  # frames decoded together from a video file


class FrameSource:
    """Random access to the RGB frames of a video file or an image folder.

    Frames are named `00000`, `00001`, ... for a video file and by their file stem for a folder, in numeric
    order (`1.jpg ... 12.jpg`; `s3.data.naming.frame_order` refuses mixed kinds of files and names that number
    the same frame twice). `exclude` (the given mask, when it sits in the frame folder) is not a frame.
    """

    def __init__(self, path: str | Path, max_frames: int | None = None, exclude: str | Path | None = None) -> None:
        self.path = Path(path)
        self._reader = None
        self._block: tuple[int, np.ndarray] | None = None
        self._files: list[Path] = []
        if self.path.is_dir():
            skip = Path(exclude).resolve() if exclude is not None else None
            names = [
                p.name
                for p in self.path.iterdir()
                if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.resolve() != skip
            ]
            self._files = [self.path / name for name in frame_order(self.path, names)]
            if not self._files:
                raise DataError(f"{self.path}: folder holds no frames ({', '.join(IMAGE_EXTENSIONS)})")
            count = len(self._files)
            self.names = [p.stem for p in self._files]
            self.fps = DEFAULT_FOLDER_FPS
        elif self.path.is_file():
            if self.path.suffix.lower() not in VIDEO_EXTENSIONS:
                raise DataError(f"{self.path}: not a video file ({', '.join(VIDEO_EXTENSIONS)}) nor a frame folder")
            try:
                self._reader = open_video(self.path)
            except RuntimeError as error:  # decord reports undecodable files as a bare RuntimeError
                raise DataError(f"{self.path}: cannot open video ({str(error).splitlines()[0]})") from error
            count = len(self._reader)
            if count == 0:
                raise DataError(f"{self.path}: video has no frames")
            self.names = [f"{i:05d}" for i in range(count)]
            self.fps = float(self._reader.get_avg_fps()) or DEFAULT_FOLDER_FPS
        else:
            raise DataFileNotFoundError(f"{self.path}: video file or frame folder not found")
        if max_frames is not None:
            if max_frames < 1:
                raise DataError(f"--max-frames must be >= 1, got {max_frames}")
            self.names = self.names[:max_frames]
        self.size = self.read(0).shape[:2]

    def __len__(self) -> int:
        return len(self.names)

    def read(self, index: int) -> np.ndarray:
        """H W 3 uint8 RGB frame `index`."""
        if self._reader is not None:
            block = index // DECODE_BLOCK
            if self._block is None or self._block[0] != block:
                # decode a block at a time: a backward pass would otherwise seek to a key frame per frame
                positions = list(range(block * DECODE_BLOCK, min((block + 1) * DECODE_BLOCK, len(self._reader))))
                try:
                    self._block = (block, self._reader.get_batch(positions).asnumpy())
                except Exception as error:  # noqa: BLE001 - decord raises its own error types
                    raise DataError(f"{self.path}: cannot decode frames {positions[0]}..{positions[-1]}") from error
            return self._block[1][index - block * DECODE_BLOCK]
        file = self._files[index]
        try:
            with Image.open(file) as image:
                frame = np.array(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"{file}: not a readable image ({error})") from error
        if hasattr(self, "size") and frame.shape[:2] != tuple(self.size):
            raise DataError(
                f"{file}: size {frame.shape[1]}x{frame.shape[0]} differs from the first frame's "
                f"{self.size[1]}x{self.size[0]}"
            )
        return frame
