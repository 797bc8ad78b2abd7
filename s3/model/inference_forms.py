"""Inference-only forms of the network's modules, swapped in by `s3.model.deploy.prepare_for_inference`.

Each class here subclasses a reference module and computes the same function (up to floating-point rounding) in a
form that is faster for CPU inference but useless for training: in place and in cache-sized blocks of rows, with
eval-mode BatchNorms folded into neighbouring linear maps, with a handful of attention keys folded into the
projections, or through oneDNN. They keep the reference module's parameters (shared, never copied) and its
state-dict keys; none of them may run with autograd on.

Forms (reference module -> inference form):

* `nn.MultiheadAttention` -> `BatchFirstAttention`: projections on the batch-first tokens (no seq-first view),
  then one fused attention call;
* `SemanticCrossAttention` -> `FoldedSemanticCrossAttention`: the two semantic tokens folded into the projections;
* `SpatialExtractor` / `InteractionStage` -> `BlockedSpatialExtractor` / `BlockedInteractionStage`: residual branches
  added in place, `INFERENCE_BLOCK_ROWS` spatial tokens at a time (value table built once per extractor);
* `ConvFFN` -> `BlockedConvFFN`: its two token-wise halves in row blocks;
* `MultiScaleDeformableAttention` -> `OneDNNDeformableAttention`: the fused offset/weight product through oneDNN;
* `SpatialPriorModule` -> `FoldedSpatialPriorModule`: conv+BN+ReLU as one channels-last convolution;
* `SpatialSemanticEncoder` -> `FoldedTailEncoder`: the mask decoder's skip projections folded into the tail;
* `VOSNetwork` -> `InferenceNetwork`: `encode_image` through the folded tail; refuses training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3.errors import S3Error
from s3.model.conv_ffn import ConvFFN
from s3.model.deformable_attention import MultiScaleDeformableAttention
from s3.model.fast_linear import linear
from s3.model.linear_folding import (
    batchnorm_affine,
    fold_norm_into_projection,
    project_tokens_to_map,
    project_transposed_conv,
)
from s3.model.network import VOSNetwork
from s3.model.spatial_prior import SpatialPriorModule
from s3.model.spatial_semantic_block import InteractionStage, SemanticCrossAttention, SpatialExtractor
from s3.model.spatial_semantic_encoder import AdapterTokens, SpatialSemanticEncoder, upsample

__all__ = [
    "INFERENCE_BLOCK_ROWS",
    "BatchFirstAttention",
    "BlockedConvFFN",
    "BlockedInteractionStage",
    "BlockedSpatialExtractor",
    "FoldedFewKeyAttention",
    "FoldedSemanticCrossAttention",
    "FoldedSpatialPriorModule",
    "FoldedTailEncoder",
    "InferenceNetwork",
    "InferenceOnlyError",
    "OneDNNDeformableAttention",
    "fold_few_key_attention",
    "fused_few_key_attention",
    "inference_blocks",
    "row_blocks",
]

# Rows of spatial tokens per block in the inference forms on CPU: 2048 × 768 fp32 (6 MiB) stays in a 2-core AMD
# EPYC's L3 and measured fastest on one 480p extractor (1024: +9 %, 4096: +4 %, all 8100 rows at once: +15 %).
# On a GPU blocks only add kernel launches, so all rows form one block there. Read at call time (tests lower it).
INFERENCE_BLOCK_ROWS = 2048


class InferenceOnlyError(S3Error, RuntimeError):
    """A prepared (inference-form) network was asked to train or to run with autograd."""


def row_blocks(num_rows: int, block_rows: int) -> list[slice]:
    """Consecutive slices of at most `block_rows` rows covering `num_rows`."""
    return [slice(start, min(start + block_rows, num_rows)) for start in range(0, num_rows, block_rows)]


def inference_blocks(tokens: Tensor) -> list[slice]:
    """The row blocks of B N C `tokens` for the inference forms (`INFERENCE_BLOCK_ROWS` on CPU, one elsewhere)."""
    num_rows = tokens.shape[1]
    return row_blocks(num_rows, INFERENCE_BLOCK_ROWS if tokens.device.type == "cpu" else max(num_rows, 1))


# ------------------------------------------------------------------------------------ multi-head attention
class BatchFirstAttention(nn.MultiheadAttention):
    """`nn.MultiheadAttention` (batch-first, no masks on padding, no weights returned) computed on the batch-first
    tokens as they are.

    The reference module views its B L C input as L B C before projecting. Under bf16 autocast that strided view
    sends each projection to a batched matmul over L copies of the cast weight (on a 1620-pixel, 2-object Cutie
    frame: 2 s of 3.6 s), and it disables PyTorch's own fused inference path. Here the projections run on the
    contiguous B L C tokens and the heads go to `F.scaled_dot_product_attention` with the same additive mask the
    reference builds (a bool `attn_mask` becomes 0 / -inf), so both compute the same function. Calls this form does
    not cover (weights asked for, a key padding mask, a causal flag, differing key/value widths, autograd) run the
    reference forward.
    """

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """query B L C, key / value B S C, attn_mask (B·heads) L S or L S -> (B L C, None)."""
        covered = (
            self.batch_first
            and self._qkv_same_embed_dim
            and self.in_proj_bias is not None
            and self.bias_k is None
            and not self.add_zero_attn
            and not (need_weights or is_causal or key_padding_mask is not None)
            and query.dim() == 3
            and not torch.is_grad_enabled()
        )
        if not covered:
            return super().forward(
                query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal
            )
        batch, length, channels = query.shape
        heads, sources = self.num_heads, key.shape[1]
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)

        def split_heads(tokens: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
            return linear(tokens, weight, bias).unflatten(-1, (heads, -1)).transpose(1, 2)  # B M N d

        q, k, v = split_heads(query, w_q, b_q), split_heads(key, w_k, b_k), split_heads(value, w_v, b_v)
        mask = None
        if attn_mask is not None:
            mask = attn_mask.view(batch, heads, length, sources) if attn_mask.dim() == 3 else attn_mask
            if mask.dtype == torch.bool:
                mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill_(mask, float("-inf"))
            mask = mask.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch, length, channels)
        return linear(out, self.out_proj.weight, self.out_proj.bias), None


# ------------------------------------------------------------------------------------------ semantic attention
@dataclass(frozen=True)
class FoldedFewKeyAttention:
    """An `nn.MultiheadAttention` with its few key/value tokens folded into its projections (see
    `fold_few_key_attention`); `apply` attends any number of query blocks to them."""

    query_weight: Tensor  # B C M·K
    query_bias: Tensor  # B 1 M·K
    value_weight: Tensor  # B M·K C
    out_bias: Tensor  # C
    num_heads: int
    num_keys: int

    def apply(self, query: Tensor) -> Tensor:
        """query B N C -> attention output B N C."""
        logits = torch.baddbmm(self.query_bias.to(query.dtype), query, self.query_weight.to(query.dtype))
        probs = logits.unflatten(-1, (self.num_heads, self.num_keys)).softmax(-1).flatten(2)
        return torch.baddbmm(self.out_bias.to(probs.dtype), probs, self.value_weight.to(probs.dtype))


def fold_few_key_attention(attention: nn.MultiheadAttention, keys: Tensor) -> FoldedFewKeyAttention:
    """Folds a handful of key/value tokens into the query and output projections of `attention`.

    With K keys the logits of head m are `q_m · k_mj / √d = x · (W_q,mᵀ k_mj / √d) + b_q,m · k_mj / √d`, and the
    output is `Σ_j a_mj · (W_o,m v_mj) + b_o`. Folding the K keys into the query projection and the K values into
    the output projection turns two N×C×C matmuls into N×C×(M·K) ones (for K=2, M=12: 2×768² → 2×768×24 per
    token). Algebraically identical to the packed nn.MultiheadAttention (no dropout, no masks); same parameters.

    Args:
        attention: a batch-first nn.MultiheadAttention with equal q/k/v dims.
        keys: B K C (used as keys and values).
    """
    num_heads = attention.num_heads
    channels = attention.embed_dim
    head_dim = channels // num_heads
    num_keys = keys.shape[1]
    w_q, w_k, w_v = attention.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attention.in_proj_bias.chunk(3)
    scale = head_dim**-0.5
    key = F.linear(keys, w_k, b_k).view(-1, num_keys, num_heads, head_dim)  # B K M d
    value = F.linear(keys, w_v, b_v).view(-1, num_keys, num_heads, head_dim)
    query_weight = torch.einsum("mdc,bkmd->bcmk", w_q.view(num_heads, head_dim, channels), key) * scale
    query_bias = torch.einsum("md,bkmd->bmk", b_q.view(num_heads, head_dim), key) * scale  # B M K
    w_o = attention.out_proj.weight.view(channels, num_heads, head_dim)
    value_weight = torch.einsum("cmd,bkmd->bmkc", w_o, value).flatten(1, 2)  # B M·K C
    return FoldedFewKeyAttention(
        query_weight.flatten(2),
        query_bias.flatten(1)[:, None],
        value_weight,
        attention.out_proj.bias,
        num_heads,
        num_keys,
    )


def fused_few_key_attention(attention: nn.MultiheadAttention, query: Tensor, keys: Tensor) -> Tensor:
    """`attention(query, keys, keys)` for a handful of key/value tokens, without projecting every query
    (`fold_few_key_attention`). query B N C, keys B K C -> B N C."""
    return fold_few_key_attention(attention, keys).apply(query)


class FoldedSemanticCrossAttention(SemanticCrossAttention):
    """`SemanticCrossAttention` with its two key/value tokens folded into the projections (12× faster than
    `nn.MultiheadAttention` on 8,100 queries)."""

    def forward(self, spatial: Tensor, cls_token: Tensor, patch_tokens: Tensor) -> Tensor:
        """spatial B N C, cls_token B 1 C, patch_tokens B hw C -> B N C."""
        query = self.norm(spatial)
        return query + self.fold(cls_token, patch_tokens, query.dtype).apply(query)

    def fold(self, cls_token: Tensor, patch_tokens: Tensor, dtype: torch.dtype) -> FoldedFewKeyAttention:
        """The cross-attention with this image's two semantic tokens folded in; `apply` it to `norm(spatial)`."""
        return fold_few_key_attention(self.cross_attn, self.semantic_tokens(cls_token, patch_tokens).to(dtype))


