"""The ablation registry: one component per row, pinned parameter counts, official key layouts, bad combinations."""

from __future__ import annotations

import json

import pytest
import torch

from s3.model import build_network
from s3.model.registry import PRESETS, resolve_components

# (total, trainable) at size `base`. S3 and +DQ equal the official release exactly (ARCHITECTURE.md §7).
PINNED_COUNTS = {
    "cutie": (35_024_186, 35_024_186),
    "cutie_dq": (34_630_202, 34_630_202),
    "cutie_dq_vit": (138_204_094, 51_485_374),
    "cutie_dq_vit_spatial": (131_305_246, 44_586_526),
    "s3": (140_760_862, 54_042_142),
}
OFFICIAL_MANIFESTS = {"cutie": "cutie_base", "cutie_dq": "s3_ablation_dq_resnet50", "s3": "s3_full_vitb"}


def test_each_row_adds_exactly_one_component() -> None:
    rows = list(PRESETS.values())
    assert [p.name for p in rows] == ["cutie", "cutie_dq", "cutie_dq_vit", "cutie_dq_vit_spatial", "s3"]
    assert rows[0].components == frozenset()
    for previous, current in zip(rows, rows[1:], strict=False):
        assert previous.components < current.components and len(current.components - previous.components) == 1


@pytest.mark.parametrize("preset", list(PINNED_COUNTS))
def test_parameter_counts_and_official_layouts(preset: str, manifests_dir) -> None:
    network = build_network(preset, "base")
    total = sum(p.numel() for p in network.parameters())
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    assert (total, trainable) == PINNED_COUNTS[preset]
    if preset in OFFICIAL_MANIFESTS:
        manifest = json.loads((manifests_dir / f"{OFFICIAL_MANIFESTS[preset]}.json").read_text())
        ours = {k: list(v.shape) for k, v in network.state_dict().items()}
        assert list(ours) == list(manifest) and ours == manifest
    assert abs(PINNED_COUNTS["s3"][0] - 140_760_862) / 140_760_862 < 0.01


def test_component_switches_and_impossible_combinations() -> None:
    assert resolve_components("s3", {"semantic": False}) == PRESETS["cutie_dq_vit_spatial"].components
    assert resolve_components("cutie", {"discriminative_query": True}) == PRESETS["cutie_dq"].components
    with pytest.raises(ValueError, match="'semantic' needs 'spatial'"):
        resolve_components("cutie_dq_vit", {"semantic": True})
    with pytest.raises(ValueError, match="'spatial' needs 'vit'"):
        resolve_components("s3", {"vit": False})
    with pytest.raises(ValueError, match="unknown component"):
        resolve_components("s3", {"depth": True})
    with pytest.raises(ValueError, match="unknown preset"):
        build_network("s4", "tiny")
    with pytest.raises(ValueError, match="only apply to the ViT presets"):
        build_network("cutie", "tiny", drop_path_rate=0.1)


def test_transformer_size_is_a_separate_switch() -> None:
    assert len(build_network("cutie_dq_vit", "tiny").object_transformer.blocks) == 5
    network = build_network("cutie_dq_vit", "tiny", transformer="cutie")
    assert len(network.object_transformer.blocks) == 3 and network.num_queries == 16


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_trains_at_small_resolution(preset: str) -> None:
    from s3.training import S3Module

    torch.manual_seed(0)
    module = S3Module(preset=preset, size="tiny", num_points=128, num_ref_frames=1)
    batch = {
        "images": torch.rand(1, 3, 3, 64, 64),
        "masks": torch.zeros(1, 3, 2, 64, 64),
        "selector": torch.tensor([[1.0, 0.0]]),
    }
    batch["masks"][:, :, 0, 16:40, 20:44] = 1
    losses = module.clip_losses(batch)
    losses["total_loss"].backward()
    assert torch.isfinite(losses["total_loss"])
    params = dict(module.network.named_parameters())
    no_grad = [n for n, p in params.items() if p.requires_grad and p.grad is None]
    assert no_grad == []
    if "vit" in module.network.components:
        vit = [p for n, p in params.items() if n.startswith("pixel_encoder.vit_module.")]
        assert vit and all(not p.requires_grad and p.grad is None for p in vit)  # frozen: no gradient reaches it
        held = {id(p) for group in module.configure_optimizers()["optimizer"].param_groups for p in group["params"]}
        assert not any(id(p) in held for p in vit)  # and the optimizer does not hold it
        assert module.network.pad_multiple == 32
