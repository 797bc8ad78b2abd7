"""Depth-Anything / DINOv2 checkpoints with the real key layouts load into S3's ViT-B/16."""

from __future__ import annotations

import json

import pytest
import torch

from s3.model.vit_backbone import DinoVisionTransformer
from s3.model.vit_weights import (
    VitWeightsError,
    convert_vit_state_dict,
    detect_vit_checkpoint,
    load_vit_weights,
    resample_patch_kernel,
)

DEPTH_HEAD_KEYS = {
    "depth_head.projects.0.weight": (96, 768, 1, 1),
    "depth_head.scratch.layer1_rn.weight": (64, 96, 3, 3),
    "depth_head.scratch.output_conv2.0.bias": (32,),
}


@pytest.fixture(scope="module")
def depth_anything_state(manifests_dir) -> dict[str, torch.Tensor]:
    """Random tensors with exactly the Depth-Anything V1 ViT-B/14 encoder layout, plus a few decoder keys."""
    manifest = json.loads((manifests_dir / "depth_anything_vitb14_encoder.json").read_text())
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) for key, shape in manifest.items()}
    state.update({key: torch.randn(shape, generator=generator) for key, shape in DEPTH_HEAD_KEYS.items()})
    return state


@pytest.fixture(scope="module")
def vit() -> DinoVisionTransformer:
    return DinoVisionTransformer()


def test_manifest_layout_is_the_expected_one(depth_anything_state):
    encoder = [key for key in depth_anything_state if key.startswith("pretrained.")]
    assert len(encoder) == 175
    assert sum(depth_anything_state[key].numel() for key in encoder) == 86_580_480
    assert detect_vit_checkpoint(depth_anything_state) == "depth_anything"


def test_depth_anything_file_loads_strictly(tmp_path, depth_anything_state, vit):
    path = tmp_path / "depth_anything_vitb14.pth"
    torch.save(depth_anything_state, path)
    report = load_vit_weights(vit, path)
    assert report.source == "depth_anything"
    assert report.missing == [] and report.unexpected == []
    assert sorted(report.dropped) == sorted(DEPTH_HEAD_KEYS)
    assert report.loaded == 175
    torch.testing.assert_close(vit.pos_embed, depth_anything_state["pretrained.pos_embed"], rtol=0, atol=0)
    torch.testing.assert_close(vit.blocks[11].ls2.gamma, depth_anything_state["pretrained.blocks.11.ls2.gamma"])
    torch.testing.assert_close(vit.mask_token, depth_anything_state["pretrained.mask_token"])
    kernel = depth_anything_state["pretrained.patch_embed.proj.weight"]
    torch.testing.assert_close(vit.patch_embed.proj.weight, resample_patch_kernel(kernel, 16))
    assert vit.pos_embed.shape == (1, 1370, 768)
    assert not any(p.requires_grad for p in vit.parameters())  # still frozen


def tiny_dinov2_b14_layout() -> tuple[DinoVisionTransformer, dict[str, torch.Tensor]]:
    """A small ViT and a DINOv2-style (patch 14, no prefix) state_dict for it."""
    small = DinoVisionTransformer(embed_dim=32, depth=2, num_heads=2, img_size=64)
    state = {key: torch.randn_like(value) for key, value in small.state_dict().items()}
    state["patch_embed.proj.weight"] = torch.randn(32, 3, 14, 14)
    return small, state


def test_plain_dinov2_full_size(tmp_path, depth_anything_state, vit):
    plain = {
        key.removeprefix("pretrained."): value for key, value in depth_anything_state.items() if "depth_head" not in key
    }
    assert detect_vit_checkpoint(plain) == "dinov2"
    path = tmp_path / "dinov2_vitb14.pth"
    torch.save(plain, path)
    report = load_vit_weights(vit, path)
    assert report.source == "dinov2" and report.dropped == [] and report.loaded == 175


