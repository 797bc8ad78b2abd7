"""Capturing block outputs: every preset's table, hooks that change nothing, the figure's panels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s3.inference import VideoPredictor
from s3.model import build_network
from s3.model.deploy import prepare_for_inference
from s3.model.registry import PRESETS
from s3.visualize import (
    BlockNotComputedError,
    FeatureCapture,
    UnknownBlockError,
    available_blocks,
    capture_features,
    default_blocks,
    read_layout,
    select_blocks,
    to_map,
    visualize_features,
)

HEIGHT = 64


@pytest.fixture(scope="module")
def judo(fixtures_dir: Path) -> tuple[Path, Path]:
    root = fixtures_dir / "cutie_examples"
    return root / "images" / "judo" / "00000.jpg", root / "masks" / "judo" / "00000.png"


def tiny(preset: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network(preset, "tiny").eval()


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_block_of_every_preset_is_captured_as_a_map(preset: str) -> None:
    network = tiny(preset)
    table = available_blocks(network)
    image = torch.rand(3, HEIGHT, 96)
    masks = torch.zeros(2, HEIGHT, 96)
    masks[0, 10:40, 20:50] = 1
    masks[1, 40:60, 60:90] = 1
    captured = capture_features(network, image, masks, list(table))
    assert set(captured.tensors) == set(table)
    grid = (HEIGHT // 16, 96 // 16)
    for name, block in table.items():
        feature = to_map(block, captured.tensors[name], grid)
        assert feature.ndim == 3 and feature.shape[-2] in (grid[0], 2 * grid[0], 4 * grid[0]), name
        assert torch.isfinite(feature).any(), name
    vit = "vit" in PRESETS[preset].components
    assert any(name.startswith("vit.block") for name in table) == vit
    assert ("resnet.layer3" in table) == (not vit)
    assert ("stage0.semantic" in table) == (preset == "s3")
    assert ("stage0.spatial" in table) == ("spatial" in PRESETS[preset].components)
    # the assembled maps are the encoder's own outputs (unprojected: encoder width)
    assert captured.tensors["f8"].shape[1] == network.ms_dims[1]
    # Cutie's attention weights are a distribution over pixels for every query and head
    if preset in ("cutie",):
        weights = captured.tensors["attention"]
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


@pytest.mark.parametrize("fast_paths", [False, True], ids=["reference", "prepared"])
@pytest.mark.parametrize("preset", ["cutie", "s3"])
def test_hooks_leave_the_predictor_output_unchanged(preset: str, fast_paths: bool) -> None:
    network = tiny(preset)
    generator = torch.Generator().manual_seed(1)
    frames = [torch.rand(3, HEIGHT, 96, generator=generator) for _ in range(3)]
    mask = torch.zeros(HEIGHT, 96, dtype=torch.int64)
    mask[10:40, 20:60] = 1

    def run() -> list[torch.Tensor]:
        predictor = VideoPredictor(network, fast_paths=fast_paths)
        return [predictor.step(frame, mask if index == 0 else None) for index, frame in enumerate(frames)]

    plain = run()
    names = list(available_blocks(network))
    with FeatureCapture(network, names) as capture:
        hooked = run()
    if fast_paths:  # the inference form fuses the semantic reads (and the unfolded stride-4 prior) away
        assert {"f16", "key", "readout", "attention", "stage3.spatial"} & set(names) <= set(capture.tensors)
    else:
        assert set(capture.tensors) == set(names)
    for expected, actual in zip(plain, hooked, strict=True):
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    assert not any(module._forward_hooks or module._forward_pre_hooks for module in network.modules())


@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_inference_form_shows_the_same_blocks(preset: str) -> None:
    network = tiny(preset)
    prepared = prepare_for_inference(network)
    image, masks = torch.rand(3, HEIGHT, 96), torch.zeros(1, HEIGHT, 96)
    masks[0, 10:40, 20:50] = 1
    names = [name for name in available_blocks(network) if not name.endswith(".semantic")]
    reference = capture_features(network, image, masks, names)
    fused = capture_features(prepared, image, masks, names)
    for name in names:
        torch.testing.assert_close(fused.tensors[name], reference.tensors[name], rtol=1e-4, atol=1e-4)
    if preset == "s3":  # the prepared stages fold the semantic read into their row blocks
        with pytest.raises(BlockNotComputedError, match=r"--blocks: stage0.semantic.* not computed"):
            capture_features(prepared, image, masks, ["stage0.semantic", "key"])


def test_capture_leaves_the_network_as_it_was() -> None:
    network = tiny("s3")
    before = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    flags = [p.requires_grad for p in network.parameters()]
    capture_features(network, torch.rand(3, HEIGHT, 64), torch.ones(1, HEIGHT, 64), ["stage0.semantic", "key"])
    assert [p.requires_grad for p in network.parameters()] == flags
    assert all(p.grad is None for p in network.parameters())
    for name, tensor in network.state_dict().items():
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=0)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_figure_has_one_panel_per_requested_block(preset: str, judo, tmp_path: Path) -> None:
    frame, mask = judo
    network = tiny(preset)
    requested = default_blocks(network)[-4:]
    layout = visualize_features(
        preset, "tiny", frame=frame, mask=mask, blocks=requested, output=tmp_path / "f.png", height=HEIGHT
    )
    assert layout.panel_counts() == {f"{preset} (random weights)": len(requested)}
    stored = read_layout(tmp_path / "f.png")
    assert stored.rows[0].panels == requested and stored.rows[0].empty == []
    assert stored.rows[0].scale == [-2.5, 2.5]  # pca: one clip range in σ units
    with Image.open(tmp_path / "f.png") as image:
        assert image.size[0] > 100 and image.size[1] > 50


def test_compare_draws_one_row_per_preset_and_saves_tensors(judo, tmp_path: Path) -> None:
    frame, mask = judo
    weights = tmp_path / "cutie.pth"
    torch.save(tiny("cutie").state_dict(), weights)
    layout = visualize_features(
        size="tiny",
        frame=frame,
        mask=mask,
        compare=[f"cutie={weights}", "cutie_dq_vit", "s3"],
        blocks=["f16", "stage*", "key"],
        output=tmp_path / "compare.png",
        save_tensors=tmp_path / "tensors.pt",
        style="norm",
        height=HEIGHT,
    )
    stored = read_layout(tmp_path / "compare.png")
    labels = ["cutie (cutie.pth)", "cutie_dq_vit (random weights)", "s3 (random weights)"]
    assert [row.label for row in stored.rows] == labels
    stage_names = [f"stage{i}.{part}" for i in range(4) for part in ("semantic", "spatial")]
    for row in stored.rows:
        assert row.panels == ["f16", *stage_names, "key"]
    assert stored.rows[0].empty == stage_names and stored.rows[2].empty == []
    assert all(0 <= row.scale[0] < row.scale[1] for row in stored.rows)  # one RMS range per row (norm style)
    assert layout.panel_counts() == stored.panel_counts()
    tensors = torch.load(tmp_path / "tensors.pt")
    assert set(tensors["s3 (random weights)"]) == {"f16", *stage_names, "key"}
    assert tensors["cutie (cutie.pth)"]["key"].shape[1] == 32  # tiny key_dim


def test_unknown_block_lists_the_valid_names() -> None:
    table = available_blocks(tiny("cutie"))
    with pytest.raises(UnknownBlockError, match=r"unknown block 'stage0.semantic'; valid names: resnet.stem, "):
        select_blocks([table], ["key", "stage0.semantic"], [[]])
    resnet = ["resnet.stem", "resnet.res2", "resnet.layer2", "resnet.layer3"]
    assert select_blocks([table], ["resnet.*"], [[]]) == [resnet]


def test_attention_map_blanks_blocked_pixels() -> None:
    from s3.visualize.features import attention_map

    scores = torch.zeros(1, 2, 4, 6)
    scores[0, :, :2, :3] = float("-inf")  # the foreground queries never see the first three pixels
    out = attention_map(scores, (2, 3))
    assert out.shape == (1, 2, 3)
    assert torch.isnan(out.flatten()[:3]).all() and (out.flatten()[3:] == 0).all()
    assert np.isfinite(out.numpy()).sum() == 3
