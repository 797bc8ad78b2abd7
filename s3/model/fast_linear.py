"""A drop-in `nn.Linear` that runs large CPU inference matmuls through oneDNN's 1×1 convolution.

On multi-core CPUs PyTorch's fp32 `F.linear` goes to MKL's sgemm, which scales poorly from one core to two on the
shapes of this model; viewing the B·N tokens as a channels-last 1×N map (no copy) and calling `F.conv2d` lets
oneDNN do the same product 1.25-1.4× faster with 2 threads (equal with 1). Whenever autograd needs the product's
gradient, under autocast, off the CPU and for small inputs, `F.linear` is used as before.

Only the prepared inference network uses it (`s3.model.deploy.prepare_for_inference` swaps every plain `nn.Linear`
for an `OneDNNLinear` there); the reference modules call `F.linear`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MIN_ROWS", "OneDNNLinear", "linear", "onednn_eligible"]

MIN_ROWS = 256  # below this many rows the convolution's setup cost outweighs the gain (read at call time)


def onednn_eligible(x: Tensor, weight: Tensor) -> bool:
    """True when `linear(x, weight)` goes through oneDNN: fp32 on the CPU, at least `MIN_ROWS` rows, no autocast,
    and no gradient needed."""
    in_features = x.shape[-1]
    rows = x.numel() // in_features if in_features else 0
    return not (
        x.device.type != "cpu"
        or x.dtype != torch.float32
        or weight.dtype != torch.float32
        or rows < MIN_ROWS
        or torch.is_autocast_enabled("cpu")
        or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
    )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`F.linear(x, weight, bias)`, through a channels-last 1×1 convolution for large fp32 CPU inference inputs."""
    if not onednn_eligible(x, weight):
        return F.linear(x, weight, bias)
    in_features = x.shape[-1]
    rows = x.numel() // in_features
    tokens = x.reshape(1, 1, rows, in_features).permute(0, 3, 1, 2)  # 1 C 1 rows, channels-last strides
    out = F.conv2d(tokens, weight[:, :, None, None], bias)
    return out.permute(0, 2, 3, 1).reshape(*x.shape[:-1], weight.shape[0])


class OneDNNLinear(nn.Linear):
    """`nn.Linear` whose forward is `linear` above (same parameters, same state-dict keys)."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)