def test_register_tokens_are_reported_as_unexpected(tmp_path):
    small, state = tiny_dinov2_b14_layout()
    path = tmp_path / "dinov2_reg4.pth"
    torch.save({**state, "register_tokens": torch.zeros(1, 4, 32)}, path)
    with pytest.raises(VitWeightsError, match=r"unexpected \['register_tokens'\]"):
        load_vit_weights(small, path)
    report = load_vit_weights(small, path, strict=False)
    assert report.unexpected == ["register_tokens"] and report.missing == []
    torch.testing.assert_close(small.blocks[1].mlp.fc2.weight, state["blocks.1.mlp.fc2.weight"])


def test_missing_keys_are_listed(tmp_path):
    small, state = tiny_dinov2_b14_layout()
    partial = {key: value for key, value in state.items() if "blocks.1.mlp" not in key}
    path = tmp_path / "partial.pth"
    torch.save({"model": partial}, path)  # also exercises the `model` wrapper
    with pytest.raises(VitWeightsError, match="blocks.1.mlp.fc1.weight"):
        load_vit_weights(small, path)
    report = load_vit_weights(small, path, strict=False)
    assert "blocks.1.mlp.fc2.bias" in report.missing


def test_shape_mismatch_and_bad_files(tmp_path):
    small = DinoVisionTransformer(embed_dim=32, depth=1, num_heads=2, img_size=64)
    state = {key: value.clone() for key, value in small.state_dict().items()}
    state["pos_embed"] = torch.zeros(1, 5, 32)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(VitWeightsError, match=r"pos_embed \(1, 5, 32\) vs \(1, 17, 32\)"):
        load_vit_weights(small, path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_vit_weights(small, tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    torch.save({"weights": torch.zeros(1)}, junk)
    with pytest.raises(VitWeightsError, match="not a Depth-Anything"):
        load_vit_weights(small, junk)


def test_patch_kernel_resampling_is_bilinear_align_corners():
    torch.manual_seed(0)
    kernel = torch.randn(2, 3, 14, 14)
    resized = resample_patch_kernel(kernel, 16)
    assert resized.shape == (2, 3, 16, 16)
    # align_corners=True keeps the four corners; output pixel i sits at source position i * 13 / 15.
    for i, j in [(0, 0), (0, 15), (15, 0), (15, 15)]:
        torch.testing.assert_close(resized[..., i, j], kernel[..., i * 13 // 15, j * 13 // 15])
    y, x = 7 * 13 / 15, 4 * 13 / 15
    y0, x0 = int(y), int(x)
    fy, fx = y - y0, x - x0
    expected = (
        kernel[..., y0, x0] * (1 - fy) * (1 - fx)
        + kernel[..., y0, x0 + 1] * (1 - fy) * fx
        + kernel[..., y0 + 1, x0] * fy * (1 - fx)
        + kernel[..., y0 + 1, x0 + 1] * fy * fx
    )
    torch.testing.assert_close(resized[..., 7, 4], expected)
    # No magnitude rescaling: a constant kernel stays constant, so its sum grows by (16/14)².
    constant = resample_patch_kernel(torch.ones(1, 3, 14, 14), 16)
    torch.testing.assert_close(constant.sum() / (3 * 14 * 14), torch.tensor((16 / 14) ** 2))


def test_conversion_is_pure(depth_anything_state):
    before = {key: value.clone() for key, value in list(depth_anything_state.items())[:3]}
    converted, kind, dropped = convert_vit_state_dict(depth_anything_state)
    assert kind == "depth_anything" and len(dropped) == len(DEPTH_HEAD_KEYS)
    assert converted["patch_embed.proj.weight"].shape == (768, 3, 16, 16)
    assert depth_anything_state["pretrained.patch_embed.proj.weight"].shape == (768, 3, 14, 14)
    for key, value in before.items():
        assert torch.equal(depth_anything_state[key], value)
