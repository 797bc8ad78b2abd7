"""ConvFFN of the spatial extractor: an MLP with a depth-wise 3×3 conv over the two token grids in between."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3.model.errors import ConfigurationError

__all__ = ["ConvFFN", "TwoScaleDWConv"]


class TwoScaleDWConv(nn.Module):
    """One depth-wise 3×3 conv applied separately to the stride-8 and stride-16 parts of the spatial tokens.

    The tokens are `[stride-8 grid (2h×2w); stride-16 grid (h×w)]`; the split is at exactly `4hw`. (Upstream
    derives it as `16 · (N // 20)`, which equals `4hw` whenever `hw` is divisible by 4 and fails to reshape
    otherwise, so no switch is needed to reproduce it.)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=channels, bias=True)

    def forward(self, tokens: Tensor, grid: tuple[int, int]) -> Tensor:
        """tokens: B 5hw C, grid: (h, w) of the stride-16 level -> B 5hw C."""
        batch, num_tokens, channels = tokens.shape
        grid_h, grid_w = grid
        fine = 4 * grid_h * grid_w
        if num_tokens != 5 * grid_h * grid_w:
            raise ConfigurationError(
                f"ConvFFN: {num_tokens} tokens do not form a {2 * grid_h}×{2 * grid_w} plus {grid_h}×{grid_w} grid pair"
            )
        # B N C tokens of a row-major grid are a channels-last B C H W map: no transposed copies either way.
        fine_map = tokens[:, :fine].view(batch, 2 * grid_h, 2 * grid_w, channels).permute(0, 3, 1, 2)
        coarse_map = tokens[:, fine:].view(batch, grid_h, grid_w, channels).permute(0, 3, 1, 2)
        fine_out = self.dwconv(fine_map).permute(0, 2, 3, 1).reshape(batch, fine, channels)
        coarse_out = self.dwconv(coarse_map).permute(0, 2, 3, 1).reshape(batch, num_tokens - fine, channels)
        return torch.cat([fine_out, coarse_out], dim=1)


class ConvFFN(nn.Module):
    """`fc2(GELU(dwconv(fc1(x))))` on the spatial tokens.

    Args:
        dim: token channels (768).
        hidden_dim: hidden channels (`cffn_ratio · dim` = 192).
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = TwoScaleDWConv(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, tokens: Tensor, grid: tuple[int, int]) -> Tensor:
        """tokens: B 5hw C, grid: (h, w) of the stride-16 level -> B 5hw C."""
        return self.fc2(self.act(self.dwconv(self.fc1(tokens), grid)))
