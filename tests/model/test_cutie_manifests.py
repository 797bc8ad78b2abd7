"""The Cutie-base / Cutie-small networks are key-, shape- and order-identical to the official checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from s3.model import build_network, load_network_weights

OFFICIAL_COUNTS = {"base": 35_024_186, "small": 28_747_578}


@pytest.mark.parametrize("size", ["base", "small"])
def test_state_dict_matches_manifest(size: str, manifests_dir) -> None:
    manifest = json.loads((manifests_dir / f"cutie_{size}.json").read_text())
    network = build_network("cutie", size)
    ours = {k: list(v.shape) for k, v in network.state_dict().items()}
    assert list(ours) == list(manifest)  # same keys in the same order
    assert ours == manifest
    assert sum(p.numel() for p in network.parameters()) == OFFICIAL_COUNTS[size]
    assert all(p.requires_grad for p in network.parameters())


def _official_layout_checkpoint(manifest: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in manifest.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        else:
            state[key] = torch.randn(shape, generator=generator) if shape else torch.tensor(0.0)
    return state


def test_official_checkpoint_loads_strictly(tmp_path, manifests_dir) -> None:
    manifest = json.loads((manifests_dir / "cutie_small.json").read_text())
    state = _official_layout_checkpoint(manifest)
    path = tmp_path / "cutie-small-mega.pth"
    torch.save(state, path)
    network = build_network("cutie", "small", weights=path)
    loaded = network.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_single_object_checkpoint_is_converted(tmp_path, manifests_dir) -> None:
    manifest = json.loads((manifests_dir / "cutie_small.json").read_text())
    state = _official_layout_checkpoint(manifest)
    state["mask_encoder.conv1.weight"] = state["mask_encoder.conv1.weight"][:, :4].clone()
    state["pixel_fuser.sensory_compress.weight"] = state["pixel_fuser.sensory_compress.weight"][:, :257].clone()
    path = tmp_path / "static.pth"
    torch.save({"it": 80000, "weights": state, "optimizer": {}, "scheduler": {}}, path)
    network = build_network("cutie", "small", weights=path)
    conv1 = network.state_dict()["mask_encoder.conv1.weight"]
    assert conv1.shape == (64, 5, 7, 7)
    assert torch.equal(conv1[:, :4], state["mask_encoder.conv1.weight"])
    assert conv1[:, 4].abs().sum() > 0  # orthogonal, not zeros


def test_wrong_layout_lists_missing_and_unexpected_keys(tmp_path) -> None:
    network = build_network("cutie", "small")
    state = network.state_dict()
    state.pop("key_proj.key_proj.weight")
    state["decoder.extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as info:
        load_network_weights(build_network("cutie", "small"), path)
    message = str(info.value)
    assert "key_proj.key_proj.weight" in message and "decoder.extra.weight" in message
    assert "missing keys (1)" in message and "unexpected keys (1)" in message
