"""Multi-scale TTA is the evaluation run at several sizes: each scale gets the official reader's resize of the
Cutie example frames (torchvision's size rounding and antialiased bilinear, PIL nearest on the mask), and the
predictor's compile / precision options reach every scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from s3.inference import InferenceConfig, MultiScalePredictor, VideoPredictor, average_probabilities
from s3.inference.compiled import CompileOptions, is_compiled
from s3.inference.image_ops import resize_image, resize_probabilities
from s3.model.deploy import is_prepared
from s3.model.network import VOSNetwork
from tests.inference.conftest import blob_video

Call = tuple[Tensor, Tensor | None]


@pytest.fixture(scope="module")
def examples(fixtures_dir: Path) -> Path:
    return fixtures_dir / "cutie_examples"


def reader_frame(path: Path, width: int, side: int) -> Tensor:
    """The official reader on the frame's first `width` columns: ToTensor, Resize(side, BILINEAR, antialias)."""
    image = transforms.ToTensor()(Image.open(path).convert("RGB"))[..., :width]
    return transforms.Resize(side, interpolation=InterpolationMode.BILINEAR, antialias=True)(image)


def reader_mask(path: Path, width: int, size: tuple[int, int]) -> Tensor:
    """The official reader's mask: the PNG (first `width` columns) resized by PIL NEAREST."""
    with Image.open(path) as image:
        cropped = image.crop((0, 0, width, image.height))
        resized = cropped.resize((size[1], size[0]), Image.Resampling.NEAREST)
        return torch.from_numpy(np.asarray(resized).astype(np.int64))


def ramp_answer(frame: Tensor) -> Tensor:
    """2 H W probabilities, a horizontal ramp at `frame`'s size: what `record_steps`' stub answers."""
    height, width = frame.shape[-2:]
    ramp = torch.linspace(0.1, 0.9, width).expand(height, width)
    return torch.stack([1 - ramp, ramp])


def record_steps(predictor: VideoPredictor, calls: list[Call]) -> None:
    """Replaces `predictor.step` by one that records its frame and mask and answers a fixed horizontal ramp."""

    def step(frame: Tensor, mask: Tensor | None = None, object_ids: list[int] | None = None, *, end: bool = False):  # noqa: ANN202, ARG001
        calls.append((frame.clone(), None if mask is None else mask.clone()))
        return ramp_answer(frame)

    predictor.step = step  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("width", "side"),
    [
        (854, 360),  # the fixture frames, down-scaled (480 -> 360)
        (854, 600),  # up-scaled (480 -> 600)
        (644, 360),  # 480x644: int(h / shorter * side) gives 482 columns, torchvision 483
        (644, 600),  # and 804 vs 805 when up-scaled
    ],
)
def test_each_scale_sees_the_official_reader_resize(
    examples: Path, tiny_network: VOSNetwork, width: int, side: int
) -> None:
    frame_paths = [examples / "images" / "judo" / f"{t:05d}.jpg" for t in range(2)]
    mask_path = examples / "masks" / "judo" / "00000.png"
    frames = [transforms.ToTensor()(Image.open(p).convert("RGB"))[..., :width] for p in frame_paths]
    mask = reader_mask(mask_path, width, (480, width))
    multi = MultiScalePredictor(tiny_network, [side, None])
    calls: tuple[list[Call], list[Call]] = ([], [])
    for predictor, log in zip(multi.predictors, calls, strict=True):
        record_steps(predictor, log)
    outputs = [multi.step(frames[0], mask), multi.step(frames[1], end=True)]

    size = tuple(reader_frame(frame_paths[0], width, side).shape[-2:])
    assert size == (side, int(side * width / 480))
    if width == 644:  # the former `int(width / shorter * side)` rounding is one column short: torchvision's is used
        assert int(width / 480 * side) == size[1] - 1
    scaled, native = calls
    for t, path in enumerate(frame_paths):
        expected = reader_frame(path, width, side)
        assert torch.equal(scaled[t][0], expected)
        assert torch.equal(scaled[t][0], TF.resize(frames[t], list(size), antialias=True))  # transforms.v2 alike
        assert torch.equal(native[t][0], frames[t])  # None keeps the frame as it is
        plain = (resize_image(frames[t], size) - expected).abs().max().item()
        if side > 480:  # up-sampling: antialiasing changes nothing but float rounding (the docstring's claim)
            assert plain < 2e-5
        else:
            assert plain > 0.05
    assert torch.equal(scaled[0][1], reader_mask(mask_path, width, size)) and scaled[0][1].any()
    assert torch.equal(native[0][1], mask) and scaled[1][1] is None and native[1][1] is None
    for out, small, full in zip(outputs, scaled, native, strict=True):
        assert out.shape == (2, 480, width)
        want = average_probabilities([resize_probabilities(ramp_answer(small[0]), (480, width)), ramp_answer(full[0])])
        assert torch.equal(out, want)


def test_compile_and_precision_reach_every_scale(tiny_network: VOSNetwork) -> None:
    options = CompileOptions(stages=("transform_key",))
    multi = MultiScalePredictor(tiny_network, [None, 48, 24], InferenceConfig(amp=True), compile=options)
    network = multi.predictors[0].network
    assert is_compiled(network) and is_prepared(network.reference)  # compiled over the inference form
    assert all(p.network is network for p in multi.predictors)  # compiled once, shared by the scales
    assert all(p.config.amp and p.config.amp_dtype == "bfloat16" for p in multi.predictors)
    assert not is_compiled(tiny_network) and not is_prepared(tiny_network)
    reference = MultiScalePredictor(tiny_network, [None, 48], fast_paths=False, compile=True)
    assert is_compiled(reference.predictors[0].network) and reference.predictors[0].network.reference is tiny_network
    assert reference.predictors[1].network is reference.predictors[0].network
    default = MultiScalePredictor(tiny_network, [None, 48])
    assert not is_compiled(default.predictors[0].network) and not default.predictors[0].config.amp


def test_compiled_multi_scale_matches_eager(tiny_network: VOSNetwork) -> None:
    """One compiled stage (the key projection, quick to compile) run at two scales agrees with eager to 1e-4."""
    images, masks = blob_video(3, 40, 56)
    config = InferenceConfig(mem_every=2)
    eager = MultiScalePredictor(tiny_network, [32, None], config)
    compiled = MultiScalePredictor(tiny_network, [32, None], config, compile=CompileOptions(stages=("transform_key",)))
    for t in range(3):
        mask = masks[0] if t == 0 else None
        a = eager.step(images[t], mask, end=t == 2)
        b = compiled.step(images[t], mask, end=t == 2)
        assert torch.allclose(a, b, atol=1e-4, rtol=0), f"frame {t}: max diff {(a - b).abs().max().item():.2e}"
    times = compiled.predictors[0].network.compile_times
    assert set(times.seconds) == {"transform_key"} and times.total > 0  # it did run compiled code
