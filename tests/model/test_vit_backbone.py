"""The DINOv2-style ViT: keys, counts, position-table resizing, freezing and partial fine-tuning."""

from __future__ import annotations

import json
import math

import pytest
import torch

from s3.model.vit_backbone import DinoVisionTransformer, interpolate_position_table


def tiny_vit(**overrides) -> DinoVisionTransformer:
    config = dict(embed_dim=32, depth=4, num_heads=2, img_size=64)
    config.update(overrides)
    return DinoVisionTransformer(**config)


def test_full_size_keys_and_count_match_manifest(manifests_dir):
    manifest = json.loads((manifests_dir / "s3_full_vitb.json").read_text())
    prefix = "pixel_encoder.vit_module."
    expected = [(key[len(prefix) :], shape) for key, shape in manifest.items() if key.startswith(prefix)]
    vit = DinoVisionTransformer()
    assert [(key, list(value.shape)) for key, value in vit.state_dict().items()] == expected
    assert sum(p.numel() for p in vit.parameters()) == 86_718_720
    assert not any(p.requires_grad for p in vit.parameters())
    block = vit.blocks[0]
    assert block.norm1.eps == 1e-6 and vit.norm.eps == 1e-6
    assert torch.allclose(block.ls1.gamma, torch.full((768,), 1e-5))
    assert block.attn.fused_attn  # F.scaled_dot_product_attention


def test_position_table_unchanged_at_native_grid():
    table = torch.randn(1, 1 + 16, 8)
    assert torch.equal(interpolate_position_table(table, 4, 4), table)


def cubic_weights(t: float, a: float = -0.75) -> list[float]:
    """Keys cubic-convolution weights of the 4 neighbours (offsets -1, 0, 1, 2) at fractional position t."""

    def kernel(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0

    return [kernel(t + 1), kernel(t), kernel(1 - t), kernel(2 - t)]


def bicubic_1d_reference(values: list[float], out_size: int, scale: float) -> list[float]:
    """1-D bicubic resampling (align_corners=False, borders clamped) at src = (j + 0.5) / scale - 0.5."""
    out = []
    for j in range(out_size):
        src = (j + 0.5) / scale - 0.5
        base = math.floor(src)
        weights = cubic_weights(src - base)
        taps = [values[min(max(base + k, 0), len(values) - 1)] for k in (-1, 0, 1, 2)]
        out.append(sum(w * v for w, v in zip(weights, taps, strict=True)))
    return out


def test_position_table_uses_the_offset_scale_factor():
    """Rows of the table are equal, so each output row is a 1-D bicubic resampling of the column profile at
    src = (j + 0.5) / s - 0.5 with s = (w + 0.1) / G (the DINOv2 rule), not s = w / G."""
    side, grid_h, grid_w = 8, 6, 13
    profile = [0.0, 1.0, -2.0, 0.5, 3.0, 1.5, -1.0, 2.0]
    cols = torch.tensor(profile).repeat(side)  # row-major, value depends on the column only
    table = torch.cat([torch.full((1, 1, 1), 7.0), cols[None, :, None]], dim=1).expand(1, -1, 2).contiguous()
    resized = interpolate_position_table(table, grid_h, grid_w)
    assert resized.shape == (1, 1 + grid_h * grid_w, 2)
    assert torch.equal(resized[0, 0], torch.full((2,), 7.0))  # CLS entry kept
    patch = resized[0, 1:, 0].view(grid_h, grid_w)
    expected = torch.tensor(bicubic_1d_reference(profile, grid_w, (grid_w + 0.1) / side))
    for row in range(grid_h):
        torch.testing.assert_close(patch[row], expected, atol=1e-5, rtol=0)
    size_rule = torch.tensor(bicubic_1d_reference(profile, grid_w, grid_w / side))
    assert not torch.allclose(patch[0], size_rule, atol=1e-3)


def test_prepare_tokens_is_conv_plus_cls_plus_resized_positions():
    torch.manual_seed(0)
    vit = tiny_vit()
    image = torch.randn(2, 3, 48, 80)
    tokens, grid = vit.prepare_tokens(image)
    assert grid == (3, 5) and tokens.shape == (2, 16, 32)
    patches = vit.patch_embed.proj(image).flatten(2).transpose(1, 2)
    expected = torch.cat([vit.cls_token.expand(2, -1, -1), patches], 1) + interpolate_position_table(
        vit.pos_embed, 3, 5
    )
    torch.testing.assert_close(tokens, expected)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        vit.prepare_tokens(torch.randn(1, 3, 40, 48))


def test_position_cache_follows_weight_updates():
    vit = tiny_vit()
    first = vit.position_embedding(3, 5).clone()
    with torch.no_grad():
        vit.load_state_dict({**vit.state_dict(), "pos_embed": torch.randn_like(vit.pos_embed)})
    second = vit.position_embedding(3, 5)
    assert not torch.equal(first, second)
    torch.testing.assert_close(second, interpolate_position_table(vit.pos_embed, 3, 5))


def test_frozen_vit_stays_in_eval_and_gets_no_gradient():
    vit = tiny_vit(drop_path_rate=0.5)
    vit.train()
    assert not vit.training and not any(m.training for m in vit.modules())
    image = torch.randn(1, 3, 32, 32, requires_grad=True)
    tokens, _ = vit.prepare_tokens(image)
    out = vit.run_blocks(tokens, 0, 4)
    assert not out.requires_grad
    # Eval mode => drop path inactive => deterministic.
    again = vit.run_blocks(vit.prepare_tokens(image)[0], 0, 4)
    assert torch.equal(out, again)


def test_trainable_blocks_get_gradients_and_train_mode():
    vit = tiny_vit(trainable_blocks=[2, 3])
    trainable = {name for name, p in vit.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("blocks.2.", "blocks.3.")) for name in trainable)
    assert len(trainable) == 2 * len(list(vit.blocks[0].parameters()))
    vit.train()
    assert vit.blocks[2].training and vit.blocks[3].training and not vit.blocks[1].training
    tokens, _ = vit.prepare_tokens(torch.randn(1, 3, 32, 32))
    vit.run_blocks(tokens, 0, 4).sum().backward()
    for name, parameter in vit.named_parameters():
        assert (parameter.grad is not None) == (name in trainable), name


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    vit = tiny_vit(freeze=False)
    tokens = torch.randn(1, 5, 32)
    vit.run_blocks(tokens, 0, 4).square().sum().backward()
    plain = [p.grad.clone() for p in vit.parameters() if p.grad is not None]
    vit.zero_grad()
    vit.run_blocks(tokens, 0, 4, with_cp=True).square().sum().backward()
    checkpointed = [p.grad for p in vit.parameters() if p.grad is not None]
    assert len(plain) == len(checkpointed)
    for a, b in zip(plain, checkpointed, strict=True):
        torch.testing.assert_close(a, b)


def test_unfrozen_vit_trains_everything():
    vit = tiny_vit(freeze=False)
    assert all(p.requires_grad for p in vit.parameters())
    vit.train()
    assert vit.training and vit.blocks[0].training


def test_trainable_block_index_is_checked():
    with pytest.raises(ValueError, match="outside"):
        tiny_vit(trainable_blocks=[4])
