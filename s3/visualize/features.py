"""Capturing the named blocks' outputs of one forward pass through forward hooks (no model code duplicated).

`FeatureCapture` is a context manager that hooks the modules of the requested blocks and keeps a detached copy of
each block's first output; it never changes what the network computes. `capture_features` runs the frame through
the network's own stages:

1. the pixel encoder on the normalised frame (its own call returns the assembled f16 / f8 / f4 maps; inside the
   inference form's `encode_image` the S3 encoder folds the decoder's skip projections into its tail and never
   builds f8 / f4);
2. when a memory block (key, readout, attention) is asked for: `encode_image`, `transform_key`, `encode_mask` with
   the given mask, and `read_memory` of the frame against the memory made from itself and its mask (what the
   second frame of a still video sees).

It works on the reference modules and on their inference form (`s3.model.deploy.prepare_for_inference`, a view
sharing the parameters and the hook dictionaries), which computes every block alike except the semantic reads it
fuses into the interaction stages' row blocks (`BlockNotComputedError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from s3.errors import S3Error
from s3.visualize.blocks import Block, available_blocks

__all__ = ["BlockNotComputedError", "CapturedFeatures", "FeatureCapture", "capture_features", "to_map"]


class BlockNotComputedError(S3Error, RuntimeError):
    """A requested block whose module did not run in this network form (e.g. fused away by an inference form)."""


@dataclass
class CapturedFeatures:
    """The raw outputs of the captured blocks (detached, on the CPU) and the frame they came from.

    Attributes:
        tensors: block name -> the captured tensor (its module's output, `Block.output` applied).
        blocks: block name -> its `Block`.
        grid: (h, w) of the stride-16 grid of the frame.
        image: 3 H W float frame in [0, 1] as the network saw it.
        mask: N H W float object masks used for the memory (the first object is object 0).
    """

    tensors: dict[str, Tensor]
    blocks: dict[str, Block]
    grid: tuple[int, int]
    image: Tensor
    mask: Tensor


class FeatureCapture:
    """Forward hooks on the modules of `blocks` (names of `available_blocks(network)`); use as a context manager.

    Each block keeps the output of the *first* call of its module inside the context, detached and cloned, so a
    later call (e.g. `encode_image` calling the encoder again) cannot overwrite it. Hooks return nothing: the
    network's outputs are unchanged.
    """

    def __init__(self, network: nn.Module, blocks: Sequence[str]) -> None:
        table = available_blocks(network)
        self.network = network
        self.blocks = {name: table[name] for name in blocks}
        self.tensors: dict[str, Tensor] = {}
        self._handles: list[RemovableHandle] = []
        self._attention_inputs: dict[nn.Module, tuple[tuple, dict]] = {}

    def __enter__(self) -> FeatureCapture:
        by_module: dict[str, list[Block]] = {}
        for block in self.blocks.values():
            by_module.setdefault(block.module, []).append(block)
        for path, blocks in by_module.items():
            module = self.network.get_submodule(path)
            self._handles.append(module.register_forward_hook(self._hook(blocks), with_kwargs=True))
            inner = getattr(module, "cross_attn", None)
            if any(block.layout == "attention" for block in blocks) and isinstance(inner, nn.MultiheadAttention):
                self._handles.append(inner.register_forward_pre_hook(self._record_inputs, with_kwargs=True))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _record_inputs(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Pre-hook of an attention module: keeps the inputs of its latest call for `_attention`."""
        self._attention_inputs[module] = (args, kwargs)

    def missing(self) -> list[str]:
        """Requested blocks whose module has not run inside the context."""
        return [name for name in self.blocks if name not in self.tensors]

    def _hook(self, blocks: list[Block]):  # noqa: ANN202 - a torch forward hook
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            for block in blocks:
                if block.name in self.tensors:
                    continue
                if block.layout == "attention":
                    self.tensors[block.name] = self._attention(module, output)
                else:
                    value = output if block.output is None else output[block.output]
                    self.tensors[block.name] = value.detach().float().cpu().clone()

        return hook

    def _attention(self, module: nn.Module, output: Any) -> Tensor:
        """The pixel read of the object queries as B' M Q HW scores.

        The discriminative query returns its similarity (B' M HW Q, blocked pixels -inf) as its second output. Cutie's
        masked cross-attention asks its `nn.MultiheadAttention` for no weights, so that module is called once more
        on the inputs it just had (recorded by a pre-hook) with `need_weights=True`; the network's result is not
        touched.
        """
        scores = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if scores is not None:
            return scores.detach().float().cpu().transpose(-1, -2).clone()
        attention = getattr(module, "cross_attn", None)
        if not isinstance(attention, nn.MultiheadAttention) or attention not in self._attention_inputs:
            raise TypeError(f"{type(module).__name__}: no attention scores to capture")
        args, kwargs = self._attention_inputs.pop(attention)
        _, weights = attention(*args, **{**kwargs, "need_weights": True, "average_attn_weights": False})
        return weights.detach().float().cpu().clone()


def capture_features(network: nn.Module, image: Tensor, masks: Tensor, blocks: Sequence[str]) -> CapturedFeatures:
    """One forward pass of `network` on a frame, capturing `blocks`.

    Args:
        network: a `VOSNetwork` in eval mode: the reference modules, or its inference form
            (`s3.model.deploy.prepare_for_inference`), which computes the same blocks except those it fuses away
            (the semantic reads of the interaction stages).
        image: 3 H W float in [0, 1], H and W multiples of the network's `pad_multiple`.
        masks: N H W float object masks (N >= 1) for the memory read.
        blocks: names from `available_blocks(network)`.

    Returns the captured tensors; raises `BlockNotComputedError` naming the blocks this network form did not compute.
    """
    device = next(network.parameters()).device
    batch = image[None].to(device)
    masks = masks[None].to(device)
    capture = FeatureCapture(network, blocks)
    phases = {block.phase for block in capture.blocks.values()}
    with capture, torch.no_grad():
        if "encoder" in phases:
            network.pixel_encoder(network.normalize(batch))
        if "memory" in phases:
            read_memory_of_itself(network, batch, masks)
    missing = capture.missing()
    if missing:
        raise BlockNotComputedError(
            f"--blocks: {', '.join(missing)} not computed by this network form ({type(network).__name__}); "
            "use the reference modules"
        )
    height, width = image.shape[-2:]
    return CapturedFeatures(
        capture.tensors, capture.blocks, (height // 16, width // 16), image.cpu(), masks[0].float().cpu()
    )


def read_memory_of_itself(network: nn.Module, batch: Tensor, masks: Tensor) -> Tensor:
    """The frame reads a memory made from itself and its masks through the network's stages.

    batch: 1 3 H W in [0, 1]; masks: 1 N H W. Returns the memory readout 1 N E h w.
    """
    features, pix_feat = network.encode_image(batch)
    key, shrinkage, selection = network.transform_key(features[0])
    num_objects = masks.shape[1]
    sensory = pix_feat.new_zeros(1, num_objects, network.sensory_dim, *pix_feat.shape[-2:])
    value, sensory, summaries = network.encode_mask(batch, pix_feat, sensory, masks)
    readout, _ = network.read_memory(
        key,
        selection,
        key[:, :, None],
        shrinkage[:, :, None],
        value[:, :, :, None],
        summaries[:, :, None],
        pix_feat,
        sensory,
        masks,
        selector=None,
    )
    return readout


def to_map(block: Block, tensor: Tensor, grid: tuple[int, int]) -> Tensor:
    """A captured tensor as a C h w map (attention: 1 h w, the foreground queries' mean read per pixel).

    grid: (h, w) of the stride-16 grid; token layouts are reshaped with it.
    """
    grid_h, grid_w = grid
    if block.layout == "map":
        return tensor[0]
    if block.layout == "objects":
        return tensor[0, 0]
    if block.layout == "vit_tokens":
        tokens = tensor[0]
        tokens = tokens[-grid_h * grid_w :]  # drop the CLS token when present
        return tokens.t().reshape(-1, grid_h, grid_w)
    if block.layout == "spatial_tokens":
        fine = tensor[0, : 4 * grid_h * grid_w]
        return fine.t().reshape(-1, 2 * grid_h, 2 * grid_w)
    if block.layout == "attention":
        return attention_map(tensor, grid)
    raise ValueError(f"unknown block layout {block.layout!r}")


def attention_map(scores: Tensor, grid: tuple[int, int]) -> Tensor:
    """scores: B' M Q HW (first object first) -> 1 h w: the foreground queries' (first half) mean score per pixel,
    averaged over heads. Blocked pixels (-inf similarity) are NaN, drawn as the panel's background."""
    first = scores[0]  # M Q HW
    foreground = first[:, : first.shape[1] // 2]
    finite = torch.isfinite(foreground)
    summed = torch.where(finite, foreground, torch.zeros_like(foreground)).sum(dim=(0, 1))
    count = finite.sum(dim=(0, 1))
    mean = torch.where(count > 0, summed / count.clamp(min=1), torch.full_like(summed, float("nan")))
    return mean.reshape(1, *grid)
