"""`VideoPredictor`: step through a video one frame at a time, with masks given on any frame.

    predictor = VideoPredictor.from_checkpoint("cutie-base-mega.pth", preset="cutie", size="base")
    for t, frame in enumerate(frames):                      # frame: 3 H W float in [0, 1] (or uint8 H W 3)
        prob = predictor.step(frame, masks.get(t), end=t == len(frames) - 1)   # (N+1) H W, original size
        index = predictor.index_mask(prob)                  # H W int64 with the user's object ids

The network stays stateless; all per-video state lives in `PredictorState`, the `ObjectManager` and the
`MemoryManager`, and `reset()` starts a new video. The per-frame procedure is ARCHITECTURE.md §3.1.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from s3.inference.compiled import CompileOptions, compile_network, compile_options
from s3.inference.config import InferenceConfig
from s3.inference.image_ops import (
    InferenceInputError,
    Padding,
    as_image_tensor,
    as_index_mask,
    internal_size,
    pad_to_multiple,
    resize_image,
    resize_index_mask,
    resize_probabilities,
    unpad,
)
from s3.inference.memory_manager import MemoryManager
from s3.inference.object_manager import ObjectManager, check_object_id
from s3.inference.precision import bf16_warning
from s3.model.deploy import prepare_for_inference
from s3.model.layers import aggregate_with_background
from s3.model.network import VOSNetwork


@dataclass
class PredictorState:
    """Per-video counters and the previous frame's mask.

    frame_index: index of the last frame stepped (-1 before the first).
    last_memory_frame: frame index of the last memory frame (0 before any, as upstream).
    last_mask: B N Hp Wp probabilities without background at the padded internal size (B = 2 under flip).
    """

    frame_index: int = -1
    last_memory_frame: int = 0
    last_mask: Tensor | None = None


class VideoPredictor:
    """Semi-supervised VOS inference engine around a `VOSNetwork`.

    Args:
        network: the (reference) network; its device is the predictor's device.
        config: test-time memory policy; defaults to Cutie's evaluation settings.
        fast_paths: run the network's inference form (`s3.model.deploy.prepare_for_inference`: blocked, folded and
            oneDNN forms over the same parameters; `network` itself is left as it is) and read the pixel memory with
            the top-k gather (`s3.model.memory_readout.topk_readout`). False runs the reference modules (put in eval
            mode here) and the dense memory read, e.g. to check that an edit of a module reaches inference.
        compile: also run the network's stages through `torch.compile` (`s3.inference.compiled`; True or a
            `CompileOptions`), on the inference form (or, with `fast_paths=False`, on the reference modules). The
            compiled code is built at the first frame of each new shape and computes with the weights seen then.
    """

    def __init__(
        self,
        network: VOSNetwork,
        config: InferenceConfig | None = None,
        *,
        fast_paths: bool = True,
        compile: bool | CompileOptions = False,
    ) -> None:
        self.fast_paths = fast_paths
        if fast_paths:
            self.network = prepare_for_inference(network, compile=compile)
        else:
            network.eval()
            self.network = compile_network(network, compile_options(compile)) if compile else network
        self.config = config if config is not None else InferenceConfig()
        self.config.validate()
        self.device = next(network.parameters()).device
        if self.config.amp:
            warning = bf16_warning(self.config.amp_dtype.replace("bfloat16", "bf16"), self.device)
            if warning is not None:
                warnings.warn(warning, stacklevel=2)
        self._stagger = self.config.stagger_offsets()
        self.reset()

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path | None,
        preset: str = "cutie",
        size: str = "base",
        config: InferenceConfig | None = None,
        *,
        device: str | torch.device = "cpu",
        strict: bool = True,
        fast_paths: bool = True,
        compile: bool | CompileOptions = False,
    ) -> VideoPredictor:
        """Builds the network of `preset` / `size`, loads `checkpoint` (None: random weights, with a warning)."""
        from s3.model.factory import build_network

        if checkpoint is None:
            warnings.warn("no checkpoint given: the predictor uses RANDOM weights", stacklevel=2)
        network = build_network(preset, size, weights=checkpoint, strict=strict)
        return cls(network.to(device), config, fast_paths=fast_paths, compile=compile)

    # -------------------------------------------------------------------------------------------- state
    def reset(self) -> None:
        """Forgets the video: objects, memories and counters."""
        self.state = PredictorState()
        self.objects = ObjectManager()
        self.memory = MemoryManager(self.config, self.network.sensory_dim, topk_read=self.fast_paths)

    @property
    def object_ids(self) -> list[int]:
        """Tracked external ids, in the order of the probability channels 1..N."""
        return self.objects.object_ids

    def add_objects(
        self, frame: Tensor | np.ndarray, mask: Tensor | np.ndarray, object_ids: list[int] | None = None
    ) -> Tensor:
        """Steps `frame` with a mask introducing (or correcting) objects; same as `step(frame, mask, ids)`."""
        return self.step(frame, mask, object_ids)

    def remove_objects(self, object_ids: list[int]) -> None:
        """Stops tracking `object_ids`: their channels disappear, the others are re-packed, memories purged."""
        ids = [check_object_id(i) for i in object_ids]
        kept = self.objects.remove(ids)
        self.memory.remove_objects(set(ids))
        if self.state.last_mask is not None:
            self.state.last_mask = self.state.last_mask[:, kept]

    def index_mask(self, prob: Tensor) -> Tensor:
        """(N+1) H W probabilities from `step` -> H W int64 mask of external ids (0 = background)."""
        return self.objects.to_external(prob.argmax(dim=0))

    # --------------------------------------------------------------------------------------------- step
    @torch.inference_mode()
    def step(
        self,
        frame: Tensor | np.ndarray,
        mask: Tensor | np.ndarray | None = None,
        object_ids: list[int] | None = None,
        *,
        end: bool = False,
    ) -> Tensor:
        """Processes the next frame.

        frame: 3 H W float in [0, 1] (or uint8 H W 3); mask: optional H W index mask of external ids;
        object_ids: the ids the mask declares (default: its non-zero values; every non-zero value must be
        declared); end: this is the video's last frame (nothing is memorised).
        Returns (N+1) H W float32 probabilities at the frame's size, channel 0 background, channel i the
        object `object_ids[i-1]` of `self.object_ids` after this step.
        """
        image = as_image_tensor(frame, self.device)
        height, width = image.shape[-2:]
        given = None if mask is None else self._check_mask(mask, object_ids, (height, width))
        if mask is None and object_ids is not None:
            raise InferenceInputError("object_ids were given without a mask")
        cfg, state = self.config, self.state
        state.frame_index += 1

        processing_size = internal_size(height, width, cfg.max_internal_size)
        if processing_size is not None:
            image = resize_image(image, processing_size)
            if given is not None:
                given = (resize_index_mask(given[0], processing_size), given[1])
        image, pads = pad_to_multiple(image, self.network.pad_multiple)
        batch = image.unsqueeze(0)
        if cfg.flip_aug:
            batch = torch.cat([batch, batch.flip(-1)], dim=0)

        if given is None and not self.memory.engaged:
            # nothing to track yet (frames before the first mask): all background
            return background_only(self.objects.num_objects, (height, width), self.device)

        t = state.frame_index
        is_memory_frame = (t - state.last_memory_frame >= cfg.mem_every or given is not None) and not end
        need_segment = given is None or (self.objects.num_objects > 0 and not self.objects.has_all(given[1]))
        update_sensory = (t - state.last_memory_frame) in self._stagger and not end

        with torch.autocast(self.device.type, dtype=getattr(torch, cfg.amp_dtype), enabled=cfg.amp):
            ms_features, pix_feat = self.network.encode_image(batch)
            key, shrinkage, selection = self.network.transform_key(ms_features[0])
            prob = None
            if need_segment:
                prob = self._segment(ms_features, pix_feat, key, selection, update_sensory, image.shape[-2:])
            if given is not None:
                padded_mask, _ = pad_to_multiple(given[0], self.network.pad_multiple)
                prob = self._merge_given_mask(prob, padded_mask, given[1])
            assert prob is not None
            last_mask = prob[1:].unsqueeze(0)
            if cfg.flip_aug:
                last_mask = torch.cat([last_mask, last_mask.flip(-1)], dim=0)
            state.last_mask = last_mask
            if is_memory_frame and self.objects.num_objects > 0:
                self._memorise(batch, pix_feat, key, shrinkage, selection)

        return self._to_output(prob, pads, processing_size, (height, width))

    def _check_mask(
        self, mask: Tensor | np.ndarray, object_ids: list[int] | None, frame_size: tuple[int, int]
    ) -> tuple[Tensor, list[int]]:
        index = as_index_mask(mask, self.device)
        if tuple(index.shape) != tuple(frame_size):
            raise InferenceInputError(
                f"mask size {index.shape[1]}x{index.shape[0]} (WxH) differs from the frame size "
                f"{frame_size[1]}x{frame_size[0]}"
            )
        present = [int(v) for v in torch.unique(index).tolist() if v != 0]
        if object_ids is None:
            ids = present
        else:
            ids = [check_object_id(i) for i in object_ids]
            if len(set(ids)) != len(ids):
                raise InferenceInputError(f"object_ids contains duplicates: {ids}")
            undeclared = sorted(set(present) - set(ids))
            if undeclared:
                raise InferenceInputError(f"mask contains id(s) {undeclared} not declared in object_ids {ids}")
        if any(v < 0 for v in present):
            raise InferenceInputError(f"mask contains negative ids {[v for v in present if v < 0]}")
        return index, ids

    def _segment(
        self,
        ms_features: list[Tensor],
        pix_feat: Tensor,
        key: Tensor,
        selection: Tensor,
        update_sensory: bool,
        padded_size: tuple[int, int],
    ) -> Tensor:
        """Memory read + decoder. Returns (N+1) Hp Wp probabilities (flip-averaged)."""
        ids = self.objects.object_ids
        if not ids or not self.memory.engaged or self.state.last_mask is None:
            return background_only(len(ids), padded_size, self.device)
        readout = self.memory.read(self.network, pix_feat, key, selection, self.state.last_mask, ids)
        sensory = self.memory.get_sensory(ids)
        sensory, _, prob = self.network.segment(
            ms_features, readout, sensory, chunk_size=self.config.chunk_size, update_sensory=update_sensory
        )
        if update_sensory:
            self.memory.set_sensory(ids, sensory)
        prob = prob.float()
        return (prob[0] + prob[1].flip(-1)) / 2 if self.config.flip_aug else prob[0]

    def _merge_given_mask(self, predicted: Tensor | None, mask: Tensor, object_ids: list[int]) -> Tensor:
        """Registers the mask's objects and turns it (merged with a prediction, if any) into probabilities.

        mask: Hp Wp external ids. With a prediction (the mask introduces new objects while others are
        tracked): predicted objects are cleared where the mask is non-zero, objects in the mask get their
        given masks and new objects are appended. Without: a one-hot of the tracked objects.
        Returns (N+1) Hp Wp probabilities (aggregate, then softmax).
        """
        indices = self.objects.add(object_ids)
        if predicted is not None:
            foreground = predicted[1:].clone()
            foreground[:, mask > 0] = 0
            new_masks = []
            for object_id, index in zip(object_ids, indices, strict=True):
                this = (mask == object_id).to(foreground.dtype)
                if index > foreground.shape[0]:
                    new_masks.append(this.unsqueeze(0))
                else:
                    foreground[index - 1] = this
            masks = torch.cat([foreground, *new_masks], dim=0)
        else:
            ids = torch.tensor(self.objects.object_ids, device=mask.device).view(-1, 1, 1)
            masks = (mask.unsqueeze(0) == ids).float()
        return torch.softmax(aggregate_with_background(masks, dim=0), dim=0)

    def _memorise(self, batch: Tensor, pix_feat: Tensor, key: Tensor, shrinkage: Tensor, selection: Tensor) -> None:
        ids = self.objects.object_ids
        self.memory.initialize_sensory(ids, key)
        value, sensory, summaries = self.network.encode_mask(
            batch,
            pix_feat,
            self.memory.get_sensory(ids),
            self.state.last_mask,
            deep_update=True,
            chunk_size=self.config.chunk_size,
        )
        self.memory.add(key, shrinkage, selection, value, summaries, ids)
        self.memory.set_sensory(ids, sensory)
        self.state.last_memory_frame = self.state.frame_index

    @staticmethod
    def _to_output(
        prob: Tensor, pads: Padding, processing_size: tuple[int, int] | None, size: tuple[int, int]
    ) -> Tensor:
        out = unpad(prob, pads)
        if processing_size is not None:
            out = resize_probabilities(out, size)
        return out.float()


def background_only(num_objects: int, size: tuple[int, int], device: torch.device) -> Tensor:
    """(N+1) H W probabilities that put every pixel in the background."""
    prob = torch.zeros(num_objects + 1, *size, device=device)
    prob[0] = 1.0
    return prob
