"""Object transformer: object queries and pixel features attend to each other under fg/bg masked attention."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.model.errors import ConfigurationError
from s3.model.layers import CAResBlock, GConv2d, SinusoidalPositionalEncoding2D, aggregate_with_background

ReadFromPixel = Literal["attention", "discriminative"]
DQNormalization = Literal["queries", "channels"]


class CrossAttention(nn.Module):
    """Pre-norm cross-attention whose residual is added to the *normalised* input (Cutie's convention).

    Positional encodings are added to queries and keys, not to values.

    Args:
        dim: token width.
        num_heads: attention heads.
        norm: apply LayerNorm to the input tokens (off for pixels reading from queries).
    """

    def __init__(self, dim: int, num_heads: int, norm: bool = True) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(dim) if norm else nn.Identity()

    def forward(
        self, x: Tensor, mem: Tensor, x_pe: Tensor, mem_pe: Tensor, attn_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """x: B L C, mem: B S C, pes alike, attn_mask: (B·heads) L S, bool (True = blocked) or additive float
        (-inf = blocked; what nn.MultiheadAttention turns a bool mask into, so both give the same output)
        -> (B L C, None)."""
        x = self.norm(x)
        if attn_mask is not None and attn_mask.is_floating_point() and attn_mask.dtype != x.dtype:
            attn_mask = attn_mask.to(x.dtype)  # 0 / -inf are exact in every float type
        out, _ = self.cross_attn(x + x_pe, mem + mem_pe, mem, attn_mask=attn_mask, need_weights=False)
        return x + out, None


class SelfAttention(nn.Module):
    """Pre-norm self-attention over queries; PE on queries and keys; residual on the normalised input."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, pe: Tensor) -> Tensor:
        """x, pe: B Q C -> B Q C."""
        x = self.norm(x)
        qk = x + pe
        return x + self.self_attn(qk, qk, x, need_weights=False)[0]


class FFN(nn.Module):
    """Pre-norm feed-forward (ReLU) with a standard residual."""

    def __init__(self, dim: int, ff_dim: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.linear2(F.relu(self.linear1(self.norm(x))))


class PixelFFN(nn.Module):
    """CAResBlock over the pixel stream, taking flattened tokens back to a map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = CAResBlock(dim, dim)

    def forward(self, pixel_flat: Tensor, batch: int, num_objects: int, h: int, w: int) -> Tensor:
        """pixel_flat: (B·N) (h·w) C -> B N C h w."""
        x = pixel_flat.transpose(1, 2).reshape(batch * num_objects, -1, h, w)
        x = self.conv(x)
        return x.view(batch, num_objects, -1, h, w)


class ObjectTransformerBlock(nn.Module):
    """read_from_pixel -> query self-attention -> FFN -> read_from_query -> pixel FFN.

    Args:
        read_from_pixel: `attention` (Cutie's masked MHA) or `discriminative` (S3's hard-selection DQ_CA).
        dq_normalization: where DQ_CA L2-normalises its gated product (`queries`: the release's behaviour).
    """

    def __init__(
        self,
        embed_dim: int = 256,
        num_heads: int = 8,
        ff_dim: int = 2048,
        read_from_pixel: ReadFromPixel = "attention",
        dq_normalization: DQNormalization = "queries",
    ) -> None:
        super().__init__()
        if read_from_pixel == "attention":
            self.read_from_pixel: nn.Module = CrossAttention(embed_dim, num_heads)
        elif read_from_pixel == "discriminative":
            from s3.model.discriminative_query import DiscriminativeQueryAttention

            self.read_from_pixel = DiscriminativeQueryAttention(embed_dim, num_heads, normalization=dq_normalization)
        else:
            raise ConfigurationError(
                f"read_from_pixel must be 'attention' or 'discriminative', got {read_from_pixel!r}"
            )
        self.self_attn = SelfAttention(embed_dim, num_heads)
        self.ffn = FFN(embed_dim, ff_dim)
        self.read_from_query = CrossAttention(embed_dim, num_heads, norm=False)
        self.pixel_ffn = PixelFFN(embed_dim)

    def forward(
        self, query: Tensor, pixel: Tensor, query_pe: Tensor, pixel_pe: Tensor, attn_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """query: (B·N) Q C, pixel: B N C h w, query_pe: (B·N) Q C, pixel_pe: (B·N) (h·w) C,
        attn_mask: (B·N·heads) Q (h·w) -> (query, pixel)."""
        batch, num_objects, _, h, w = pixel.shape
        pixel_flat = pixel.flatten(3, 4).flatten(0, 1).transpose(1, 2)  # (B·N) hw C
        query, _ = self.read_from_pixel(query, pixel_flat, query_pe, pixel_pe, attn_mask)
        query = self.self_attn(query, query_pe)
        query = self.ffn(query)
        pixel_flat, _ = self.read_from_query(pixel_flat, query, pixel_pe, query_pe)
        return query, self.pixel_ffn(pixel_flat, batch, num_objects, h, w)


class ObjectTransformer(nn.Module):
    """Cutie's query transformer; S3 swaps `read_from_pixel` for the discriminative query.

    Args:
        embed_dim: token width (256).
        num_queries: Q object queries (16 Cutie, 8 S3).
        num_blocks: transformer blocks (3 Cutie, 5 S3).
        num_heads: attention heads (8).
        ff_dim: FFN hidden width (2048).
        pe_scale / pe_temperature: pixel sinusoidal PE settings.
        read_from_pixel / dq_normalization: see `ObjectTransformerBlock`.
    """

    def __init__(
        self,
        embed_dim: int = 256,
        num_queries: int = 16,
        num_blocks: int = 3,
        num_heads: int = 8,
        ff_dim: int = 2048,
        pe_scale: float = 32.0,
        pe_temperature: float = 128.0,
        read_from_pixel: ReadFromPixel = "attention",
        dq_normalization: DQNormalization = "queries",
    ) -> None:
        super().__init__()
        if num_queries % 2:
            raise ConfigurationError(f"num_queries must be even (half foreground, half background), got {num_queries}")
        self.embed_dim = embed_dim
        self.num_queries = num_queries
        self.num_heads = num_heads
        self.query_init = nn.Embedding(num_queries, embed_dim)
        self.query_emb = nn.Embedding(num_queries, embed_dim)
        self.summary_to_query_init = nn.Linear(embed_dim, embed_dim)
        self.summary_to_query_emb = nn.Linear(embed_dim, embed_dim)
        self.pixel_init_proj = GConv2d(embed_dim, embed_dim, kernel_size=1)
        self.pixel_emb_proj = GConv2d(embed_dim, embed_dim, kernel_size=1)
        self.read_from_pixel = read_from_pixel
        self.spatial_pe = SinusoidalPositionalEncoding2D(embed_dim, scale=pe_scale, temperature=pe_temperature)
        self.blocks = nn.ModuleList(
            ObjectTransformerBlock(embed_dim, num_heads, ff_dim, read_from_pixel, dq_normalization)
            for _ in range(num_blocks)
        )
        self.mask_pred = nn.ModuleList(
            nn.Sequential(nn.ReLU(), GConv2d(embed_dim, 1, kernel_size=1)) for _ in range(num_blocks + 1)
        )

    def forward(
        self, pixel: Tensor, object_memory: Tensor, selector: Tensor | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """pixel: B N C h w, object_memory: B N T Q (C+1), selector: B N 1 1 or None.

        Returns the refined pixel stream B N C h w and the num_blocks+1 aux logits (each B N h w).
        """
        batch, num_objects, _, h, w = pixel.shape
        t = object_memory.shape[2]
        memory = object_memory.view(batch * num_objects, t, self.num_queries, self.embed_dim + 1)
        values = memory[..., :-1].sum(dim=1) / (memory[..., -1:].sum(dim=1) + 1e-4)  # (B·N) Q C
        values = values.to(pixel.dtype)
        query = self.query_init.weight.unsqueeze(0) + self.summary_to_query_init(values)
        query_pe = self.query_emb.weight.unsqueeze(0) + self.summary_to_query_emb(values)

        pixel_emb = self.pixel_emb_proj(pixel).flatten(3, 4).flatten(0, 1).transpose(1, 2)  # (B·N) hw C
        pixel_pe = self.spatial_pe(h, w).flatten(0, 1).unsqueeze(0).to(pixel_emb.dtype) + pixel_emb
        pixel = self.pixel_init_proj(pixel)

        aux_logits = [self.mask_pred[0](pixel).squeeze(2)]
        additive = self.read_from_pixel == "attention"  # multi-head attention takes the float form as it is
        for i, block in enumerate(self.blocks):
            # each block reads under the mask of the previous logits (none is built after the last block)
            attn_mask = self.attention_mask(aux_logits[-1], selector, additive=additive)
            query, pixel = block(query, pixel, query_pe, pixel_pe, attn_mask)
            aux_logits.append(self.mask_pred[i + 1](pixel).squeeze(2))
        return pixel, aux_logits

    def attention_mask(self, logits: Tensor, selector: Tensor | None, *, additive: bool = False) -> Tensor:
        """Foreground queries see only pixels the object owns, background queries only the others.

        logits: B N h w -> bool mask (B·N·heads) Q (h·w), True = blocked; fully-blocked rows are unblocked.
        additive: return it as an fp32 additive mask instead (0 = open, -inf = blocked), built from the per-object
        rows, so multi-head attention does not convert the full bool mask itself in every block.
        """
        prob = torch.sigmoid(logits.float())
        if selector is not None:
            prob = prob * selector.view(*prob.shape[:2], 1, 1)
        agg = aggregate_with_background(prob, dim=1)
        owned = (agg[:, 1:] >= agg.max(dim=1, keepdim=True).values).flatten(2)  # B N hw
        # Every foreground query row of an object is the same, and so is every background row, for every head: the
        # two rows are built once per object (a row blocked everywhere is unblocked: foreground rows when the
        # object owns no pixel, background rows when it owns them all) and only then copied out to all heads and
        # queries, in one pass (no boolean ops over the (B·N·heads) Q hw mask).
        fg_blocked = ~owned & owned.any(dim=-1, keepdim=True)
        bg_blocked = owned & ~owned.all(dim=-1, keepdim=True)
        rows = torch.stack([fg_blocked, bg_blocked], dim=2)  # B N 2 hw
        if additive:
            rows = torch.zeros(rows.shape, device=rows.device).masked_fill_(rows, float("-inf"))
        batch, num_objects, _, hw = rows.shape
        half = self.num_queries // 2
        shape = (batch, num_objects, self.num_heads, 2, half, hw)
        return rows[:, :, None, :, None].expand(shape).reshape(batch * num_objects * self.num_heads, -1, hw)
