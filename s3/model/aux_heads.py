"""Auxiliary heads used only by the training losses."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3.model.layers import GConv2d, aggregate_with_background


class LinearPredictor(nn.Module):
    """Predicts per-object logits as a linear function of the pixel feature whose weights come from a group map."""

    def __init__(self, x_dim: int, pix_dim: int) -> None:
        super().__init__()
        self.projection = GConv2d(pix_dim, x_dim + 1, kernel_size=1)

    def forward(self, pix_feat: Tensor, group: Tensor) -> Tensor:
        """pix_feat: B C h w, group: B N S h w -> logits B N h w."""
        weights = self.projection(group)
        return (pix_feat.unsqueeze(1) * weights[:, :, :-1]).sum(dim=2) + weights[:, :, -1]


def _aggregate_logits(logits: Tensor, selector: Tensor | None) -> Tensor:
    prob = torch.sigmoid(logits.float())
    if selector is not None:
        prob = prob * selector.view(*prob.shape[:2], *([1] * (prob.dim() - 2)))
    return aggregate_with_background(prob, dim=1)


class AuxComputer(nn.Module):
    """Sensory aux logits and the object transformer's per-block aux logits, aggregated with background."""

    def __init__(self, pixel_dim: int = 256, sensory_dim: int = 256) -> None:
        super().__init__()
        self.sensory_aux = LinearPredictor(pixel_dim, sensory_dim)

    def forward(self, pix_feat: Tensor, sensory: Tensor, query_logits: list[Tensor], selector: Tensor | None) -> dict:
        """pix_feat: B C h w, sensory: B N S h w, query_logits: L × (B N h w), selector: B N.

        Returns `sensory_logits` B (N+1) h w and `q_logits` B (N+1) L h w.
        """
        sensory_logits = _aggregate_logits(self.sensory_aux(pix_feat, sensory), selector)
        q_logits = _aggregate_logits(torch.stack(query_logits, dim=2), selector)
        return {"sensory_logits": sensory_logits, "q_logits": q_logits}
