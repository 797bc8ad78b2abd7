"""Small building blocks shared by the Cutie and S3 networks.

"Group" tensors carry an object axis (B N C H W); shared tensors (B C H W) are broadcast over objects.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GConv2d(nn.Conv2d):
    """A 2-D convolution applied to a group tensor B N C H W by folding B·N into the batch axis."""

    def forward(self, g: Tensor) -> Tensor:
        batch, num_objects = g.shape[:2]
        out = super().forward(g.flatten(0, 1))
        return out.view(batch, num_objects, *out.shape[1:])


def fold_objects(g: Tensor) -> Tensor:
    """B N C H W -> (B·N) C H W."""
    return g.flatten(0, 1)


def unfold_objects(x: Tensor, num_objects: int) -> Tensor:
    """(B·N) C H W -> B N C H W."""
    return x.view(-1, num_objects, *x.shape[1:])


def eca_kernel_size(channels: int) -> int:
    """ECA-Net rule for the 1-D channel-attention kernel: odd, growing with log2(channels) (5 for 256)."""
    t = int((abs(math.log2(channels)) + 1) // 2)
    return t if t % 2 else t + 1


class CAResBlock(nn.Module):
    """Residual block (two 3×3 convs, pre-activation ReLU, no norm) with ECA-style channel attention.

    Args:
        in_dim: input channels.
        out_dim: output channels; a 1×1 conv skip is added when it differs from `in_dim`.
        residual: add the skip connection.
    """

    def __init__(self, in_dim: int, out_dim: int, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1)
        k = eca_kernel_size(out_dim)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)
        self.downsample = nn.Conv2d(in_dim, out_dim, kernel_size=1) if residual and in_dim != out_dim else None

    def forward(self, x: Tensor) -> Tensor:
        """x: B C H W -> B C' H W."""
        skip = x
        x = self.conv2(F.relu(self.conv1(F.relu(x))))
        weights = F.adaptive_avg_pool2d(x, 1).flatten(1).unsqueeze(1)  # B 1 C
        weights = torch.sigmoid(self.conv(weights)).transpose(1, 2).unsqueeze(-1)  # B C 1 1
        x = x * weights
        if self.residual:
            x = x + (skip if self.downsample is None else self.downsample(skip))
        return x


class GroupResBlock(nn.Module):
    """Residual block on group tensors: two 3×3 GConvs with pre-activation ReLU, identity or 1×1 GConv skip."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        # Registered before the convs so the state_dict order matches the official checkpoints.
        self.downsample = GConv2d(in_dim, out_dim, kernel_size=1) if in_dim != out_dim else None
        self.conv1 = GConv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv2 = GConv2d(out_dim, out_dim, kernel_size=3, padding=1)

    def forward(self, g: Tensor) -> Tensor:
        """g: B N C H W -> B N C' H W."""
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        return out + (g if self.downsample is None else self.downsample(g))


class MainToGroupDistributor(nn.Module):
    """Projects a shared map and a group map to a common width and broadcast-adds them."""

    def __init__(self, x_dim: int, g_dim: int, out_dim: int) -> None:
        super().__init__()
        self.x_transform = nn.Conv2d(x_dim, out_dim, kernel_size=1)
        self.g_transform = GConv2d(g_dim, out_dim, kernel_size=1)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        """x: B C H W, g: B N C' H W -> B N D H W."""
        return self.g_transform(g) + self.x_transform(x).unsqueeze(1)


class GroupFeatureFusionBlock(nn.Module):
    """Fuses a shared map into a group map: distributor, then two CAResBlocks over B·N."""

    def __init__(self, x_dim: int, g_dim: int, out_dim: int) -> None:
        super().__init__()
        self.distributor = MainToGroupDistributor(x_dim, g_dim, out_dim)
        self.block1 = CAResBlock(out_dim, out_dim)
        self.block2 = CAResBlock(out_dim, out_dim)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        """x: B C H W, g: B N C' H W -> B N D H W."""
        num_objects = g.shape[1]
        g = fold_objects(self.distributor(x, g))
        g = self.block2(self.block1(g))
        return unfold_objects(g, num_objects)


