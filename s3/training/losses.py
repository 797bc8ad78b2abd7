"""Training losses: PointRend-style point-sampled cross-entropy and soft dice, plus the aux terms.

The numerics follow Cutie's training exactly: uncertainty-guided point sampling without gradient, CE with
soft targets summed over frames and averaged over points, dice on softmax probabilities (background excluded)
summed over frames and averaged over objects, each divided by the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def point_sample(values: Tensor, coords: Tensor) -> Tensor:
    """Bilinear samples of `values` (B C H W) at normalised [0, 1] `coords` (B P 2, x-y) -> B C P."""
    grid = 2.0 * coords.unsqueeze(2) - 1.0
    return F.grid_sample(values, grid.to(values.dtype), mode="bilinear", align_corners=False).squeeze(3)


def point_uncertainty(logits: Tensor) -> Tensor:
    """B C P logits -> B 1 P uncertainty: −|logit₁| for two classes, else second-best minus best logit."""
    if logits.shape[1] == 2:
        return -logits[:, 1:2].abs()
    top2 = torch.topk(logits, k=2, dim=1).values
    return (top2[:, 1] - top2[:, 0]).unsqueeze(1)


def sample_uncertain_points(
    logits: Tensor, num_points: int, oversample_ratio: float, importance_ratio: float, generator=None
) -> Tensor:
    """Oversample uniform points, keep the most uncertain `importance_ratio` of `num_points`, add fresh ones.

    logits: B C H W -> coords B num_points 2 in [0, 1].
    """
    batch = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    device = logits.device
    coords = torch.rand(batch, num_sampled, 2, device=device, generator=generator)
    uncertainty = point_uncertainty(point_sample(logits, coords))
    num_uncertain = int(importance_ratio * num_points)
    index = torch.topk(uncertainty[:, 0], k=num_uncertain, dim=1).indices
    chosen = torch.gather(coords, 1, index.unsqueeze(-1).expand(-1, -1, 2))
    num_random = num_points - num_uncertain
    if num_random > 0:
        fresh = torch.rand(batch, num_random, 2, device=device, generator=generator)
        chosen = torch.cat([chosen, fresh], dim=1)
    return chosen


def soft_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """T C P logits and soft targets -> CE summed over frames, averaged over points."""
    return F.cross_entropy(logits, target, reduction="none").sum(0).mean()


def soft_dice(prob: Tensor, target: Tensor) -> Tensor:
    """T C P probabilities and targets -> dice over objects (background channel dropped), sum over T, mean over N."""
    prob = prob[:, 1:]
    target = target[:, 1:].float()
    numerator = 2 * (prob * target).sum(-1)
    denominator = prob.sum(-1) + target.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum(0).mean()


@dataclass(frozen=True)
class LossConfig:
    """Point supervision and aux-loss weights (Cutie's defaults)."""

    num_points: int = 12544
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    sensory_weight: float = 0.01
    query_weight: float = 0.01


class LossComputer:
    """Computes every loss term of one unrolled batch."""

    def __init__(self, config: LossConfig) -> None:
        self.config = config

    def mask_loss(self, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """logits: T C h w (any resolution), target: T C H W one-hot -> (CE, dice) on sampled points."""
        cfg = self.config
        with torch.no_grad():
            coords = sample_uncertain_points(
                logits.float(), cfg.num_points, cfg.oversample_ratio, cfg.importance_sample_ratio
            )
            point_target = point_sample(target.float(), coords)
        point_logits = point_sample(logits.float(), coords)
        return soft_cross_entropy(point_logits, point_target), soft_dice(point_logits.softmax(dim=1), point_target)

    def __call__(
        self, logits: list[Tensor], aux: list[dict[str, Tensor]], cls_gt: Tensor, num_objects: list[int]
    ) -> dict[str, Tensor]:
        """logits: per predicted frame B (N+1) H W; aux: per frame dict; cls_gt: B T H W index masks.

        `num_objects[b]` is the number of real objects of element b; only those channels are supervised.
        """
        batch = cls_gt.shape[0]
        losses: dict[str, Tensor] = {}

        def add(name: str, value: Tensor) -> None:
            losses[name] = losses.get(name, 0.0) + value

        for b in range(batch):
            n = num_objects[b] + 1
            target = F.one_hot(cls_gt[b, 1:].long(), num_classes=n)
            target = target.permute(0, 3, 1, 2)  # (T-1) C H W
            frame_logits = torch.stack([lg[b, :n] for lg in logits], dim=0)
            ce, dice = self.mask_loss(frame_logits, target)
            add("loss_ce", ce / batch)
            add("loss_dice", dice / batch)
            if aux and "sensory_logits" in aux[0]:
                sensory = torch.stack([a["sensory_logits"][b, :n] for a in aux], dim=0)
                ce, dice = self.mask_loss(sensory, target)
                add("aux_sensory_ce", ce / batch * self.config.sensory_weight)
                add("aux_sensory_dice", dice / batch * self.config.sensory_weight)
            if aux and "q_logits" in aux[0]:
                for level in range(aux[0]["q_logits"].shape[2]):
                    query = torch.stack([a["q_logits"][b, :n, level] for a in aux], dim=0)
                    ce, dice = self.mask_loss(query, target)
                    add(f"aux_query_ce_l{level}", ce / batch * self.config.query_weight)
                    add(f"aux_query_dice_l{level}", dice / batch * self.config.query_weight)
        losses["total_loss"] = sum(losses.values())
        return losses