# ------------------------------------------------------------------------------------------- interaction stages
class OneDNNDeformableAttention(MultiScaleDeformableAttention):
    """`MultiScaleDeformableAttention` whose fused offset/weight product goes through oneDNN on large fp32 inputs."""

    offset_projection = staticmethod(linear)


class BlockedConvFFN(ConvFFN):
    """`ConvFFN` that can add itself to its input in place, row block by row block (`add_to_`)."""

    def add_to_(self, tokens: Tensor, norm: nn.Module, grid: tuple[int, int], blocks: list[slice]) -> Tensor:
        """`tokens += self(norm(tokens))` in place, the two token-wise halves one block of rows at a time (the
        depth-wise conv in between needs the whole, 4× narrower, hidden map). tokens: B 5hw C."""
        hidden = tokens.new_empty(*tokens.shape[:-1], self.fc1.out_features)
        for rows in blocks:
            hidden[:, rows] = self.fc1(norm(tokens[:, rows]))
        hidden = self.act(self.dwconv(hidden, grid))
        for rows in blocks:
            tokens[:, rows] += self.fc2(hidden[:, rows])
        return tokens


class BlockedSpatialExtractor(SpatialExtractor):
    """`SpatialExtractor` whose residual branches are added in place, one block of rows at a time, so the per-token
    work (norms, offsets, sampling, adds) stays in cache and no full-size temporaries are allocated."""

    def update_(
        self,
        spatial: Tensor,
        patch_tokens: Tensor,
        reference_points: Tensor,
        grid: tuple[int, int],
        blocks: list[slice],
    ) -> Tensor:
        """Adds both residual branches of `forward` to `spatial` (B 5hw C) in place; returns it."""
        values = self.attn.project_values(self.feat_norm(patch_tokens), [grid])
        for rows in blocks:
            spatial[:, rows] += self.attn.attend(self.query_norm(spatial[:, rows]), reference_points[:, rows], values)
        if isinstance(self.ffn, BlockedConvFFN):
            self.ffn.add_to_(spatial, self.ffn_norm, grid, blocks)
        else:
            spatial += self.ffn(self.ffn_norm(spatial), grid)
        return spatial

    def forward(self, spatial: Tensor, patch_tokens: Tensor, reference_points: Tensor, grid: tuple[int, int]) -> Tensor:
        """Same contract as `SpatialExtractor.forward` (spatial B 5hw C); the caller's tensor is left unchanged."""
        return self.update_(spatial.clone(), patch_tokens, reference_points, grid, inference_blocks(spatial))


