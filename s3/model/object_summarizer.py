"""Object summarizer: compresses each object's mask value into Q weighted summaries (object memory)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3.model.errors import ConfigurationError
from s3.model.layers import SinusoidalPositionalEncoding2D, area_resize


class ObjectSummarizer(nn.Module):
    """Summaries of an object's foreground (first Q/2) and background (last Q/2) regions.

    Args:
        value_dim: mask value channels.
        embed_dim: summary channels.
        num_summaries: Q (equals the object transformer's number of queries).
        pe_scale / pe_temperature: sinusoidal positional encoding settings.
    """

    def __init__(
        self,
        value_dim: int = 256,
        embed_dim: int = 256,
        num_summaries: int = 16,
        pe_scale: float = 32.0,
        pe_temperature: float = 128.0,
    ) -> None:
        super().__init__()
        if num_summaries % 2:
            raise ConfigurationError(
                f"num_summaries must be even (half foreground, half background), got {num_summaries}"
            )
        self.num_summaries = num_summaries
        self.pos_enc = SinusoidalPositionalEncoding2D(embed_dim, scale=pe_scale, temperature=pe_temperature)
        self.input_proj = nn.Linear(value_dim, embed_dim)
        self.feature_pred = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))
        self.weights_pred = nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, num_summaries)
        )

    def forward(self, masks: Tensor, value: Tensor) -> Tensor:
        """masks: B N H W (full resolution), value: B N C h w -> summaries B N Q (E+1): weighted sums and area."""
        h, w = value.shape[-2:]
        masks = area_resize(masks, h / masks.shape[-2]).unsqueeze(-1)  # B N h w 1
        half = self.num_summaries // 2
        summary_masks = torch.cat([masks.expand(-1, -1, -1, -1, half), (1 - masks).expand(-1, -1, -1, -1, half)], -1)
        value = self.input_proj(value.permute(0, 1, 3, 4, 2))  # B N h w E
        value = value + self.pos_enc(h, w).to(value.dtype)
        with torch.autocast(device_type=value.device.type, enabled=False):
            value = value.float()
            feature = self.feature_pred(value)
            weights = torch.sigmoid(self.weights_pred(value)) * summary_masks.float()  # B N h w Q
            sums = torch.einsum("bnhwq,bnhwc->bnqc", weights, feature)
            area = weights.flatten(2, 3).sum(dim=2).unsqueeze(-1)
        return torch.cat([sums, area], dim=-1)
