"""Overlay video: frames blended with their coloured index masks, encoded with imageio-ffmpeg's libx264."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from s3.io.atomic import atomic_path
from s3.io.palette import palette_colours


def blend(frame: np.ndarray, mask: np.ndarray, palette: bytes | None = None, alpha: float = 0.5) -> np.ndarray:
    """H W 3 uint8 frame with each object's pixels tinted by its palette colour (background untouched)."""
    colours = palette_colours(palette)
    out = frame.astype(np.float32)
    foreground = mask > 0
    out[foreground] = (1 - alpha) * out[foreground] + alpha * colours[mask[foreground]].astype(np.float32)
    return out.round().clip(0, 255).astype(np.uint8)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> Path:
    """Encodes H W 3 uint8 frames as H.264 mp4, atomically (temporary file in the same folder, then rename)."""
    import imageio_ffmpeg

    path = Path(path)
    writer = None
    with atomic_path(path) as temporary:  # keeps the .mp4 suffix, from which ffmpeg picks the container
        try:
            for frame in frames:
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = imageio_ffmpeg.write_frames(
                        str(temporary),
                        (width, height),
                        fps=fps,
                        codec="libx264",
                        pix_fmt_out="yuv420p",
                        macro_block_size=2,  # libx264 + yuv420p need even sides; odd sizes are resized by 1 px
                        ffmpeg_log_level="error",
                    )
                    writer.send(None)
                writer.send(np.ascontiguousarray(frame))
            if writer is None:
                raise ValueError(f"{path}: no frames to write")
        finally:
            if writer is not None:
                writer.close()  # flushes ffmpeg; the temporary is complete (or removed on error) after this
    return path