class BlockedInteractionStage(InteractionStage):
    """`InteractionStage` in blocks of rows: the semantic read writes one new tensor block by block, then every
    extractor updates it in place (`BlockedSpatialExtractor.update_`)."""

    def forward(
        self, spatial: Tensor, cls_token: Tensor, patch_tokens: Tensor, reference_points: Tensor, grid: tuple[int, int]
    ) -> Tensor:
        """Same contract as `InteractionStage.forward`: spatial B 5hw C, cls_token B 1 C, patch_tokens B hw C."""
        blocks = inference_blocks(spatial)
        if isinstance(self.read_from_cls, FoldedSemanticCrossAttention):
            semantic = self.read_from_cls.fold(cls_token, patch_tokens, spatial.dtype)
            out = torch.empty_like(spatial)
            for rows in blocks:
                tokens = self.read_from_cls.norm(spatial[:, rows])
                out[:, rows] = tokens + semantic.apply(tokens)
        elif self.read_from_cls is not None:
            out = self.read_from_cls(spatial, cls_token, patch_tokens)
        else:
            out = spatial.clone()
        for extractor in [self.extractor, *(self.extra_extractors or ())]:
            if isinstance(extractor, BlockedSpatialExtractor):
                extractor.update_(out, patch_tokens, reference_points, grid, blocks)
            else:
                out = extractor(out, patch_tokens, reference_points, grid)
        return out


