"""The training unroll of one clip (Cutie's procedure): memory of past frames, no detaching."""

from __future__ import annotations

import torch
from torch import Tensor

from s3.model.network import VOSNetwork


def sample_reference_frames(t: int, num_ref_frames: int, batch: int, device: torch.device) -> Tensor:
    """Indices B R of the memory frames for predicting frame t: all earlier frames while t ≤ R, otherwise R
    frames drawn without replacement from 0…t−1, independently per batch element (frame 0 is not forced)."""
    if t <= num_ref_frames:
        return torch.arange(t, device=device).unsqueeze(0).expand(batch, -1)
    scores = torch.rand(batch, t, device=device)
    return torch.argsort(scores, dim=1)[:, :num_ref_frames].sort(dim=1).values


def _gather_time(x: Tensor, index: Tensor, time_dim: int) -> Tensor:
    """Picks per-element time steps: x has batch on dim 0 and time on `time_dim`; index: B R."""
    shape = [index.shape[0]] + [1] * (x.dim() - 1)
    shape[time_dim] = index.shape[1]
    expanded = index.view(shape).expand(*[s if i != time_dim else index.shape[1] for i, s in enumerate(x.shape)])
    return torch.gather(x, time_dim, expanded)


def unroll_clip(
    network: VOSNetwork,
    images: Tensor,
    masks: Tensor,
    selector: Tensor,
    *,
    num_ref_frames: int = 3,
    deep_update_prob: float = 0.2,
) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """Segments frames 1…T−1 of a clip given frame 0's ground truth.

    images: B T 3 H W in [0, 1]; masks: B T N H W (ground truth; only frame 0 is read); selector: B N
    (already cropped to the largest object count of the batch).
    Returns per predicted frame the aggregated logits B (N+1) H W and the aux logits dict.
    """
    batch, num_frames = images.shape[:2]
    num_objects = masks.shape[2]
    ms_features, pix_feat = network.encode_image(images.flatten(0, 1))
    key, shrinkage, selection = network.transform_key(ms_features[0])
    h, w = key.shape[-2:]

    def per_time(x: Tensor) -> Tensor:  # (B·T) C h w -> B C T h w
        return x.view(batch, num_frames, *x.shape[1:]).transpose(1, 2)

    key, shrinkage, selection = per_time(key), per_time(shrinkage), per_time(selection)
    ms_features = [f.view(batch, num_frames, *f.shape[1:]) for f in ms_features]
    pix_feat = pix_feat.view(batch, num_frames, *pix_feat.shape[1:])
    selector_map = selector.view(batch, num_objects, 1, 1)

    sensory = torch.zeros(batch, num_objects, network.sensory_dim, h, w, device=images.device)
    value, sensory, summary = network.encode_mask(images[:, 0], pix_feat[:, 0], sensory, masks[:, 0])
    values, summaries = [value], [summary]
    last_mask = masks[:, 0]

    all_logits, all_aux = [], []
    for t in range(1, num_frames):
        ref = sample_reference_frames(t, num_ref_frames, batch, images.device)
        memory_key = _gather_time(key[:, :, :t], ref, 2)
        memory_shrinkage = _gather_time(shrinkage[:, :, :t], ref, 2)
        memory_value = _gather_time(torch.stack(values, dim=3), ref, 3)  # B N V R h w
        object_memory = torch.stack(summaries, dim=2)  # all previous summaries, not subsampled
        readout, aux_inputs = network.read_memory(
            key[:, :, t],
            selection[:, :, t],
            memory_key,
            memory_shrinkage,
            memory_value,
            object_memory,
            pix_feat[:, t],
            sensory,
            last_mask,
            selector_map,
        )
        aux = network.compute_aux(pix_feat[:, t], aux_inputs, selector)
        sensory, logits, prob = network.segment([f[:, t] for f in ms_features], readout, sensory, selector=selector_map)
        all_logits.append(logits)
        all_aux.append(aux)
        last_mask = prob[:, 1:]
        if t < num_frames - 1:
            deep_update = bool(torch.rand(()) < deep_update_prob)  # one coin per step, shared by the batch
            value, sensory, summary = network.encode_mask(
                images[:, t], pix_feat[:, t], sensory, last_mask, deep_update=deep_update
            )
            values.append(value)
            summaries.append(summary)
    return all_logits, all_aux
