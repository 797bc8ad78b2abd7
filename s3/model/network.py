"""The Cutie / S3 video object segmentation network, exposed as named stages.

The network holds no per-video state: the training unroll (`s3.training`) and the inference engine
(`s3.inference`) own the memories and call these stages in order:

    encode_image -> transform_key -> [read memory] -> pixel_fusion -> readout_query -> segment -> encode_mask
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.model.aux_heads import AuxComputer
from s3.model.errors import ConfigurationError
from s3.model.key_projection import KeyProjection
from s3.model.layers import aggregate_with_background
from s3.model.mask_decoder import MaskDecoder
from s3.model.mask_encoder import MaskEncoder
from s3.model.memory_readout import readout, similarity, softmax_affinity
from s3.model.object_summarizer import ObjectSummarizer
from s3.model.object_transformer import DQNormalization, ObjectTransformer, ReadFromPixel
from s3.model.pixel_fuser import PixelFeatureFuser

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VOSNetwork(nn.Module):
    """Cutie's memory network with a pluggable pixel encoder and object-transformer read-out.

    Args:
        pixel_encoder: module mapping a normalised B 3 H W image to [f16, f8, f4], with `ms_dims`.
        pixel_dim: width of the shared pixel feature (projection of f16).
        key_dim: key channels of the pixel memory.
        value_dim: mask value channels.
        sensory_dim: sensory memory channels.
        embed_dim: object transformer width (must equal `up_dims[0]`).
        num_queries: object queries / summaries (16 Cutie, 8 S3).
        num_blocks: object transformer blocks (3 Cutie, 5 S3).
        num_heads: attention heads in the object transformer.
        ff_dim: FFN width in the object transformer.
        up_dims: decoder widths at strides 16, 8, 4.
        pe_scale / pe_temperature: sinusoidal positional encoding settings.
        read_from_pixel: `attention` (Cutie) or `discriminative` (S3's discriminative query).
        dq_normalization: DQ_CA normalisation axis (`queries` reproduces the release).
        single_object: static-image pre-training mode (no "others" channels).
        mask_encoder_weights: optional local torchvision ResNet-18 weights for the mask encoder.
        pad_multiple: inputs are padded to a multiple of this at inference (16 Cutie, 32 S3).
    """

    def __init__(
        self,
        pixel_encoder: nn.Module,
        *,
        pixel_dim: int = 256,
        key_dim: int = 64,
        value_dim: int = 256,
        sensory_dim: int = 256,
        embed_dim: int = 256,
        num_queries: int = 16,
        num_blocks: int = 3,
        num_heads: int = 8,
        ff_dim: int = 2048,
        up_dims: tuple[int, int, int] = (256, 128, 128),
        pe_scale: float = 32.0,
        pe_temperature: float = 128.0,
        read_from_pixel: ReadFromPixel = "attention",
        dq_normalization: DQNormalization = "queries",
        single_object: bool = False,
        mask_encoder_weights: str | Path | None = None,
        pad_multiple: int = 16,
    ) -> None:
        super().__init__()
        if embed_dim != up_dims[0]:
            raise ConfigurationError(f"embed_dim ({embed_dim}) must equal up_dims[0] ({up_dims[0]})")
        ms_dims = tuple(pixel_encoder.ms_dims)
        self.ms_dims = ms_dims
        self.pixel_dim, self.key_dim, self.value_dim = pixel_dim, key_dim, value_dim
        self.sensory_dim, self.embed_dim = sensory_dim, embed_dim
        self.num_queries = num_queries
        self.single_object = single_object
        self.pad_multiple = pad_multiple

        self.pixel_encoder = pixel_encoder
        self.pix_feat_proj = nn.Conv2d(ms_dims[0], pixel_dim, kernel_size=1)
        self.key_proj = KeyProjection(ms_dims[0], pixel_dim, key_dim)
        self.mask_encoder = MaskEncoder(pixel_dim, value_dim, sensory_dim, single_object, mask_encoder_weights)
        self.mask_decoder = MaskDecoder(ms_dims, embed_dim, up_dims, sensory_dim)
        self.pixel_fuser = PixelFeatureFuser(pixel_dim, value_dim, sensory_dim, embed_dim, single_object)
        self.object_transformer = ObjectTransformer(
            embed_dim,
            num_queries,
            num_blocks,
            num_heads,
            ff_dim,
            pe_scale,
            pe_temperature,
            read_from_pixel,
            dq_normalization,
        )
        self.object_summarizer = ObjectSummarizer(value_dim, embed_dim, num_queries, pe_scale, pe_temperature)
        self.aux_computer = AuxComputer(pixel_dim, sensory_dim)

        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalize(self, image: Tensor) -> Tensor:
        """B 3 H W in [0, 1] -> ImageNet-normalised."""
        return (image - self.pixel_mean) / self.pixel_std

    def encode_image(self, image: Tensor) -> tuple[list[Tensor], Tensor]:
        """image: B 3 H W in [0, 1] -> ([f16, skip8, skip4], pix_feat B pixel_dim h w).

        `skip8` / `skip4` are the mask decoder's 1×1 projections of the encoder's f8 / f4 (`up_dims[0]` and
        `up_dims[1]` channels, `MaskDecoder.project_skips`): they depend only on the image, so they are computed once
        per frame here rather than once per decoded object chunk.
        """
        f16, f8, f4 = self.pixel_encoder(self.normalize(image))
        features = [f16, *self.mask_decoder.project_skips(f8, f4)]
        return features, self.pix_feat_proj(f16)

    def transform_key(
        self, f16: Tensor, *, need_shrinkage: bool = True, need_selection: bool = True
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """f16: B C h w -> key B CK h w, shrinkage B 1 h w, selection B CK h w (fp32)."""
        return self.key_proj(f16, need_shrinkage=need_shrinkage, need_selection=need_selection)

    def encode_mask(
        self,
        image: Tensor,
        pix_feat: Tensor,
        sensory: Tensor,
        masks: Tensor,
        *,
        deep_update: bool = True,
        chunk_size: int = -1,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """image: B 3 H W in [0, 1], pix_feat: B C h w, sensory: B N S h w, masks: B N H W.

        Returns (mask value B N V h w, sensory B N S h w, object summaries B N Q (E+1)).
        """
        value, sensory = self.mask_encoder(
            self.normalize(image), pix_feat, sensory, masks, deep_update=deep_update, chunk_size=chunk_size
        )
        summaries = self.object_summarizer(masks, value)
        return value, sensory, summaries

    def read_memory(
        self,
        query_key: Tensor,
        query_selection: Tensor,
        memory_key: Tensor,
        memory_shrinkage: Tensor,
        memory_value: Tensor,
        object_memory: Tensor,
        pix_feat: Tensor,
        sensory: Tensor,
        last_mask: Tensor,
        selector: Tensor | None,
    ) -> tuple[Tensor, dict[str, Tensor | list[Tensor]]]:
        """The training-time read (full softmax over all memory frames, no top-k).

        query_key / query_selection: B CK h w; memory_key: B CK T h w; memory_shrinkage: B 1 T h w;
        memory_value: B N V T h w; object_memory: B N T Q (E+1); pix_feat: B C h w; sensory: B N S h w;
        last_mask: B N H W; selector: B N 1 1.
        Returns the memory readout B N E h w and aux inputs (`sensory`, `q_logits` list of B N h w).
        """
        batch, num_objects, _, _, h, w = memory_value.shape
        with torch.autocast(device_type=query_key.device.type, enabled=False):
            sim = similarity(
                memory_key.flatten(2).float(),
                memory_shrinkage.flatten(2).float(),
                query_key.flatten(2).float(),
                query_selection.flatten(2).float(),
            )
            affinity = softmax_affinity(sim)
            values = memory_value.flatten(start_dim=1, end_dim=2).flatten(2).float()  # B (N·V) (T·h·w)
            pixel_readout = readout(affinity, values).view(batch, num_objects, self.value_dim, h, w)
        fused = self.pixel_fusion(pix_feat, pixel_readout, sensory, last_mask)
        memory_readout, query_logits = self.readout_query(fused, object_memory, selector=selector)
        return memory_readout, {"sensory": sensory, "q_logits": query_logits}

    def pixel_fusion(self, pix_feat: Tensor, pixel_readout: Tensor, sensory: Tensor, last_mask: Tensor) -> Tensor:
        """pixel_readout: B N V h w, last_mask: B N H W (full resolution) -> fused B N E h w."""
        last_mask = F.interpolate(last_mask.float(), size=sensory.shape[-2:], mode="area")
        return self.pixel_fuser(pix_feat, pixel_readout.to(pix_feat.dtype), sensory, last_mask)

    def readout_query(
        self, pixel: Tensor, object_memory: Tensor, *, selector: Tensor | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """pixel: B N E h w, object_memory: B N T Q (E+1) -> (readout B N E h w, aux logits)."""
        return self.object_transformer(pixel, object_memory, selector)

    def segment(
        self,
        ms_features: list[Tensor],
        memory_readout: Tensor,
        sensory: Tensor,
        *,
        selector: Tensor | None = None,
        chunk_size: int = -1,
        update_sensory: bool = True,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Decode masks from `encode_image`'s features. Returns (sensory B N S h w, logits B (N+1) H W,
        probabilities B (N+1) H W)."""
        sensory, logits = self.mask_decoder(
            ms_features, memory_readout, sensory, update_sensory=update_sensory, chunk_size=chunk_size
        )
        prob = torch.sigmoid(logits.float())
        if selector is not None:
            prob = prob * selector.view(*prob.shape[:2], 1, 1)
        logits = aggregate_with_background(prob, dim=1)
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return sensory, logits, torch.softmax(logits, dim=1)

    def compute_aux(self, pix_feat: Tensor, aux_inputs: dict, selector: Tensor | None) -> dict[str, Tensor]:
        """Aux logits for the training losses (see `AuxComputer`)."""
        return self.aux_computer(pix_feat, aux_inputs["sensory"], aux_inputs["q_logits"], selector)

    def forward(self, *args, **kwargs):  # noqa: D401 - intentionally unsupported
        raise NotImplementedError("VOSNetwork is used through its stages (encode_image, read_memory, segment, ...)")