# ------------------------------------------------------------------------------------------------ encoder parts
def conv_bn_relu_folded(conv: nn.Conv2d, norm: nn.BatchNorm2d, x: Tensor) -> Tensor:
    """`relu(norm(conv(x)))` as one biased convolution (eval-mode BatchNorm folded into the kernel)."""
    affine = batchnorm_affine(norm)
    if affine is None:
        raise ValueError("conv_bn_relu_folded: the BatchNorm uses batch statistics")
    scale, shift = affine
    weight = (conv.weight * scale[:, None, None, None]).contiguous(memory_format=torch.channels_last)
    bias = shift if conv.bias is None else shift + conv.bias * scale
    out = F.conv2d(x, weight.to(x.dtype), bias.to(x.dtype), conv.stride, conv.padding, conv.dilation, conv.groups)
    return out.relu_()


class FoldedSpatialPriorModule(SpatialPriorModule):
    """`SpatialPriorModule` whose conv+BN+ReLU triples run as one convolution with the (running-statistics)
    BatchNorm folded in, on channels-last maps (≈2× faster on CPU; the max-pool ≈8×)."""

    def stem_features(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Same maps as `SpatialPriorModule.stem_features` (B 64 H/4 W/4, B 128 H/8 W/8, B 256 H/16 W/16), in
        channels-last memory layout."""
        norms = [layer for layer in (*self.stem, *self.conv2, *self.conv3) if isinstance(layer, nn.BatchNorm2d)]
        if any(batchnorm_affine(norm) is None for norm in norms):
            return super().stem_features(image)
        x = image.contiguous(memory_format=torch.channels_last)
        x = conv_bn_relu_folded(self.stem[0], self.stem[1], x)
        x = conv_bn_relu_folded(self.stem[3], self.stem[4], x)
        x = conv_bn_relu_folded(self.stem[6], self.stem[7], x)
        s4 = self.stem[9](x)
        s8 = conv_bn_relu_folded(self.conv2[0], self.conv2[1], s4)
        return s4, s8, conv_bn_relu_folded(self.conv3[0], self.conv3[1], s8)


class FoldedTailEncoder(SpatialSemanticEncoder):
    """`SpatialSemanticEncoder` that can return the mask decoder's projected skips directly (`features_with_skips`):
    eval-mode BatchNorm, 1×1 projection, transposed conv and the SPM's stride-4 projection are all linear, so the
    projections are applied to each term before the sum and the upsampling and the 768-channel stride-4 map is never
    built (~30 GFLOP less per 480p frame). The projections are handed over by `prepare_for_inference`."""

    skip_projections: tuple[nn.Conv2d, nn.Conv2d] | None = None
    _stride4_cache: tuple | None = None

    def forward(self, image: Tensor, *, project_skips: bool = False) -> list[Tensor]:
        """image B 3 H W (normalised) -> [f16, f8, f4] as `SpatialSemanticEncoder.forward`, or with `project_skips`
        [f16 B C H/16 W/16, P8(f8) B O8 H/8 W/8, P4(f4) B O4 H/4 W/4] through the folded tail (`skip_projections`
        must have been set). Called as a module either way, so forward hooks on the encoder see both."""
        if not project_skips:
            return super().forward(image)
        if self.skip_projections is None:
            raise ValueError("FoldedTailEncoder: project_skips needs the skip projections (prepare_for_inference)")
        return self.features_with_skips(image, self.skip_projections)

    def features_with_skips(self, image: Tensor, projections: Sequence[nn.Conv2d]) -> list[Tensor]:
        """image B 3 H W (normalised) -> [f16 B C H/16 W/16, P8(f8) B O8 H/8 W/8, P4(f4) B O4 H/4 W/4]."""
        projection8, projection4 = projections
        folded8 = fold_norm_into_projection(self.norm2, projection8)
        folded4 = fold_norm_into_projection(self.norm1, projection4)
        if folded8 is None or folded4 is None:
            f16, f8, f4 = super().forward(image)
            return [f16, projection8(f8), projection4(f4)]
        tokens = self.adapter_tokens(image)
        fine = tokens.spatial[:, : tokens.fine_tokens]
        skip8 = self._folded_stride8(folded8, fine, tokens.vit[1], tokens.grid)
        skip4 = self._folded_stride4(folded4, fine, tokens)
        return [self.stride16_map(tokens), skip8, skip4]

    @staticmethod
    def _folded_stride8(
        folded: tuple[Tensor, Tensor], spatial_tokens: Tensor, vit_tokens: Tensor, grid: tuple[int, int]
    ) -> Tensor:
        """`W (c2 + up2(vit)) + b`: both terms are projected before the sum and upsampling."""
        matrix, bias = folded
        vit = project_tokens_to_map(vit_tokens, matrix.to(vit_tokens.dtype), grid)
        out = upsample(vit, 2)
        fine_grid = (2 * grid[0], 2 * grid[1])
        out += project_tokens_to_map(spatial_tokens, matrix.to(out.dtype), fine_grid, bias.to(out.dtype))
        return out

    def _folded_stride4(self, folded: tuple[Tensor, Tensor], fine_tokens: Tensor, tokens: AdapterTokens) -> Tensor:
        """`W (up(c2) + fc1(s4) + up4(vit)) + b`, each term mapped to the skip width first.

        The 2×2 stride-2 transposed conv of the stride-8 tokens is one matmul to `O·2·2` channels per token followed
        by a pixel shuffle, accumulated straight into the upsampled ViT term.
        """
        matrix, bias = folded
        up_matrix, stem_matrix, total_bias = self._stride4_weights(matrix, bias)
        batch, dtype = fine_tokens.shape[0], fine_tokens.dtype
        fine_h, fine_w = 2 * tokens.grid[0], 2 * tokens.grid[1]
        out_channels = matrix.shape[0]
        vit = tokens.vit[0]
        out = upsample(project_tokens_to_map(vit, matrix.to(vit.dtype), tokens.grid), 4).to(dtype)
        # out[b, o, 2y + i, 2x + j] += Σ_c tokens[b, (y, x), c] · up[c, o, i, j]
        shuffled = linear(fine_tokens, up_matrix.to(dtype)).view(batch, fine_h, fine_w, out_channels, 2, 2)
        out.view(batch, out_channels, fine_h, 2, fine_w, 2).add_(shuffled.permute(0, 3, 1, 4, 2, 5))
        s4 = tokens.s4
        out += F.conv2d(s4, stem_matrix.to(s4.dtype)[:, :, None, None], total_bias.to(s4.dtype))
        return out

    def _stride4_weights(self, matrix: Tensor, bias: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The folded stride-4 weights: up-conv as an `(O·2·2) × C` matrix, `O × 64` stem matrix and total bias.

        The up-conv fold is a 768²×4×O product, so it is cached while `matrix`, `bias` and the weights are unchanged
        (keyed on the parameters' storage and version counters, which every in-place update bumps).
        """
        up, fc1 = self.up, self.spm.fc1
        if up.kernel_size != (2, 2) or up.stride != (2, 2) or up.padding != (0, 0):
            raise ValueError("SpatialSemanticEncoder: the folded tail expects a 2×2 stride-2 up-conv")
        parameters = [up.weight, up.bias, fc1.weight, fc1.bias]
        key = tuple((p.data_ptr(), p._version) for p in parameters if p is not None)
        cached = self._stride4_cache
        if cached is not None and cached[0] == key and torch.equal(cached[1], matrix) and torch.equal(cached[2], bias):
            return cached[3]
        up_weight, up_bias = project_transposed_conv(up, matrix)  # C O 2 2
        up_matrix = up_weight.flatten(1).t().contiguous()  # (O·2·2) C, rows ordered (o, i, j)
        stem_matrix = matrix @ fc1.weight[:, :, 0, 0]
        total_bias = bias + up_bias + (matrix @ fc1.bias if fc1.bias is not None else 0.0)
        weights = (up_matrix, stem_matrix, total_bias)
        self._stride4_cache = (key, matrix.clone(), bias.clone(), weights)
        return weights


# ---------------------------------------------------------------------------------------------------- network
class InferenceNetwork(VOSNetwork):
    """`VOSNetwork` whose `encode_image` uses the folded encoder tail when the encoder has one. Built only by
    `prepare_for_inference`; it cannot be put in training mode and refuses to run with autograd on."""

    def train(self, mode: bool = True) -> InferenceNetwork:
        if mode:
            raise InferenceOnlyError(
                "this network was prepared for inference (s3.model.deploy.prepare_for_inference): train the reference "
                "network it was prepared from"
            )
        return super().train(False)

    def encode_image(self, image: Tensor) -> tuple[list[Tensor], Tensor]:
        """Same contract as `VOSNetwork.encode_image`: image B 3 H W -> ([f16, skip8, skip4], pix_feat)."""
        if torch.is_grad_enabled():
            raise InferenceOnlyError(
                "a network prepared for inference runs without autograd: call it under torch.inference_mode() "
                "(or use the reference network)"
            )
        encoder = self.pixel_encoder
        if isinstance(encoder, FoldedTailEncoder) and encoder.skip_projections is not None:
            features = encoder(self.normalize(image), project_skips=True)
            return features, self.pix_feat_proj(features[0])
        return super().encode_image(image)
