"""Key projection: the memory/query key, shrinkage and selection terms of Cutie's anisotropic L2 readout."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class KeyProjection(nn.Module):
    """Projects f16 to a key (orthogonal init), shrinkage `d²+1` and selection `sigmoid(e)`.

    Args:
        in_dim: channels of f16 (`ms_dims[0]`).
        pixel_dim: width of the intermediate projection (256).
        key_dim: key channels (64).
    """

    def __init__(self, in_dim: int, pixel_dim: int = 256, key_dim: int = 64) -> None:
        super().__init__()
        self.pix_feat_proj = nn.Conv2d(in_dim, pixel_dim, kernel_size=1)
        self.key_proj = nn.Conv2d(pixel_dim, key_dim, kernel_size=3, padding=1)
        self.d_proj = nn.Conv2d(pixel_dim, 1, kernel_size=3, padding=1)
        self.e_proj = nn.Conv2d(pixel_dim, key_dim, kernel_size=3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight.data)
        nn.init.zeros_(self.key_proj.bias.data)

    def forward(self, f16: Tensor, *, need_shrinkage: bool = True, need_selection: bool = True) -> tuple[Tensor, ...]:
        """f16: B C h w -> key B 64 h w, shrinkage B 1 h w (or None), selection B 64 h w (or None); fp32."""
        with torch.autocast(device_type=f16.device.type, enabled=False):
            x = self.pix_feat_proj(f16.float())
            key = self.key_proj(x)
            shrinkage = self.d_proj(x) ** 2 + 1 if need_shrinkage else None
            selection = torch.sigmoid(self.e_proj(x)) if need_selection else None
        return key, shrinkage, selection
