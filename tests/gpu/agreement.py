"""Device-generic bodies of the GPU checks (tests/gpu/test_gpu.py runs them on CUDA; any device works, which is
how they were exercised on a CPU-only machine)."""

from __future__ import annotations

import torch
from torch import Tensor

from s3.inference import InferenceConfig, VideoPredictor
from s3.model.factory import build_network
from s3.training import S3Module


def blob_frames(num_frames: int, height: int, width: int) -> tuple[Tensor, Tensor]:
    """T 3 H W frames with two moving rectangles (ids 1 and 2) and the first frame's mask."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(num_frames, 3, height, width, generator=generator) * 0.3
    mask = torch.zeros(height, width, dtype=torch.int64)
    for t in range(num_frames):
        top, left = 4 + t, 6 + 2 * t
        images[t, 0, top : top + height // 3, left : left + width // 4] = 0.9
        images[t, 2, height // 2 :, width // 2 : width // 2 + width // 5] = 0.8
    mask[4 : 4 + height // 3, 6 : 6 + width // 4] = 1
    mask[height // 2 :, width // 2 : width // 2 + width // 5] = 2
    return images, mask


def predictor_agreement(preset: str, device: str, num_frames: int = 6, size: tuple[int, int] = (96, 160)) -> dict:
    """Steps one random-weight tiny network through the same frames in fp32 and under bf16 autocast.

    Returns the largest and the mean absolute probability difference over the propagated frames and the share
    of pixels whose argmax agrees. (The network is built outside inference mode, as users build it.)
    """
    torch.manual_seed(0)
    network = build_network(preset, "tiny").to(device).eval()
    images, mask = blob_frames(num_frames, *size)
    images, mask = images.to(device), mask.to(device)
    fp32 = VideoPredictor(network, InferenceConfig(mem_every=2))
    bf16 = VideoPredictor(network, InferenceConfig(mem_every=2, amp=True, amp_dtype="bfloat16"))
    worst = total = agree = 0.0
    for t in range(num_frames):
        given = mask if t == 0 else None
        a = fp32.step(images[t], given, end=t == num_frames - 1)
        b = bf16.step(images[t], given, end=t == num_frames - 1)
        assert a.dtype == b.dtype == torch.float32 and a.shape == b.shape
        if t > 0:
            diff = (a - b).abs()
            worst, total = max(worst, float(diff.max())), total + float(diff.mean())
            agree += float((a.argmax(0) == b.argmax(0)).float().mean())
    return {"max": worst, "mean": total / (num_frames - 1), "argmax_agreement": agree / (num_frames - 1)}


def clip_batch(device: str, batch: int = 2, frames: int = 4, objects: int = 3, size: int = 64) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, frames, 3, size, size, generator=generator)
    masks = torch.zeros(batch, frames, objects, size, size)
    for t in range(frames):
        masks[:, t, 0, 8 + t : 24 + t, 8:24] = 1
        masks[:, t, 1, 40:56, 30 + t : 50 + t] = 1
        masks[0, t, 2, 20:30, 40:60] = 1
    selector = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    return {"images": images.to(device), "masks": masks.to(device), "selector": selector.to(device)}


def training_agreement(preset: str, device: str) -> dict:
    """One training step's loss and gradients in fp32 and under bf16 autocast (same weights, same random draws).

    Returns the relative loss difference and the cosine similarity of the flattened gradients.
    """
    torch.manual_seed(0)
    module = S3Module(preset=preset, size="tiny", num_points=1024, num_ref_frames=2, deep_update_prob=0.0)
    module = module.to(device)
    batch = clip_batch(device)
    results = {}
    for name, enabled in (("fp32", False), ("bf16", True)):
        module.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=enabled):
            loss = module.clip_losses(batch)["total_loss"]
        loss.backward()
        grads = [p.grad.flatten().float() for p in module.parameters() if p.grad is not None]
        results[name] = (float(loss.detach()), torch.cat(grads))
    (loss32, grad32), (loss16, grad16) = results["fp32"], results["bf16"]
    cosine = float(torch.nn.functional.cosine_similarity(grad32, grad16, dim=0))
    return {
        "loss_fp32": loss32,
        "loss_bf16": loss16,
        "relative_loss": abs(loss16 - loss32) / abs(loss32),
        "cosine": cosine,
    }
