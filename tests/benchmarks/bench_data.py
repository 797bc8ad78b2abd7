"""Data pipeline benchmark (not collected by pytest): `python tests/benchmarks/bench_data.py`.

1. Training-clip throughput of one worker (one process, one thread) on 480p-sized JPEGs: our pipeline
   (one composed affine warp per frame straight to the crop, clip-level colour draw) against a re-creation of
   the reference's way (PIL decode, torchvision transforms applied frame by frame with the same seed:
   flip -> affine at full size -> random-resized-crop -> jitter -> grayscale -> jitter), both 8 frames, 480 crop.
2. Index build and cached reload on a YouTube-VOS-sized tree of empty files (3,500 videos x 27 frames).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from s3.data.augment import AugmentationConfig
from s3.data.clip_dataset import ClipDataset, ClipRequest, ClipSamplingConfig
from s3.data.readers.davis import read_davis
from s3.data.registry import DatasetSpec, read_train_dataset
from s3.data.synthetic import generate_synthetic_davis


def reference_style_clip(record, positions: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """Frame-by-frame PIL/torchvision augmentation with one re-seeded generator per frame."""
    geometric = T.Compose(
        [
            T.RandomHorizontalFlip(),
            T.RandomAffine(degrees=25, shear=20, interpolation=T.InterpolationMode.BILINEAR, fill=(124, 116, 104)),
            T.RandomResizedCrop((480, 480), scale=(0.36, 1.0), interpolation=T.InterpolationMode.BILINEAR),
        ]
    )
    geometric_mask = T.Compose(
        [
            T.RandomHorizontalFlip(),
            T.RandomAffine(degrees=25, shear=20, interpolation=T.InterpolationMode.NEAREST, fill=0),
            T.RandomResizedCrop((480, 480), scale=(0.36, 1.0), interpolation=T.InterpolationMode.NEAREST),
        ]
    )
    photometric = T.Compose([T.ColorJitter(0.1, 0.03, 0.03, 0), T.RandomGrayscale(0.05)])
    per_frame = T.ColorJitter(0.1, 0.05, 0.05, 0)
    to_tensor = T.ToTensor()
    images, masks = [], []
    for position in positions:
        image = Image.open(record.image_path(position)).convert("RGB")
        mask = Image.open(record.mask_path(position)).convert("P")
        for transform, target in ((geometric, "image"), (geometric_mask, "mask")):
            random.seed(seed)
            torch.manual_seed(seed)
            if target == "image":
                image = transform(image)
            else:
                mask = transform(mask)
        random.seed(seed)
        torch.manual_seed(seed)
        image = per_frame(photometric(image))
        images.append(to_tensor(image))
        masks.append(torch.from_numpy(np.asarray(mask).copy()))
    return torch.stack(images), torch.stack(masks)


def bench_clips(root: Path, clips: int) -> None:
    records = read_davis(root, image_set="train")
    dataset = ClipDataset(
        [(records, 1)], ClipSamplingConfig(num_frames=8, merge_probability=0.0), AugmentationConfig(crop_size=480)
    )
    rng = np.random.default_rng(0)
    requests = [ClipRequest(int(rng.integers(len(dataset))), 10, i) for i in range(clips)]
    dataset[requests[0]]  # warm-up
    start = time.perf_counter()
    for request in requests:
        dataset[request]
    ours = clips / (time.perf_counter() - start)
    positions = list(range(8))
    reference_style_clip(records[0], positions, 0)
    start = time.perf_counter()
    for i, request in enumerate(requests):
        record = dataset.videos[int(dataset.entry_video[request.index])]
        reference_style_clip(record, positions, i)
    reference = clips / (time.perf_counter() - start)
    print(f"clips/s per worker, 8 x 480x854 JPEG -> 480x480: ours {ours:.2f}, reference-style {reference:.2f}")
    print(f"speed-up: {ours / reference:.2f}x")


def bench_index(tmp: Path, videos: int, frames: int) -> None:
    root = tmp / "YouTube" / "train"
    start = time.perf_counter()
    for v in range(videos):
        image_dir, mask_dir = root / "JPEGImages" / f"{v:010x}", root / "Annotations" / f"{v:010x}"
        image_dir.mkdir(parents=True)
        mask_dir.mkdir(parents=True)
        for f in range(frames):
            (image_dir / f"{5 * f:05d}.jpg").touch()
            (mask_dir / f"{5 * f:05d}.png").touch()
    print(f"created {videos} x {frames} empty frames + masks in {time.perf_counter() - start:.1f} s")
    spec = DatasetSpec(name="youtube", subset=None)
    cache = tmp / "cache"
    start = time.perf_counter()
    built = read_train_dataset(tmp, spec, cache)
    build = time.perf_counter() - start
    start = time.perf_counter()
    reloaded = read_train_dataset(tmp, spec, cache)
    reload = time.perf_counter() - start
    assert reloaded == built
    total = sum(r.num_frames for r in built)
    print(f"index of {len(built)} videos / {total} frames: build {build:.2f} s, cached reload {reload:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--videos", type=int, default=3500)
    parser.add_argument("--frames", type=int, default=27)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_synthetic_davis(
            Path(tmp) / "davis480", seed=0, num_train=4, num_val=0, num_frames=12, height=480, width=854
        )
        bench_clips(root, args.clips)
        bench_index(Path(tmp), args.videos, args.frames)


if __name__ == "__main__":
    main()
