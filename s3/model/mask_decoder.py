"""Mask decoder: upsamples the object-transformer output with f8/f4 skips and updates sensory memory."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.model.layers import GConv2d, GroupResBlock, area_resize, gru_update, upsample_group


class DecoderFeatureProcessor(nn.Module):
    """1×1 projections of the f8 and f4 skip features (`MaskDecoder.project_skips`, once per frame)."""

    def __init__(self, in_dims: tuple[int, int], out_dims: tuple[int, int]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(nn.Conv2d(i, o, kernel_size=1) for i, o in zip(in_dims, out_dims, strict=True))

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        return [t(f) for t, f in zip(self.transforms, features, strict=True)]


class MaskUpsampleBlock(nn.Module):
    """×2 bilinear upsampling of a group map, broadcast-add a skip feature, then a GroupResBlock."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.out_conv = GroupResBlock(in_dim, out_dim)

    def forward(self, g: Tensor, skip: Tensor) -> Tensor:
        """g: B N C h w, skip: B C 2h 2w -> B N C' 2h 2w."""
        return self.out_conv(upsample_group(g, 2.0) + skip.unsqueeze(1))


class SensoryUpdater(nn.Module):
    """GRU update of the sensory memory from decoder features at strides 16, 8 and 4 (+ logits)."""

    def __init__(self, in_dims: tuple[int, int, int], sensory_dim: int) -> None:
        super().__init__()
        self.g16_conv = GConv2d(in_dims[0], sensory_dim, kernel_size=1)
        self.g8_conv = GConv2d(in_dims[1], sensory_dim, kernel_size=1)
        self.g4_conv = GConv2d(in_dims[2], sensory_dim, kernel_size=1)
        self.transform = GConv2d(sensory_dim * 2, sensory_dim * 3, kernel_size=3, padding=1)
        nn.init.xavier_normal_(self.transform.weight)

    def forward(self, features: list[Tensor], sensory: Tensor) -> Tensor:
        """features: [p16, p8, p4+logits] group maps, sensory: B N S h w -> new sensory (fp32)."""
        g = self.g16_conv(features[0]) + self.g8_conv(area_resize(features[1], 0.5))
        g = g + self.g4_conv(area_resize(features[2], 0.25))
        with torch.autocast(device_type=g.device.type, enabled=False):
            gates = self.transform(torch.cat([g.float(), sensory.float()], dim=2))
            return gru_update(sensory, gates)


class MaskDecoder(nn.Module):
    """Decodes per-object logits at stride 4 from the memory readout and the f8/f4 pixel features.

    Args:
        ms_dims: channels of f16, f8, f4 from the pixel encoder.
        embed_dim: channels of the memory readout (p16).
        up_dims: decoder widths (p16 projection, p8, p4): (256, 128, 128).
        sensory_dim: sensory memory channels.
    """

    def __init__(
        self,
        ms_dims: tuple[int, int, int] = (1024, 512, 256),
        embed_dim: int = 256,
        up_dims: tuple[int, int, int] = (256, 128, 128),
        sensory_dim: int = 256,
    ) -> None:
        super().__init__()
        self.sensory_update = SensoryUpdater((embed_dim, up_dims[1], up_dims[2] + 1), sensory_dim)
        self.decoder_feat_proc = DecoderFeatureProcessor((ms_dims[1], ms_dims[2]), (up_dims[0], up_dims[1]))
        self.up_16_8 = MaskUpsampleBlock(embed_dim, up_dims[1])
        self.up_8_4 = MaskUpsampleBlock(up_dims[1], up_dims[2])
        self.pred = nn.Conv2d(up_dims[2], 1, kernel_size=3, padding=1)

    def project_skips(self, f8: Tensor, f4: Tensor) -> list[Tensor]:
        """The decoder's own view of the encoder's skip features: f8 B C8 H/8 W/8, f4 B C4 H/4 W/4 ->
        [skip8 B up_dims[0] H/8 W/8, skip4 B up_dims[1] H/4 W/4]."""
        return self.decoder_feat_proc([f8, f4])

    def forward(
        self,
        ms_features: list[Tensor],
        memory_readout: Tensor,
        sensory: Tensor,
        *,
        update_sensory: bool = True,
        chunk_size: int = -1,
    ) -> tuple[Tensor, Tensor]:
        """ms_features: [f16, skip8, skip4] with the skips already projected by `project_skips`,
        memory_readout: B N C h w, sensory: B N S h w.

        Returns (sensory B N S h w, logits B N 4h 4w); sensory is returned unchanged if not updated.
        """
        f8, f4 = ms_features[1], ms_features[2]
        num_objects = memory_readout.shape[1]
        chunk = num_objects if chunk_size < 1 else chunk_size
        all_logits, all_sensory = [], []
        for start in range(0, num_objects, chunk):
            p16 = memory_readout[:, start : start + chunk]
            p8 = self.up_16_8(p16, f8)
            p4 = self.up_8_4(p8, f4)
            with torch.autocast(device_type=p4.device.type, enabled=False):
                logits = self.pred(F.relu(p4.flatten(0, 1).float()))
                logits = logits.view(p4.shape[0], p4.shape[1], *logits.shape[-2:])  # B n H/4 W/4
            part_sensory = sensory[:, start : start + chunk]
            if update_sensory:
                p4 = torch.cat([p4, logits.unsqueeze(2).to(p4.dtype)], dim=2)
                part_sensory = self.sensory_update([p16, p8, p4], part_sensory)
            all_logits.append(logits)
            all_sensory.append(part_sensory)
        return torch.cat(all_sensory, dim=1), torch.cat(all_logits, dim=1)
