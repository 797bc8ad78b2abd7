"""Test-time augmentation across scales: several predictors, one per test size, averaged per frame.

Each predictor sees the frame resized so that its shorter side equals its size (image bilinear, mask
nearest-exact); its probabilities are resized back to the frame's size (bilinear) and the maps are averaged
(ARCHITECTURE.md §3.3, "multi-scale TTA"). Horizontal flip is the predictors' own `flip_aug` option.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from s3.inference.config import InferenceConfig
from s3.inference.image_ops import (
    as_image_tensor,
    as_index_mask,
    resize_image,
    resize_index_mask,
    resize_probabilities,
    shorter_side_size,
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


class MultiScalePredictor:
    """Runs one `VideoPredictor` per size on the same frames and masks and averages their outputs.

    Args:
        network: shared by all scales (it holds no per-video state).
        sizes: shorter side of the frames seen by each predictor; None keeps the frame's own size.
        config: inference config of every scale (`max_internal_size` is ignored: sizes decide).
        fast_paths: see `VideoPredictor` (the network is prepared once and shared by every scale).
    """

    def __init__(
        self,
        network: VOSNetwork,
        sizes: Sequence[int | None],
        config: InferenceConfig | None = None,
        *,
        fast_paths: bool = True,
    ) -> None:
        if not sizes:
            raise ValueError("MultiScalePredictor needs at least one size")
        config = (config or InferenceConfig()).replace(max_internal_size=-1)
        self.sizes = list(sizes)
        if fast_paths:
            network = prepare_for_inference(network)
        self.predictors = [VideoPredictor(network, config, fast_paths=fast_paths) for _ in self.sizes]
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
            size = (height, width) if side is None else shorter_side_size(height, width, side)
            scaled_image = image if size == (height, width) else resize_image(image, size)
            scaled_mask = index
            if index is not None and size != (height, width):
                scaled_mask = resize_index_mask(index, size)
            prob = predictor.step(scaled_image, scaled_mask, object_ids, end=end)
            outputs.append(prob if size == (height, width) else resize_probabilities(prob, (height, width)))
        return average_probabilities(outputs)
