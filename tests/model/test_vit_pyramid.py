"""The "+ViT" simple-feature-pyramid encoder: release keys, shapes, CLS and freezing switches."""

from __future__ import annotations

import json

import torch

from s3.model.vit_pyramid import ChannelLayerNorm, ViTPyramidEncoder

TINY = dict(embed_dim=32, depth=2, num_heads=2, img_size=64)


def test_full_size_keys_match_released_fpn_backbone(manifests_dir):
    manifest = json.loads((manifests_dir / "s3_ablation_vit_fpn.json").read_text())
    prefix = "pixel_encoder."
    expected = [(key[len(prefix) :], shape) for key, shape in manifest.items() if key.startswith(prefix)]
    encoder = ViTPyramidEncoder()
    assert [(key, list(value.shape)) for key, value in encoder.state_dict().items()] == expected
    assert encoder.ms_dims == (768, 768, 768)
    vit = sum(p.numel() for p in encoder.vit_module.parameters())
    assert vit == 86_718_720
    assert (
        sum(p.numel() for p in encoder.parameters() if p.requires_grad)
        == sum(p.numel() for p in encoder.parameters()) - vit
    )  # frozen by default


def test_shapes_and_frozen_vit_gets_no_gradient():
    encoder = ViTPyramidEncoder(**TINY).train()
    assert not encoder.vit_module.training
    f16, f8, f4 = encoder(torch.randn(2, 3, 48, 80))
    assert f16.shape == (2, 32, 3, 5) and f8.shape == (2, 32, 6, 10) and f4.shape == (2, 32, 12, 20)
    (f16.sum() + f8.sum() + f4.square().sum()).backward()
    for name, parameter in encoder.named_parameters():
        assert (parameter.grad is not None) == (not name.startswith("vit_module.")), name


def test_release_variant_trains_the_vit_and_drops_cls():
    torch.manual_seed(0)
    faithful = ViTPyramidEncoder(**TINY).eval()
    release = ViTPyramidEncoder(**TINY, freeze_vit=False, keep_cls=False).eval()
    release.load_state_dict(faithful.state_dict())
    assert all(p.requires_grad for p in release.vit_module.parameters())
    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(faithful(image)[0], release(image)[0])  # CLS in the blocks changes the tokens
    release.train()
    assert release.vit_module.training
    release(image)[0].sum().backward()
    assert release.vit_module.blocks[0].attn.qkv.weight.grad is not None


def test_channel_layer_norm_normalises_each_pixel():
    norm = ChannelLayerNorm(6)
    x = torch.randn(2, 6, 3, 4) * 5 + 2
    expected = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,), eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), expected, atol=1e-5, rtol=1e-5)