def gru_update(hidden: Tensor, gates: Tensor) -> Tensor:
    """GRU-style update of a hidden state from 3·C gate channels (forget, update, candidate).

    hidden: B N C H W; gates: B N 3C H W. Computed in fp32.
    """
    dim = hidden.shape[2]
    gates = gates.float()
    forget = torch.sigmoid(gates[:, :, :dim])
    update = torch.sigmoid(gates[:, :, dim : 2 * dim])
    candidate = torch.tanh(gates[:, :, 2 * dim :])
    return forget * hidden.float() * (1 - update) + update * candidate


class SinusoidalPositionalEncoding2D(nn.Module):
    """Fixed 2-D sinusoidal encoding: `[column part, row part]`, each interleaving sin/cos.

    Coordinates are normalised to [0, scale] along each axis. `inv_freq` is a persistent buffer because it is part
    of the official checkpoints.

    Args:
        dim: output channels (256).
        scale: coordinate range after normalisation (`pixel_pe_scale`, 32).
        temperature: frequency base (`pixel_pe_temperature`, 128).
    """

    def __init__(self, dim: int = 256, scale: float = 32.0, temperature: float = 128.0) -> None:
        super().__init__()
        self.dim = dim
        self.scale = scale
        self.half = int(math.ceil(dim / 4) * 2)
        inv_freq = 1.0 / (temperature ** (torch.arange(0, self.half, 2).float() / self.half))
        self.register_buffer("inv_freq", inv_freq)
        self._cache: tuple[tuple[int, int, torch.device], Tensor] | None = None

    def _axis(self, length: int, device: torch.device) -> Tensor:
        pos = torch.arange(length, device=device, dtype=self.inv_freq.dtype)
        pos = pos / (pos[-1:] + 1e-6) * self.scale
        angles = pos[:, None] * self.inv_freq[None, :]
        return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # L half

    def forward(self, height: int, width: int) -> Tensor:
        """Returns the encoding as H W dim (channel-last), cached per size and device."""
        key = (height, width, self.inv_freq.device)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        emb_x = self._axis(width, self.inv_freq.device)  # W half
        emb_y = self._axis(height, self.inv_freq.device)  # H half
        emb = torch.cat([emb_x[None, :, :].expand(height, -1, -1), emb_y[:, None, :].expand(-1, width, -1)], dim=-1)[
            ..., : self.dim
        ]
        self._cache = (key, emb)
        return emb


def aggregate_with_background(prob: Tensor, dim: int = 1) -> Tensor:
    """Soft aggregation: prepend background `Π(1-p)` along `dim` and return logits of the N+1 channels.

    prob: B N ... in [0, 1] -> B (N+1) ... logits. Always fp32.
    """
    prob = prob.float()
    background = torch.prod(1 - prob, dim=dim, keepdim=True)
    stacked = torch.cat([background, prob], dim=dim).clamp(1e-7, 1 - 1e-7)
    return torch.log(stacked / (1 - stacked))


def area_resize(x: Tensor, scale: float) -> Tensor:
    """Area (average) down-sampling of the last two axes of a 4-D or 5-D tensor by `scale` (e.g. 1/16)."""
    if x.dim() == 5:
        batch, num_objects = x.shape[:2]
        out = F.interpolate(x.flatten(0, 1), scale_factor=scale, mode="area")
        return out.view(batch, num_objects, *out.shape[1:])
    return F.interpolate(x, scale_factor=scale, mode="area")


def upsample_group(g: Tensor, scale: float = 2.0, mode: str = "bilinear") -> Tensor:
    """Bilinear up-sampling of a group tensor B N C H W."""
    batch, num_objects = g.shape[:2]
    out = F.interpolate(g.flatten(0, 1), scale_factor=scale, mode=mode, align_corners=False)
    return out.view(batch, num_objects, *out.shape[1:])
