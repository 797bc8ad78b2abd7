"""A plain first-frame propagation used by validation until the full inference engine is plugged in.

Every past frame stays in memory and is read with a full softmax (exactly the training read), which is
fine for the short synthetic demo videos. `s3.inference` provides the bounded-memory engine for real data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from s3.model.network import VOSNetwork


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Pads the last two axes to a multiple, splitting the padding evenly. Returns (padded, (l, r, t, b))."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    return F.pad(x, pads), pads


def unpad(x: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    left, right, top, bottom = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


@torch.no_grad()
def propagate_first_frame(network: VOSNetwork, images: Tensor, first_mask: Tensor, object_ids: list[int]) -> Tensor:
    """Segments a video from its first-frame mask.

    images: T 3 H W in [0, 1]; first_mask: H W index mask; object_ids: ids to track (present in frame 0).
    Returns T H W int64 predicted index masks (frame 0 is the given mask).
    """
    num_frames = images.shape[0]
    device = images.device
    ids = torch.tensor(object_ids, device=device)
    padded, pads = pad_to_multiple(images, network.pad_multiple)
    masks = (pad_to_multiple(first_mask[None].float(), network.pad_multiple)[0][0][None] == ids.view(-1, 1, 1)).float()
    masks = masks.unsqueeze(0)  # 1 N H W

    ms_features, pix_feat = network.encode_image(padded[:1])
    key, shrinkage, selection = network.transform_key(ms_features[0])
    sensory = torch.zeros(1, len(object_ids), network.sensory_dim, *key.shape[-2:], device=device)
    value, sensory, summary = network.encode_mask(padded[:1], pix_feat, sensory, masks)
    keys, shrinkages, values, object_memory = [key], [shrinkage], [value], summary.unsqueeze(2)

    predictions = [first_mask.to(torch.int64)]
    last_mask = masks
    for t in range(1, num_frames):
        frame = padded[t : t + 1]
        ms_features, pix_feat = network.encode_image(frame)
        key, shrinkage, selection = network.transform_key(ms_features[0])
        readout, _ = network.read_memory(
            key,
            selection,
            torch.stack(keys, dim=2),
            torch.stack(shrinkages, dim=2),
            torch.stack(values, dim=3),
            object_memory,
            pix_feat,
            sensory,
            last_mask,
            None,
        )
        sensory, _, prob = network.segment(ms_features, readout, sensory)
        last_mask = prob[:, 1:]
        index = unpad(prob, pads)[0].argmax(dim=0)
        predictions.append(torch.where(index > 0, ids[(index - 1).clamp(min=0)], torch.zeros_like(index)))
        if t < num_frames - 1:
            value, sensory, summary = network.encode_mask(frame, pix_feat, sensory, last_mask)
            keys.append(key)
            shrinkages.append(shrinkage)
            values.append(value)
            object_memory = object_memory + summary.unsqueeze(2)
    return torch.stack(predictions)
