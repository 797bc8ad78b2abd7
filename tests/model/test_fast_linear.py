"""The oneDNN-backed linear: same values as F.linear, F.linear whenever gradients are needed, keys unchanged."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from s3.model import build_network
from s3.model.deploy import inference_view, prepare_for_inference
from s3.model.fast_linear import MIN_ROWS, OneDNNLinear, linear


@pytest.mark.parametrize("shape", [(MIN_ROWS,), (2, 300), (1, 3, 7, 40)])
def test_matches_f_linear_under_inference_mode(shape) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    x, weight, bias = torch.randn(*shape, 48), torch.randn(20, 48), torch.randn(20)
    with torch.inference_mode(), mock.patch("torch.nn.functional.conv2d", wraps=F.conv2d) as conv:
        out = linear(x, weight, bias)
        no_bias = linear(x, weight)
    assert conv.call_count == 2  # every case has at least MIN_ROWS rows: the convolution path ran
    torch.testing.assert_close(out, F.linear(x, weight, bias), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(no_bias, F.linear(x, weight), rtol=1e-5, atol=1e-5)
    assert out.shape == (*shape, 20)


def test_falls_back_to_f_linear_when_gradients_or_small() -> None:
    x = torch.randn(400, 16, requires_grad=True)
    layer = OneDNNLinear(16, 8)
    with mock.patch("torch.nn.functional.conv2d", wraps=F.conv2d) as conv:
        layer(x).sum().backward()
        with torch.no_grad():
            layer(torch.randn(MIN_ROWS - 1, 16))
    assert conv.call_count == 0 and x.grad is not None and layer.weight.grad is not None


def test_swap_keeps_parameters_keys_and_skips_subclasses() -> None:
    model = nn.Sequential(nn.Linear(4, 5), nn.MultiheadAttention(8, 2), nn.Sequential(nn.Linear(5, 3)))
    keys = list(model.state_dict())
    weight = model[0].weight
    prepared = inference_view(model)
    assert type(prepared[0]) is OneDNNLinear and type(prepared[2][0]) is OneDNNLinear
    assert type(prepared[1].out_proj) is not OneDNNLinear  # MultiheadAttention uses its weights functionally
    assert prepared[0].weight is weight and list(prepared.state_dict()) == keys
    assert type(model[0]) is nn.Linear and type(model[2][0]) is nn.Linear  # the reference model is untouched


def test_prepared_networks_use_it_and_reference_networks_do_not() -> None:
    network = build_network("s3", "tiny")
    assert not any(isinstance(m, OneDNNLinear) for m in network.modules())
    prepared = prepare_for_inference(network)
    assert not any(type(m) is nn.Linear for m in prepared.modules())
    assert isinstance(prepared.pixel_encoder.vit_module.blocks[0].mlp.fc1, OneDNNLinear)
