"""ResNet pixel (query) encoder of Cutie: stem + layer1..3, features at strides 16, 8 and 4."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torchvision.models import resnet18, resnet50

from s3.model.errors import ConfigurationError

ResNetArch = Literal["resnet18", "resnet50"]

RESNET_MS_DIMS: dict[str, tuple[int, int, int]] = {
    "resnet50": (1024, 512, 256),
    "resnet18": (256, 128, 64),
}


def build_resnet(arch: ResNetArch, weights: str | Path | None = None) -> nn.Module:
    """A torchvision ResNet without any download; ImageNet weights only from a local file the user gives."""
    model = {"resnet18": resnet18, "resnet50": resnet50}[arch](weights=None)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"ResNet weights file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        result = model.load_state_dict(state, strict=False)
        unexpected = [k for k in result.unexpected_keys]
        missing = [k for k in result.missing_keys if not k.startswith("fc.")]
        if missing or unexpected:
            raise ConfigurationError(
                f"{path}: not a torchvision {arch} state_dict (missing {missing}, unexpected {unexpected})"
            )
    return model


class FrozenBatchNormMixin:
    """Keeps every BatchNorm in eval mode (running statistics frozen; affine parameters still train)."""

    def train(self, mode: bool = True):  # type: ignore[override]
        super().train(mode)  # type: ignore[misc]
        for module in self.modules():  # type: ignore[attr-defined]
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self


class ResNetPixelEncoder(FrozenBatchNormMixin, nn.Module):
    """Cutie's pixel encoder: conv1/bn1/relu/maxpool, `res2` (= layer1), `layer2`, `layer3`.

    Args:
        arch: `resnet50` (Cutie-base, f16/f8/f4 = 1024/512/256 channels) or `resnet18` (Cutie-small, 256/128/64).
        weights: optional local torchvision ImageNet state_dict.
    """

    def __init__(self, arch: ResNetArch = "resnet50", weights: str | Path | None = None) -> None:
        super().__init__()
        resnet = build_resnet(arch, weights)
        self.ms_dims = RESNET_MS_DIMS[arch]
        self.conv1 = resnet.conv1
        self.bn1 = resnet.bn1
        self.relu = resnet.relu
        self.maxpool = resnet.maxpool
        self.res2 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3

    def forward(self, image: Tensor) -> list[Tensor]:
        """image: B 3 H W (ImageNet-normalised) -> [f16, f8, f4]."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return [f16, f8, f4]
