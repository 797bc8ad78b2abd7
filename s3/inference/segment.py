"""`s3 segment`: segment a user's video from one mask given on any frame.

    s3 segment --video clip.mp4 --mask first.png --output out/ --checkpoint cutie-base-mega.pth
    s3 segment --video frames/ --mask 00040.png --frame 40 --output out/     # forward and backward
    s3 segment ... --reference          # run the reference modules (no inference fast paths), e.g. to compare
    s3 segment ... --precision bf16 --compile   # fastest on a CPU with AMX / AVX-512-BF16 (or a GPU)

Writes `<output>/masks/<frame>.png` (paletted, the input mask's palette, atomic) for every frame and
`<output>/overlay.mp4` (H.264). Frames after the mask are propagated forward; when the mask is not on the
first frame, a second pass from the same mask propagates backward to frame 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from s3.data.errors import DataError
from s3.data.frames import check_greyscale_ids, check_lossless_mask_file
from s3.errors import S3Error
from s3.inference.config import inference_config
from s3.inference.image_ops import (
    as_image_tensor,
    reader_resize_size,
    resize_frames_for_test,
    resize_mask_for_test,
    resize_probabilities,
)
from s3.inference.overlay import blend, write_video
from s3.inference.predictor import VideoPredictor
from s3.inference.staging import remove_stale_outputs
from s3.inference.video_source import FrameSource
from s3.io.atomic import replace_directory, temporary_sibling
from s3.io.output_paths import ensure_output_dir
from s3.io.palette import read_index_mask, read_palette, write_index_mask


class SegmentInputError(S3Error, ValueError):
    """Bad arguments to `s3 segment` (the message names the file or option)."""


def segment_command(
    video: str,
    mask: str,
    output: str,
    frame: int = 0,
    objects: list[int] | None = None,
    checkpoint: str | None = None,
    preset: str = "cutie",
    size: Literal["base", "small", "tiny"] = "base",
    inference_preset: str = "cutie",
    test_size: int = 480,
    long_term: bool = False,
    flip: bool = False,
    max_frames: int | None = None,
    overlay: bool = True,
    device: str | None = None,
    reference: bool = False,
    precision: Literal["fp32", "bf16"] = "fp32",
    compile: bool = False,
) -> int:
    """Segment a video from a mask given on one frame (forward, and backward when the frame is not the first).

    Args:
        video: an mp4 (or other decord-readable) file or a frame folder
        mask: paletted / grayscale PNG index mask (pixel = object id)
        output: output folder (masks/ and overlay.mp4)
        frame: index of the frame the mask belongs to
        objects: object ids to track (default: every id in the mask)
        checkpoint: network weights (without: RANDOM weights, for testing only)
        preset: network preset (an ablation row: cutie, cutie_dq, cutie_dq_vit, cutie_dq_vit_spatial, s3)
        size: network size
        inference_preset: memory policy preset
        test_size: frames whose shorter side is larger are resized to it as the official evaluation does
            (antialiased bilinear, mask PIL-nearest; outputs at the native size); -1: native. Also
            `--max_internal_size`
        long_term: long-term memory (long videos)
        flip: flip test-time augmentation
        max_frames: only process the first N frames
        overlay: write overlay.mp4 (`--no_overlay` skips it)
        device: torch device (default: cuda if available, else cpu)
        reference: run the reference modules, without the inference fast paths (slower; for comparisons)
        precision: fp32 (the official outputs), or bf16 autocast: on a CPU only worth it with amx_bf16 /
            avx512_bf16 (a warning says so otherwise), masks may differ from fp32's at object borders
        compile: compile the network's stages (torch.compile; the first frames pay the compilation, worth it for
            videos of more than a few hundred frames)
    """
    args = argparse.Namespace(
        video=video, mask=mask, output=output, frame=frame, objects=objects, checkpoint=checkpoint, preset=preset,
        size=size, inference_preset=inference_preset, test_size=test_size, long_term=long_term, flip=flip,
        max_frames=max_frames, no_overlay=not overlay, reference=reference, precision=precision, compile=compile,
        device=device or ("cuda" if torch.cuda.is_available() else "cpu"),
    )  # fmt: skip
    return segment(args)


def main(argv: list[str] | None = None) -> int:
    """`s3 segment ...` (argv without the `segment`); returns the exit code."""
    from s3.cli import main as s3_main

    return s3_main(["segment", *(sys.argv[1:] if argv is None else argv)])


def load_mask(path: Path, frame_size: tuple[int, int], objects: list[int] | None) -> tuple[np.ndarray, list[int]]:
    """The H W index mask and the ids to track; every id in the mask must be declared in `objects`."""
    if not path.is_file():
        raise SegmentInputError(f"{path}: mask file not found")
    check_lossless_mask(path)
    mask = read_index_mask(path, expected_hw=frame_size)
    check_lossless_mask(path, mask)
    present = [int(v) for v in np.unique(mask) if v != 0]
    if not present:
        raise SegmentInputError(f"{path}: the mask holds no object (all pixels are 0)")
    if objects is None:
        return mask, present
    undeclared = sorted(set(present) - set(objects))
    if undeclared:
        raise SegmentInputError(f"{path}: mask contains id(s) {undeclared} not declared in --objects {objects}")
    bad = [i for i in objects if not 1 <= i <= 255]
    if bad:
        raise SegmentInputError(f"--objects: ids must lie in 1..255, got {bad}")
    absent = sorted(set(objects) - set(present))
    if absent:
        raise SegmentInputError(f"--objects: id(s) {absent} are not in the mask {path} (it holds ids {present})")
    return mask, list(objects)


def check_lossless_mask(path: Path, values: np.ndarray | None = None) -> None:
    """Refuses JPEG/WebP masks and greyscale masks with compression noise (`s3.data.frames`' checks)."""
    try:
        greyscale = check_lossless_mask_file(path)
        if greyscale and values is not None:
            check_greyscale_ids(path, values)
    except OSError:
        return  # read_index_mask explains what is wrong with the file
    except DataError as error:
        raise SegmentInputError(str(error)) from error


def segment(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    mask_path = Path(args.mask)
    source = FrameSource(args.video, args.max_frames, exclude=mask_path)  # the mask may sit among the frames
    if not 0 <= args.frame < len(source):
        raise SegmentInputError(f"--frame {args.frame} is outside the video's frames 0..{len(source) - 1}")
    mask, object_ids = load_mask(mask_path, tuple(source.size), args.objects)
    palette = read_palette(mask_path)

    overrides: dict[str, object] = {"max_internal_size": -1}  # resized here, as the official reader does
    if args.flip:
        overrides["flip_aug"] = True
    if args.long_term:
        overrides["use_long_term"] = True
    precision = getattr(args, "precision", "fp32")
    if precision not in ("fp32", "bf16"):
        raise SegmentInputError(f"--precision: expected fp32 or bf16, got {precision!r}")
    if precision == "bf16":
        overrides.update(amp=True, amp_dtype="bfloat16")
    config = inference_config(args.inference_preset, **overrides)
    if args.checkpoint is None:
        console.print(
            "[bold red]WARNING: no --checkpoint given: the network has RANDOM weights and the masks are "
            "meaningless (use this only to test the command).[/]"
        )
    from s3.model.factory import build_network
    from s3.model.registry import get_preset, get_size

    try:
        get_preset(args.preset)
        get_size(args.size)
    except ValueError as error:  # the registry raises a plain ValueError
        raise SegmentInputError(f"--preset/--size: {error}") from error
    network = build_network(args.preset, args.size, weights=args.checkpoint).to(args.device)
    predictor = VideoPredictor(network, config, fast_paths=not args.reference, compile=getattr(args, "compile", False))

    output = ensure_output_dir(args.output, "--output")
    remove_stale_outputs(output)
    # All or nothing: masks (and the overlay) are written into a hidden folder and published at the end, so a
    # frame that fails to decode half way leaves the previous output as it was and no partial set.
    staged = temporary_sibling(output / "segment")
    given_mask = torch.from_numpy(mask.astype(np.int64))
    try:
        run_passes(args, predictor, source, given_mask, object_ids, palette, staged, console)
        replace_directory(staged / "masks", output / "masks")
        if not args.no_overlay:
            os.replace(staged / "overlay.mp4", output / "overlay.mp4")
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    console.print(f"wrote {len(source)} masks to {output / 'masks'}" + ("" if args.no_overlay else " and overlay.mp4"))
    return 0


def run_passes(
    args: argparse.Namespace,
    predictor: VideoPredictor,
    source: FrameSource,
    given_mask: torch.Tensor,
    object_ids: list[int],
    palette: bytes | None,
    staged: Path,
    console: Console,
) -> None:
    """Propagates forward from `args.frame` (and backward to frame 0) and writes `staged/masks/<frame>.png` and
    `staged/overlay.mp4`. given_mask: H W ids at the test size."""
    mask_dir = staged / "masks"
    mask_dir.mkdir(parents=True, exist_ok=True)
    native = tuple(source.size)
    target = reader_resize_size(*native, args.test_size)
    if target is not None:
        given_mask = resize_mask_for_test(given_mask, target)
    passes = [range(args.frame, len(source))]
    if args.frame > 0:
        passes.append(range(args.frame, -1, -1))
    total = len(source) + 1 if args.frame > 0 else len(source)  # the mask frame is stepped by both passes
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("segmenting", total=total)
        for number, frames in enumerate(passes):
            predictor.reset()
            progress.update(task, description="forward" if number == 0 else "backward")
            for position, t in enumerate(frames):
                frame = as_image_tensor(torch.from_numpy(source.read(t)), predictor.device)
                if target is not None:
                    frame = resize_frames_for_test(frame, target)
                given = given_mask if position == 0 else None
                prob = predictor.step(frame, given, object_ids if position == 0 else None, end=t == frames[-1])
                if target is not None:
                    prob = resize_probabilities(prob, native)
                if number == 0 or position > 0:
                    index = predictor.index_mask(prob).cpu().numpy().astype(np.uint8)
                    write_index_mask(mask_dir / f"{source.names[t]}.png", index, palette)
                progress.advance(task)
        if not args.no_overlay:
            overlay_task = progress.add_task("overlay", total=len(source))

            def overlay_frames():  # noqa: ANN202 - a generator of H W 3 uint8 frames
                for t, name in enumerate(source.names):
                    yield blend(source.read(t), read_index_mask(mask_dir / f"{name}.png"), palette)
                    progress.advance(overlay_task)

            write_video(staged / "overlay.mp4", overlay_frames(), source.fps)


if __name__ == "__main__":
    sys.exit(main())
