"""Test-time augmentation across scales: the evaluation run at several test sizes, averaged per frame.

ARCHITECTURE.md §3.3 ("multi-scale TTA"): run the evaluation at several sizes, then average the probability maps
frame by frame. Each scale therefore sees what the official evaluation reader would give at its size
(`s3.inference.image_ops`): the frame size by torchvision's rounding (`scaled_size`: shorter side `size`, longer
`int(size * longer / shorter)`), the image by `resize_frames_for_test` (torchvision's antialiased bilinear) and the
given masks by `resize_mask_for_test` (PIL nearest). Its probabilities go back to the frame's size by
`resize_probabilities` (bilinear) before the maps are averaged.

Unlike the reader, a scale may be larger than the frame (up-scaling is what such a size asks for). The same
resize is used there: on an up-sample the antialiased filter is the plain bilinear one (its support only widens
when shrinking), so it differs from a non-antialiased resize by float rounding alone (< 2e-5 on the [0, 1]
example frames), and it is what torchvision's `Resize(..., antialias=True)` returns for that size.
Horizontal flip is the predictors' own `flip_aug` option.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from s3.inference.compiled import CompileOptions, compile_network, compile_options
from s3.inference.config import InferenceConfig
from s3.inference.image_ops import (
    as_image_tensor,
    as_index_mask,
    resize_frames_for_test,
    resize_mask_for_test,
    resize_probabilities,
    scaled_size,
)
from s3.inference.predictor import VideoPredictor
from s3.model.deploy import prepare_for_inference
from s3.model.network import VOSNetwork


def average_probabilities(probabilities: Sequence[Tensor]) -> Tensor:
    """Mean of C H W probability maps with the same channel order and size."""
    if not probabilities:
        raise ValueError("average_probabilities needs at least one probability map")
    shapes = {tuple(p.shape) for p in probabilities}
    if len(shapes) != 1:
        raise ValueError(f"probability maps differ in shape: {sorted(shapes)}")
    return torch.stack([p.float() for p in probabilities]).mean(dim=0)


def scale_size(height: int, width: int, side: int | None) -> tuple[int, int]:
    """The H' W' one scale sees of an H W frame: torchvision's `Resize(side)` size; None keeps (H, W)."""
    return (height, width) if side is None else scaled_size(height, width, side)


class MultiScalePredictor:
    """Runs one `VideoPredictor` per size on the same frames and masks and averages their outputs.

    Args:
        network: shared by all scales (it holds no per-video state).
        sizes: shorter side of the frames seen by each predictor (smaller or larger than the frame's); None keeps
            the frame's own size.
        config: inference config of every scale (`max_internal_size` is ignored: sizes decide). Precision is the
            config's, as for `VideoPredictor`: `amp=True` runs every scale under `amp_dtype` autocast.
        fast_paths: see `VideoPredictor` (the network is prepared once and shared by every scale).
        compile: see `VideoPredictor` (True or a `CompileOptions`). The network is compiled once and the compiled
            view is shared by every scale; each scale's frame size compiles its own graphs at its first frame.
    """

    def __init__(
        self,
        network: VOSNetwork,
        sizes: Sequence[int | None],
        config: InferenceConfig | None = None,
        *,
        fast_paths: bool = True,
        compile: bool | CompileOptions = False,
    ) -> None:
        if not sizes:
            raise ValueError("MultiScalePredictor needs at least one size")
        config = (config or InferenceConfig()).replace(max_internal_size=-1)
        self.sizes = list(sizes)
        if fast_paths:
            network = prepare_for_inference(network, compile=compile)
        elif compile:
            network = compile_network(network.eval(), compile_options(compile))
        # Each predictor finds `network` already prepared / compiled and keeps it as it is: one view for all scales.
        self.predictors = [VideoPredictor(network, config, fast_paths=fast_paths, compile=compile) for _ in self.sizes]
        self.device = self.predictors[0].device

    @property
    def object_ids(self) -> list[int]:
        return self.predictors[0].object_ids

    def reset(self) -> None:
        for predictor in self.predictors:
            predictor.reset()

    def remove_objects(self, object_ids: list[int]) -> None:
        for predictor in self.predictors:
            predictor.remove_objects(object_ids)

    def index_mask(self, prob: Tensor) -> Tensor:
        return self.predictors[0].index_mask(prob)

    def step(
        self,
        frame: Tensor | np.ndarray,
        mask: Tensor | np.ndarray | None = None,
        object_ids: list[int] | None = None,
        *,
        end: bool = False,
    ) -> Tensor:
        """Same contract as `VideoPredictor.step`; returns the scale-averaged (N+1) H W probabilities."""
        image = as_image_tensor(frame, self.device)
        index = None if mask is None else as_index_mask(mask, self.device)
        height, width = image.shape[-2:]
        if index is not None and object_ids is None:
            object_ids = [int(v) for v in torch.unique(index).tolist() if v != 0]
        outputs = []
        for predictor, side in zip(self.predictors, self.sizes, strict=True):
            size = scale_size(height, width, side)
            scaled_image, scaled_mask = image, index
            if size != (height, width):
                scaled_image = resize_frames_for_test(image, size)
                if index is not None:
                    scaled_mask = resize_mask_for_test(index, size).to(self.device)
            prob = predictor.step(scaled_image, scaled_mask, object_ids, end=end)
            outputs.append(prob if size == (height, width) else resize_probabilities(prob, (height, width)))
        return average_probabilities(outputs)
