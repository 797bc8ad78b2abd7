"""Mask (value) encoder: a ResNet-18 over image + object mask (+ others), fused with the pixel feature."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from s3.model.layers import GConv2d, GroupFeatureFusionBlock, gru_update
from s3.model.pixel_encoder import FrozenBatchNormMixin, build_resnet


class SensoryDeepUpdater(nn.Module):
    """GRU update of the sensory memory from the freshly encoded mask value (3×3 GConv on [value, sensory])."""

    def __init__(self, value_dim: int, sensory_dim: int) -> None:
        super().__init__()
        self.transform = GConv2d(value_dim + sensory_dim, sensory_dim * 3, kernel_size=3, padding=1)
        nn.init.xavier_normal_(self.transform.weight)

    def forward(self, value: Tensor, sensory: Tensor) -> Tensor:
        """value: B N C h w, sensory: B N S h w -> new sensory B N S h w (fp32)."""
        with torch.autocast(device_type=value.device.type, enabled=False):
            gates = self.transform(torch.cat([value.float(), sensory.float()], dim=2))
            return gru_update(sensory, gates)


def others_mask(masks: Tensor) -> Tensor:
    """For each object, the clamped sum of the other objects' masks. masks: B N ... -> B N ..."""
    return (masks.sum(dim=1, keepdim=True) - masks).clamp(0, 1)


class MaskEncoder(FrozenBatchNormMixin, nn.Module):
    """Encodes each object's mask with the image into a value map (B N value_dim h w) and updates sensory memory.

    Args:
        pixel_dim: channels of the shared pixel feature fused in (256).
        value_dim: output channels (256).
        sensory_dim: sensory memory channels (256).
        single_object: drop the "others" input channel (static-image pre-training mode).
        weights: optional local torchvision ResNet-18 ImageNet state_dict; extra input channels are orthogonal.
    """

    def __init__(
        self,
        pixel_dim: int = 256,
        value_dim: int = 256,
        sensory_dim: int = 256,
        single_object: bool = False,
        weights: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.single_object = single_object
        in_channels = 4 if single_object else 5
        resnet = build_resnet("resnet18", weights)
        conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        with torch.no_grad():
            extra = torch.empty(64, in_channels - 3, 7, 7)
            nn.init.orthogonal_(extra)
            conv1.weight.copy_(torch.cat([resnet.conv1.weight, extra], dim=1))
        self.conv1 = conv1
        self.bn1 = resnet.bn1
        self.maxpool = resnet.maxpool
        self.relu = resnet.relu
        self.layer1 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3
        self.fuser = GroupFeatureFusionBlock(pixel_dim, 256, value_dim)
        self.sensory_update = SensoryDeepUpdater(value_dim, sensory_dim)

    def forward(
        self,
        image: Tensor,
        pix_feat: Tensor,
        sensory: Tensor,
        masks: Tensor,
        *,
        deep_update: bool = True,
        chunk_size: int = -1,
    ) -> tuple[Tensor, Tensor]:
        """image: B 3 H W (normalised), pix_feat: B C h w, sensory: B N S h w, masks: B N H W (soft or hard).

        Returns the mask value B N value_dim h w and the (possibly deep-updated) sensory memory B N S h w.
        """
        num_objects = masks.shape[1]
        chunk = num_objects if chunk_size < 1 else chunk_size
        others = None if self.single_object else others_mask(masks)
        values, sensories = [], []
        for start in range(0, num_objects, chunk):
            end = min(start + chunk, num_objects)
            part = [image.unsqueeze(1).expand(-1, end - start, -1, -1, -1), masks[:, start:end].unsqueeze(2)]
            if others is not None:
                part.append(others[:, start:end].unsqueeze(2))
            x = torch.cat(part, dim=2).flatten(0, 1)  # (B·n) C H W
            x = self.relu(self.maxpool(self.bn1(self.conv1(x))))  # max-pool before ReLU, as upstream
            x = self.layer3(self.layer2(self.layer1(x)))
            g = x.view(masks.shape[0], end - start, *x.shape[1:])
            g = self.fuser(pix_feat, g)
            values.append(g)
            part_sensory = sensory[:, start:end]
            sensories.append(self.sensory_update(g, part_sensory) if deep_update else part_sensory)
        return torch.cat(values, dim=1), torch.cat(sensories, dim=1)
