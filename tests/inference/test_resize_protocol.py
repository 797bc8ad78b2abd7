"""The evaluation test-size resize equals the official reader's (torchvision antialiased bilinear on the image,
PIL nearest on the given masks, never upsampled), on the Cutie example frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from s3.data.batch import VideoSample
from s3.data.eval_dataset import resize_to_test_size
from s3.inference import InferenceConfig, VideoPredictor, propagate_video
from s3.inference.image_ops import (
    reader_resize_size,
    resize_frames_for_test,
    resize_image,
    resize_index_mask,
    resize_mask_for_test,
)
from s3.model.network import VOSNetwork


@pytest.fixture(scope="module")
def judo(fixtures_dir: Path) -> Path:
    return fixtures_dir / "cutie_examples"


def read_frames(root: Path, video: str, count: int) -> torch.Tensor:
    """T 3 H W float [0, 1], as `VideoEvalDataset` reads them (uint8 / 255)."""
    frames = [np.asarray(Image.open(root / "images" / video / f"{t:05d}.jpg").convert("RGB")) for t in range(count)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def torchvision_frame(path: Path, size: int) -> torch.Tensor:
    """The official reader: ToTensor, then Resize(size, BILINEAR, antialias=True) on the tensor."""
    image = transforms.ToTensor()(Image.open(path).convert("RGB"))
    return transforms.Resize(size, interpolation=InterpolationMode.BILINEAR, antialias=True)(image)


@pytest.mark.parametrize(
    ("shape", "size"),
    [((480, 854), 360), ((480, 910), 360), ((854, 480), 360), ((1080, 1920), 720), ((1080, 1920), 600), ((30, 45), 7)],
)
def test_resize_size_is_torchvisions(shape: tuple[int, int], size: int) -> None:
    expected = transforms.Resize(size)(torch.zeros(1, *shape)).shape[-2:]
    assert reader_resize_size(*shape, size) == tuple(expected)


def test_never_upsampled_and_off_without_a_size() -> None:
    for size in (480, 720, None, -1):
        assert reader_resize_size(480, 854, size) is None  # the reader resizes only when min side > size
    assert reader_resize_size(481, 854, 480) == (480, 852)


@pytest.mark.parametrize("video", ["judo", "bike"])
def test_frames_480_to_360_equal_torchvision(judo: Path, video: str) -> None:
    frames = read_frames(judo, video, 4)
    target = reader_resize_size(*frames.shape[-2:], 360)
    assert target == (360, 640)
    ours = resize_frames_for_test(frames, target)
    for t in range(4):
        reference = torchvision_frame(judo / "images" / video / f"{t:05d}.jpg", 360)
        assert torch.equal(ours[t], reference)
        assert torch.equal(resize_frames_for_test(frames[t], target), reference)  # unbatched too
    # the predictor's internal (non-antialiased) resize is a different image: this is what the protocol fixes
    assert (resize_image(frames[0], target) - ours[0]).abs().max() > 0.05


def test_frames_480_to_720_equal_torchvision_when_asked(judo: Path) -> None:
    """The reader never upsamples 480p frames (size 720 keeps them); the resize itself matches torchvision's."""
    frames = read_frames(judo, "judo", 2)
    assert reader_resize_size(*frames.shape[-2:], 720) is None
    upsampled = resize_frames_for_test(frames, (720, 1281))
    for t in range(2):
        assert torch.equal(upsampled[t], torchvision_frame(judo / "images" / "judo" / f"{t:05d}.jpg", 720))


@pytest.mark.parametrize("stem", ["00000", "00005", "00008", "00013"])
@pytest.mark.parametrize("side", [360, 720])
def test_masks_equal_pil_nearest(judo: Path, stem: str, side: int) -> None:
    with Image.open(judo / "masks" / "judo" / f"{stem}.png") as image:
        image.load()
        mask = np.asarray(image)
        # the official reader: torchvision Resize(size, NEAREST) on the PIL image (= PIL's own NEAREST)
        reference = np.asarray(transforms.Resize(side, interpolation=InterpolationMode.NEAREST)(image))
    target = tuple(reference.shape)
    assert target == transforms.Resize(side)(torch.zeros(1, *mask.shape)).shape[-2:]
    ours = resize_mask_for_test(mask, target)
    assert ours.dtype == torch.int64 and np.array_equal(ours.numpy(), reference)
    # ids beyond 255 (YouTube-VOS / BURST long ids) land on the same pixels
    assert torch.equal(resize_mask_for_test(torch.from_numpy(mask.astype(np.int64) * 1000), target), ours * 1000)
    if side == 360:  # nearest-exact (the predictor's internal resize) picks other pixels on this shrink
        assert not torch.equal(resize_index_mask(torch.from_numpy(mask.astype(np.int64)), target), ours)


