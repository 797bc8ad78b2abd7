"""S3's spatial-semantic pixel encoder: manifest keys and counts, shapes, the fused semantic attention, ConvFFN,
initialisation, freezing and gradients."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from s3.model.conv_ffn import ConvFFN
from s3.model.deformable_attention import MultiScaleDeformableAttention
from s3.model.inference_forms import fused_few_key_attention
from s3.model.spatial_semantic_block import SemanticCrossAttention
from s3.model.spatial_semantic_encoder import SpatialSemanticEncoder
from tests.model.tiny_encoder import TINY


def tiny_encoder(**overrides) -> SpatialSemanticEncoder:
    return SpatialSemanticEncoder(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def full_encoder() -> SpatialSemanticEncoder:
    torch.manual_seed(0)
    return SpatialSemanticEncoder()


def manifest_pixel_encoder(manifests_dir, name: str) -> list[tuple[str, list[int]]]:
    manifest = json.loads((manifests_dir / name).read_text())
    prefix = "pixel_encoder."
    return [(key[len(prefix) :], shape) for key, shape in manifest.items() if key.startswith(prefix)]


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_full_size_state_dict_equals_manifest(full_encoder, manifests_dir):
    expected = manifest_pixel_encoder(manifests_dir, "s3_full_vitb.json")
    actual = [(key, list(value.shape)) for key, value in full_encoder.state_dict().items()]
    assert actual == expected  # names, shapes and order
    assert full_encoder.ms_dims == (768, 768, 768)


def test_full_size_parameter_counts(full_encoder):
    assert count(full_encoder.vit_module) == 86_718_720
    assert count(full_encoder) - count(full_encoder.vit_module) == 22_179_360
    assert full_encoder.level_embed.numel() == 1_536
    assert count(full_encoder.spm) == 791_616
    assert count(full_encoder.interactions) == 19_021_536
    assert count(full_encoder.up) == 2_360_064
    assert sum(count(norm) for norm in (full_encoder.norm1, full_encoder.norm2, full_encoder.norm3)) == 4_608
    assert count(full_encoder.interactions[0].extractor) == 1_594_320
    assert count(full_encoder.interactions[0].read_from_cls) == 2_363_904
    trainable = sum(p.numel() for p in full_encoder.parameters() if p.requires_grad)
    assert trainable == 22_179_360  # the ViT is frozen by default


def test_full_size_forward_at_64(full_encoder):
    full_encoder.eval()
    with torch.inference_mode():
        f16, f8, f4 = full_encoder(torch.randn(1, 3, 64, 64))
    assert f16.shape == (1, 768, 4, 4) and f8.shape == (1, 768, 8, 8) and f4.shape == (1, 768, 16, 16)
    assert all(torch.isfinite(f).all() for f in (f16, f8, f4))


def test_without_semantic_lacks_read_from_cls(manifests_dir):
    encoder = SpatialSemanticEncoder(semantic=False)
    expected = [
        item for item in manifest_pixel_encoder(manifests_dir, "s3_full_vitb.json") if "read_from_cls" not in item[0]
    ]
    assert [(key, list(value.shape)) for key, value in encoder.state_dict().items()] == expected
    full = 22_179_360 + 86_718_720
    assert count(encoder) == full - 4 * 2_363_904  # 9,455,616 fewer


@pytest.mark.parametrize("size", [(64, 64), (96, 160)])
@pytest.mark.parametrize("semantic", [True, False])
def test_tiny_shapes(size, semantic):
    encoder = tiny_encoder(semantic=semantic).eval()
    height, width = size
    f16, f8, f4 = encoder(torch.randn(2, 3, height, width))
    assert f16.shape == (2, 32, height // 16, width // 16)
    assert f8.shape == (2, 32, height // 8, width // 8)
    assert f4.shape == (2, 32, height // 4, width // 4)


def test_rejects_sizes_off_the_patch_grid():
    with pytest.raises(ValueError, match="multiple of 16"):
        tiny_encoder()(torch.randn(1, 3, 72, 64))


def test_training_step_reaches_adapter_but_not_frozen_vit():
    torch.manual_seed(0)
    encoder = tiny_encoder().train()
    assert not encoder.vit_module.training
    # At init the deformable offsets/weights ignore the query (zero weights), so query_norm would get no gradient.
    for module in encoder.modules():
        if isinstance(module, MultiScaleDeformableAttention):
            nn.init.normal_(module.sampling_offsets.weight, std=0.05)
            nn.init.normal_(module.attention_weights.weight, std=0.05)
    outputs = encoder(torch.randn(2, 3, 64, 96))
    sum(o.square().mean() for o in outputs).backward()
    for name, parameter in encoder.named_parameters():
        if name.startswith("vit_module."):
            assert not parameter.requires_grad and parameter.grad is None, name
        else:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    optimizer_params = [p for p in encoder.parameters() if p.requires_grad]
    assert all(not name.startswith("vit_module.") for name, p in encoder.named_parameters() if p.requires_grad)
    assert len(optimizer_params) == len([n for n, _ in encoder.named_parameters() if not n.startswith("vit_module.")])


def test_finetune_index_unfreezes_the_stage_blocks():
    encoder = SpatialSemanticEncoder(
        **{**TINY, "depth": 6, "stage_blocks": ((0, 1), (2, 3), (4, 4), (5, 5))}, finetune_index=[1]
    )
    trainable = {name for name, p in encoder.vit_module.named_parameters() if p.requires_grad}
    assert {name.split(".")[1] for name in trainable} == {"2", "3"}
    assert all(name.startswith("blocks.") for name in trainable)
    encoder.train()
    outputs = encoder(torch.randn(1, 3, 32, 32))
    sum(o.sum() for o in outputs).backward()
    assert encoder.vit_module.blocks[2].attn.qkv.weight.grad is not None
    assert encoder.vit_module.blocks[1].attn.qkv.weight.grad is None
    with pytest.raises(ValueError, match="finetune_index"):
        tiny_encoder(finetune_index=[4])


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = tiny_encoder().train()
    checkpointed = tiny_encoder(with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    image = torch.randn(2, 3, 32, 64)
    for model in (plain, checkpointed):
        outputs = model(image)
        sum(o.square().mean() for o in outputs).backward()
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters(), strict=True):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_fused_semantic_attention_equals_multihead_attention():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(24, 4, batch_first=True)
    nn.init.normal_(attention.in_proj_bias)
    nn.init.normal_(attention.out_proj.bias)
    query, keys = torch.randn(3, 10, 24), torch.randn(3, 2, 24)
    expected, _ = attention(query, keys, keys, need_weights=False)
    torch.testing.assert_close(fused_few_key_attention(attention, query, keys), expected, atol=1e-5, rtol=1e-5)
    # Gradients reach every parameter the same way.
    fused_grads = torch.autograd.grad(
        fused_few_key_attention(attention, query, keys).sum(), list(attention.parameters())
    )
    mha_grads = torch.autograd.grad(attention(query, keys, keys)[0].sum(), list(attention.parameters()))
    for a, b in zip(fused_grads, mha_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_semantic_cross_attention_reads_cls_and_mean_token():
    torch.manual_seed(0)
    block = SemanticCrossAttention(16, 2)
    spatial, cls, patches = torch.randn(2, 7, 16), torch.randn(2, 1, 16), torch.randn(2, 5, 16)
    normed = block.norm(spatial)
    keys = torch.cat([cls, patches.mean(1, keepdim=True)], dim=1)
    expected = normed + block.cross_attn(normed, keys, keys)[0]
    torch.testing.assert_close(block(spatial, cls, patches), expected, atol=1e-5, rtol=1e-5)


def test_conv_ffn_applies_one_dwconv_per_grid():
    torch.manual_seed(0)
    ffn = ConvFFN(8, 4)
    grid = (2, 3)
    tokens = torch.randn(1, 5 * 6, 8)
    hidden = ffn.fc1(tokens)
    fine = hidden[:, :24].transpose(1, 2).reshape(1, 4, 4, 6)
    coarse = hidden[:, 24:].transpose(1, 2).reshape(1, 4, 2, 3)
    conv = ffn.dwconv.dwconv
    mixed = torch.cat([conv(fine).flatten(2), conv(coarse).flatten(2)], dim=2).transpose(1, 2)
    torch.testing.assert_close(ffn(tokens, grid), ffn.fc2(F.gelu(mixed)))
    with pytest.raises(ValueError, match="grid pair"):
        ffn(torch.randn(1, 29, 8), grid)


def test_initialisation_follows_spec(full_encoder):
    torch.manual_seed(0)
    encoder = tiny_encoder(embed_dim=64, deform_num_heads=4)
    stage = encoder.interactions[0]
    fc1 = stage.extractor.ffn.fc1.weight
    assert abs(fc1.std().item() - 0.02) < 0.004 and torch.count_nonzero(stage.extractor.ffn.fc1.bias) == 0
    semantic = stage.read_from_cls.cross_attn
    assert abs(semantic.out_proj.weight.std().item() - 0.02) < 0.004
    bound = math.sqrt(6 / (64 + 3 * 64))  # xavier-uniform of the packed in-projection is kept
    assert semantic.in_proj_weight.abs().max() <= bound and semantic.in_proj_weight.abs().max() > 0.8 * bound
    conv = encoder.spm.stem[3]
    assert abs(conv.weight.std().item() - math.sqrt(2 / (9 * conv.out_channels))) < 0.02
    up = full_encoder.up
    assert abs(up.weight.std().item() - math.sqrt(2 / (4 * 768))) < 0.002 and torch.count_nonzero(up.bias) == 0
    deform = stage.extractor.attn
    assert isinstance(deform, MultiScaleDeformableAttention)
    assert torch.count_nonzero(deform.sampling_offsets.weight) == 0
    assert torch.count_nonzero(deform.attention_weights.weight) == 0
    assert abs(full_encoder.level_embed.std().item() - 1.0) < 0.05


def test_caches_filled_under_inference_mode_work_in_training():
    """Validation (inference mode) first, then a training step: cached position/reference tensors must not break
    autograd."""
    encoder = tiny_encoder()
    image = torch.randn(1, 3, 32, 48)
    with torch.inference_mode():
        encoder.eval()(image)
    outputs = encoder.train()(image)
    sum(o.sum() for o in outputs).backward()
    assert encoder.up.weight.grad is not None
