"""Pixel feature fuser: combines the pixel memory readout with sensory memory and the previous mask."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3.model.layers import GConv2d, GroupFeatureFusionBlock
from s3.model.mask_encoder import others_mask


class PixelFeatureFuser(nn.Module):
    """`readout + sensory_compress([sensory, last_mask, others])`, then fused with the pixel feature.

    Args:
        pixel_dim: shared pixel feature channels.
        value_dim: readout channels.
        sensory_dim: sensory memory channels.
        embed_dim: output channels (the object transformer width).
        single_object: no "others" channel.
    """

    def __init__(
        self,
        pixel_dim: int = 256,
        value_dim: int = 256,
        sensory_dim: int = 256,
        embed_dim: int = 256,
        single_object: bool = False,
    ) -> None:
        super().__init__()
        self.single_object = single_object
        self.fuser = GroupFeatureFusionBlock(pixel_dim, value_dim, embed_dim)
        extra = 1 if single_object else 2
        self.sensory_compress = GConv2d(sensory_dim + extra, value_dim, kernel_size=1)

    def forward(self, pix_feat: Tensor, readout: Tensor, sensory: Tensor, last_mask: Tensor) -> Tensor:
        """pix_feat: B C h w, readout: B N V h w, sensory: B N S h w, last_mask: B N h w -> B N E h w."""
        parts = [sensory, last_mask.unsqueeze(2)]
        if not self.single_object:
            parts.append(others_mask(last_mask).unsqueeze(2))
        compressed = self.sensory_compress(torch.cat(parts, dim=2).to(readout.dtype))
        return self.fuser(pix_feat, readout + compressed)
