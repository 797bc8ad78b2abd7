"""Loss numerics pinned on hand-computed values (Cutie's definitions)."""

from __future__ import annotations

import math

import torch

from s3.training.losses import (
    LossComputer,
    LossConfig,
    point_sample,
    point_uncertainty,
    sample_uncertain_points,
    soft_cross_entropy,
    soft_dice,
)


def test_soft_dice_hand_computed() -> None:
    # T=2 frames, C=2 (background + 1 object), P=2 points
    prob = torch.tensor([[[0.5, 0.5], [0.5, 0.5]], [[0.0, 1.0], [1.0, 0.0]]])
    target = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]])
    # frame 0: object p=(0.5,0.5), g=(1,0): 1-(2*0.5+1)/(1+1+1)=1/3; frame 1: perfect -> 1-(2+1)/(1+1+1)=0
    assert torch.isclose(soft_dice(prob, target), torch.tensor(1 / 3))


def test_soft_cross_entropy_sums_frames_and_averages_points() -> None:
    logits = torch.zeros(3, 2, 4)  # uniform over 2 classes: CE = log 2 at every point
    target = torch.tensor([1.0, 0.0]).view(1, 2, 1).expand(3, 2, 4)
    assert torch.isclose(soft_cross_entropy(logits, target), torch.tensor(3 * math.log(2)))


def test_point_uncertainty_rules() -> None:
    two = torch.tensor([[[-3.0, 0.5]], [[2.0, -0.25]]]).transpose(0, 1)  # B=1, C=2, P=2
    torch.testing.assert_close(point_uncertainty(two), torch.tensor([[[-2.0, -0.25]]]))
    three = torch.tensor([[[1.0], [4.0], [2.0]]])  # C=3, P=1: second best - best = 2 - 4
    torch.testing.assert_close(point_uncertainty(three), torch.tensor([[[-2.0]]]))


def test_importance_sampling_prefers_uncertain_region() -> None:
    torch.manual_seed(0)
    logits = torch.full((1, 2, 32, 32), 0.0)
    logits[:, 1] = 10.0
    logits[:, 1, :, :16] = -10.0
    logits[:, 1, :, 8:24] = 0.0  # an uncertain band (|logit| = 0) covering half of the image
    coords = sample_uncertain_points(logits, num_points=100, oversample_ratio=3, importance_ratio=0.75)
    assert coords.shape == (1, 100, 2)
    x = coords[0, :75, 0] * 32
    assert ((x > 7) & (x < 25)).all()  # the 75 importance points all sit in the band
    assert not ((coords[0, 75:, 0] * 32 > 7) & (coords[0, 75:, 0] * 32 < 25)).all()  # the 25 fresh ones are uniform


def test_point_sample_reads_pixel_centres() -> None:
    values = torch.arange(4.0).view(1, 1, 2, 2)
    coords = torch.tensor([[[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]])
    torch.testing.assert_close(point_sample(values, coords), torch.arange(4.0).view(1, 1, 4))


def test_loss_computer_terms_and_weights() -> None:
    torch.manual_seed(0)
    batch, frames, h, w = 2, 3, 16, 16
    logits = [torch.randn(batch, 3, h, w) for _ in range(frames - 1)]
    aux = [{"sensory_logits": torch.randn(batch, 3, 4, 4), "q_logits": torch.randn(batch, 3, 2, 4, 4)}] * (frames - 1)
    cls_gt = torch.randint(0, 2, (batch, frames, h, w))
    losses = LossComputer(LossConfig(num_points=64))(logits, aux, cls_gt, [1, 2])
    expected = {"loss_ce", "loss_dice", "aux_sensory_ce", "aux_sensory_dice"} | {
        f"aux_query_{kind}_l{level}" for kind in ("ce", "dice") for level in range(2)
    }
    assert set(losses) == expected | {"total_loss"}
    total = sum(v for k, v in losses.items() if k != "total_loss")
    torch.testing.assert_close(losses["total_loss"], total)
    assert all(torch.isfinite(v) for v in losses.values())
