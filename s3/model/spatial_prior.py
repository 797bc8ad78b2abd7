"""Spatial prior module (SPM): a small CNN that gives the adapter its stride-4/8/16 spatial tokens."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["SpatialPriorModule"]


def conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class SpatialPriorModule(nn.Module):
    """ResNet-like stem to stride 4, two stride-2 convs to strides 8 and 16, 1×1 projections to `embed_dim`.

    The BatchNorms are trained with batch statistics (upstream uses SyncBatchNorm; convert with
    `nn.SyncBatchNorm.convert_sync_batchnorm` for multi-GPU runs — the state-dict keys are the same).

    Args:
        inplanes: stem channels (64); stride 8 and 16 use 2× and 4× that.
        embed_dim: output channels (the ViT width, 768).
    """

    def __init__(self, inplanes: int = 64, embed_dim: int = 768) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *conv_bn_relu(3, inplanes, stride=2),
            *conv_bn_relu(inplanes, inplanes, stride=1),
            *conv_bn_relu(inplanes, inplanes, stride=1),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.conv2 = nn.Sequential(*conv_bn_relu(inplanes, 2 * inplanes, stride=2))
        self.conv3 = nn.Sequential(*conv_bn_relu(2 * inplanes, 4 * inplanes, stride=2))
        self.fc1 = nn.Conv2d(inplanes, embed_dim, kernel_size=1)
        self.fc2 = nn.Conv2d(2 * inplanes, embed_dim, kernel_size=1)
        self.fc3 = nn.Conv2d(4 * inplanes, embed_dim, kernel_size=1)

    def stem_features(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The CNN maps before the 1×1 projections: B 64 H/4 W/4, B 128 H/8 W/8, B 256 H/16 W/16."""
        s4 = self.stem(image)
        s8 = self.conv2(s4)
        return s4, s8, self.conv3(s8)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Spatial priors of a normalised image.

        Args:
            image: B 3 H W.

        Returns:
            c1 B C H/4 W/4 (a map), c2 B (H/8·W/8) C and c3 B (H/16·W/16) C (token sequences, row-major).
        """
        s4, s8, s16 = self.stem_features(image)
        c1 = self.fc1(s4)
        c2 = self.fc2(s8).flatten(2).transpose(1, 2)
        c3 = self.fc3(s16).flatten(2).transpose(1, 2)
        return c1, c2, c3
