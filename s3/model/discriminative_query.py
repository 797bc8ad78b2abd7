"""Discriminative-query cross-attention (S3's replacement of Cutie's `read_from_pixel`).

Instead of a soft attention over pixels, every head of every object query picks the single most similar pixel
(cosine similarity, within the query's fg/bg mask) and takes that pixel's feature; a gated update mixes it back.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.model.errors import ConfigurationError

__all__ = ["DiscriminativeQueryAttention"]


class DiscriminativeQueryAttention(nn.Module):
    """Masked hard-selection cross-attention from object queries to pixel tokens.

    Args:
        dim: channels of queries and pixels (C).
        num_heads: heads (M); each head selects its own pixel from a `C/M` slice.
        normalization: axis of the L2 normalisation of the gated product. "queries" (the release's behaviour)
            normalises each channel across the Q queries; "channels" normalises each query over its channels.
    """

    def __init__(
        self, dim: int = 256, num_heads: int = 8, normalization: Literal["queries", "channels"] = "queries"
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigurationError(f"DiscriminativeQueryAttention: dim {dim} is not divisible by {num_heads} heads")
        if normalization not in ("queries", "channels"):
            raise ConfigurationError(
                f"DiscriminativeQueryAttention: normalization must be 'queries' or 'channels', got {normalization!r}"
            )
        self.dim = dim
        self.num_heads = num_heads
        self.normalization = normalization
        self.alpha = nn.Parameter(torch.ones(1, 1, dim))
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)
        self.final = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        pixel: Tensor,
        x_pe: Tensor,
        pixel_pe: Tensor,
        attn_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Update the queries from their most similar pixels.

        Args:
            x: B' Q C object queries (B' = B·N).
            pixel: B' HW C pixel tokens.
            x_pe: B' Q C query positional embedding.
            pixel_pe: B' HW C pixel positional embedding (added to the selected features too).
            attn_mask: (B'·M) Q HW bool, True = blocked, object-major/head-minor as in nn.MultiheadAttention; rows
                blocked everywhere must already be unblocked.

        Returns:
            new queries B' Q C and the similarity B' M HW Q (blocked entries are -inf).
        """
        batch, num_queries, channels = x.shape
        num_pixels = pixel.shape[1]
        heads, head_dim = self.num_heads, channels // self.num_heads
        residual = self.norm(x)
        # Similarities and the argmax in fp32 even under autocast: bf16 rounding would change which pixel wins.
        with torch.autocast(device_type=x.device.type, enabled=False):
            pixel_unit = F.normalize((pixel + pixel_pe).float(), dim=-1)  # B' HW C
            query_unit = F.normalize((residual + x_pe).float(), dim=-1)  # B' Q C
            pixel_heads = pixel_unit.view(batch, num_pixels, heads, head_dim).transpose(1, 2)  # B' M HW D
            query_heads = query_unit.view(batch, num_queries, heads, head_dim).transpose(1, 2)  # B' M Q D
            similarity = torch.matmul(pixel_heads, query_heads.transpose(-1, -2))  # B' M HW Q
        if attn_mask is not None:
            blocked = attn_mask.view(batch, heads, num_queries, num_pixels).transpose(-1, -2)
            similarity = similarity.masked_fill(blocked, float("-inf"))
        selected = similarity.argmax(dim=2)  # B' M Q
        picked = torch.gather(pixel_heads, 2, selected[..., None].expand(-1, -1, -1, head_dim))  # B' M Q D
        picked = picked.transpose(1, 2).reshape(batch, num_queries, channels).to(residual.dtype)

        gate = self.proj(picked * query_unit.to(residual.dtype))
        gate = F.normalize(gate, dim=1 if self.normalization == "queries" else -1)
        out = gate * self.alpha + picked
        return self.final(out) + residual, similarity
