"""Exact folding of consecutive linear maps (eval-mode BatchNorm, 1×1 conv, transposed conv) into one.

Used by the inference forms (`s3.model.inference_forms`) to project wide feature maps to the decoder's narrow skip
features *before* upsampling them: the algebra is exact; only floating-point rounding differs from running the maps
one after the other.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3.model.fast_linear import linear

__all__ = ["batchnorm_affine", "fold_norm_into_projection", "project_transposed_conv", "project_tokens_to_map"]


def batchnorm_affine(norm: nn.BatchNorm2d) -> tuple[Tensor, Tensor] | None:
    """`(scale, shift)` with `norm(x) = scale * x + shift` per channel, or None while `norm` uses batch statistics."""
    if norm.training or norm.running_mean is None or norm.running_var is None:
        return None
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return scale, shift


def fold_norm_into_projection(norm: nn.BatchNorm2d, projection: nn.Conv2d) -> tuple[Tensor, Tensor] | None:
    """The matrix `W` (O C) and bias `b` (O) with `projection(norm(x)) = W x + b` for a 1×1 `projection`.

    Returns None when `norm` is in training mode (its statistics depend on the batch) or the projection is not
    a plain 1×1 convolution.
    """
    affine = batchnorm_affine(norm)
    if affine is None or projection.kernel_size != (1, 1) or projection.groups != 1 or projection.stride != (1, 1):
        return None
    scale, shift = affine
    weight = projection.weight[:, :, 0, 0]
    bias = weight @ shift
    if projection.bias is not None:
        bias = bias + projection.bias
    return weight * scale[None, :], bias


def project_transposed_conv(conv: nn.ConvTranspose2d, matrix: Tensor) -> tuple[Tensor, Tensor]:
    """Weight and bias of the transposed convolution equal to `matrix @ conv(x)` (matrix: O × conv.out_channels).

    `conv` must have groups 1, no output padding and dilation 1 (the kernel is simply re-mixed along its
    output channels).
    """
    if conv.groups != 1 or conv.output_padding != (0, 0) or conv.dilation != (1, 1):
        raise ValueError("project_transposed_conv: only plain transposed convolutions can be folded")
    weight = torch.einsum("ok,ckhw->cohw", matrix, conv.weight)
    bias = matrix @ conv.bias if conv.bias is not None else matrix.new_zeros(matrix.shape[0])
    return weight, bias


def project_tokens_to_map(tokens: Tensor, matrix: Tensor, grid: tuple[int, int], bias: Tensor | None = None) -> Tensor:
    """tokens B (h·w) C, matrix O × C -> B O h w, contiguous (`matrix` and `bias` applied to every token)."""
    batch = tokens.shape[0]
    projected = linear(tokens, matrix, bias)
    return projected.transpose(1, 2).reshape(batch, matrix.shape[0], *grid).contiguous()
