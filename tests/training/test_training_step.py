"""One training step of the LightningModule on CPU: finite loss, gradients everywhere, reproducible."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from s3.training import S3Module
from s3.training.unroll import sample_reference_frames


def make_batch(seed: int = 0, batch: int = 2, frames: int = 5, objects: int = 3, size: int = 64):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, frames, 3, size, size, generator=generator)
    masks = torch.zeros(batch, frames, objects, size, size)
    for t in range(frames):
        masks[:, t, 0, 8 + t : 24 + t, 8:24] = 1
        masks[0, t, 1, 40:56, 30 + t : 50 + t] = 1
    selector = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    return {"images": images, "masks": masks, "selector": selector}


def run_step(seed: int) -> tuple[S3Module, torch.Tensor]:
    torch.manual_seed(seed)
    module = S3Module(size="tiny", num_points=256, num_ref_frames=2, deep_update_prob=1.0)
    losses = module.clip_losses(make_batch())
    losses["total_loss"].backward()
    return module, losses["total_loss"].detach()


def test_training_step_gradients_reach_every_parameter() -> None:
    module, loss = run_step(0)
    assert torch.isfinite(loss)
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    bad = [n for n, p in module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert bad == []


def test_same_seed_same_loss() -> None:
    _, first = run_step(3)
    _, second = run_step(3)
    _, other = run_step(4)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_reference_frames_sampled_per_element_without_replacement() -> None:
    torch.manual_seed(0)
    assert sample_reference_frames(2, 3, 4, torch.device("cpu")).tolist() == [[0, 1]] * 4
    refs = sample_reference_frames(7, 3, 64, torch.device("cpu"))
    assert refs.shape == (64, 3)
    assert all(len(set(row)) == 3 and max(row) < 7 for row in refs.tolist())
    assert len({tuple(row) for row in refs.tolist()}) > 1  # independent per batch element


def test_optimizer_groups_follow_the_spec() -> None:
    adamw = partial(torch.optim.AdamW, lr=1e-4, weight_decay=0.05)
    module = S3Module(size="tiny", optimizer=adamw, backbone_lr_ratio=0.1)
    optimizer = module.configure_optimizers()["optimizer"]
    backbone, embeddings, others = optimizer.param_groups
    names = {id(p): n for n, p in module.network.named_parameters()}
    assert all(names[id(p)].startswith("pixel_encoder.") for p in backbone["params"])
    assert backbone["lr"] == pytest.approx(1e-5) and backbone["weight_decay"] == 0.05
    # Upstream matches by name suffix, so the summary-to-query projections' weights also land in this group.
    assert {names[id(p)] for p in embeddings["params"]} == {
        "object_transformer.query_init.weight",
        "object_transformer.query_emb.weight",
        "object_transformer.summary_to_query_init.weight",
        "object_transformer.summary_to_query_emb.weight",
    }
    assert embeddings["weight_decay"] == 0.0 and embeddings["lr"] == 1e-4
    assert others["weight_decay"] == 0.05
    total = sum(len(g["params"]) for g in optimizer.param_groups)
    assert total == len(list(module.network.parameters()))


def test_bf16_autocast_step_is_finite() -> None:
    torch.manual_seed(0)
    module = S3Module(size="tiny", num_points=64, num_ref_frames=1)
    batch = make_batch(frames=3, size=32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = module.clip_losses(batch)
    losses["total_loss"].backward()
    assert torch.isfinite(losses["total_loss"])