def judo_sample(root: Path, count: int) -> VideoSample:
    images = read_frames(root, "judo", count)
    masks = torch.zeros(count, *images.shape[-2:], dtype=torch.int64)
    annotated = torch.zeros(count, dtype=torch.bool)
    with Image.open(root / "masks" / "judo" / "00000.png") as image:
        masks[0] = torch.from_numpy(np.asarray(image).astype(np.int64))
    annotated[0] = True
    ids = [int(i) for i in masks[0].unique() if i != 0]
    return VideoSample(
        name="judo",
        images=images,
        masks=masks,
        annotated=annotated,
        object_ids=ids,
        first_appearance=dict.fromkeys(ids, 0),
        frame_names=[f"{t:05d}" for t in range(count)],
        original_size=tuple(images.shape[-2:]),
        void=torch.zeros_like(masks, dtype=torch.bool),
    )


def test_video_resized_by_the_reader_and_answered_at_native_size(judo: Path, tiny_network: VOSNetwork) -> None:
    video = judo_sample(judo, 3)
    assert resize_to_test_size(video, 480) is video and resize_to_test_size(video, 720) is video
    small = resize_to_test_size(video, 360)
    assert small["images"].shape == (3, 3, 360, 640) and small["original_size"] == (480, 854)
    assert torch.equal(small["images"][1], torchvision_frame(judo / "images" / "judo" / "00001.jpg", 360))
    assert torch.equal(small["masks"][0], resize_mask_for_test(video["masks"][0], (360, 640)))
    assert not small["masks"][1:].any() and "void" not in small
    assert video["images"].shape[-1] == 854 and "void" in video  # the native sample is untouched for scoring

    result = propagate_video(VideoPredictor(tiny_network, InferenceConfig(mem_every=1)), small)
    # by hand: the predictor on the resized frames, probabilities bilinear to 480x854, then argmax
    predictor = VideoPredictor(tiny_network, InferenceConfig(mem_every=1))
    given = small["masks"][0]
    for t in range(3):
        prob = predictor.step(small["images"][t], given if t == 0 else None, end=t == 2)
        native = F.interpolate(prob[None], size=(480, 854), mode="bilinear", align_corners=False)[0]
        assert result.shape == (3, 480, 854)
        assert torch.equal(result[t], predictor.index_mask(native))


def test_segment_cli_follows_the_protocol(judo: Path, tiny_network: VOSNetwork, tmp_path: Path) -> None:
    """`s3 segment --test-size 360` = the reader's resize, the predictor at 360p, probabilities back to 480p."""
    from s3.inference.segment import main as segment_main
    from s3.io.palette import read_index_mask

    weights = tmp_path / "tiny.pth"
    torch.save(tiny_network.state_dict(), weights)
    mask_path = judo / "masks" / "judo" / "00000.png"
    argv = ["--video", str(judo / "images" / "judo"), "--mask", str(mask_path), "--output", str(tmp_path / "out")]
    argv += ["--checkpoint", str(weights), "--size", "tiny", "--test-size", "360", "--max-frames", "3"]
    assert segment_main([*argv, "--no-overlay", "--device", "cpu"]) == 0

    video = judo_sample(judo, 3)
    predictor = VideoPredictor(tiny_network, InferenceConfig())
    small = resize_to_test_size(video, 360)
    ids = [int(i) for i in video["masks"][0].unique() if i != 0]
    for t in range(3):
        given = small["masks"][0] if t == 0 else None
        prob = predictor.step(small["images"][t], given, ids if t == 0 else None, end=t == 2)
        native = F.interpolate(prob[None], size=(480, 854), mode="bilinear", align_corners=False)[0]
        written = read_index_mask(tmp_path / "out" / "masks" / f"{t:05d}.png")
        assert np.array_equal(written, predictor.index_mask(native).numpy().astype(np.uint8))
