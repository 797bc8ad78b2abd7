"""Folding the mask decoder's skip projections into S3's encoder tail: same values as projecting the full maps."""

from __future__ import annotations

from unittest import mock

import torch
from torch import nn

from s3.model import build_network
from s3.model.deploy import prepare_for_inference
from s3.model.inference_forms import FoldedTailEncoder
from s3.model.linear_folding import batchnorm_affine, fold_norm_into_projection, project_transposed_conv


def randomise_batchnorms(module: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, so a wrong fold cannot pass."""
    generator = torch.Generator().manual_seed(1)
    for norm in module.modules():
        if isinstance(norm, nn.BatchNorm2d):
            channels = norm.num_features
            norm.running_mean.copy_(torch.randn(channels, generator=generator))
            norm.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
            norm.weight.data.copy_(torch.randn(channels, generator=generator))
            norm.bias.data.copy_(torch.randn(channels, generator=generator))


def test_batchnorm_affine_matches_eval_batchnorm_and_refuses_training_mode() -> None:
    norm = nn.BatchNorm2d(5)
    randomise_batchnorms(norm)
    x = torch.randn(2, 5, 3, 4)
    assert batchnorm_affine(norm) is None  # training mode: batch statistics
    norm.eval()
    scale, shift = batchnorm_affine(norm)
    torch.testing.assert_close(scale.view(1, 5, 1, 1) * x + shift.view(1, 5, 1, 1), norm(x))


def test_fold_norm_into_projection_and_transposed_conv() -> None:
    torch.manual_seed(0)
    norm, projection = nn.BatchNorm2d(6).eval(), nn.Conv2d(6, 3, kernel_size=1)
    randomise_batchnorms(norm)
    up = nn.ConvTranspose2d(4, 6, kernel_size=2, stride=2)
    x = torch.randn(2, 4, 5, 7)
    matrix, bias = fold_norm_into_projection(norm, projection)
    weight, up_bias = project_transposed_conv(up, matrix)
    folded = nn.functional.conv_transpose2d(x, weight, up_bias + bias, stride=2)
    torch.testing.assert_close(folded, projection(norm(up(x))), rtol=1e-5, atol=1e-5)
    assert fold_norm_into_projection(norm, nn.Conv2d(6, 3, kernel_size=3)) is None


def test_s3_prepared_encode_image_folds_skips_exactly_and_reference_projects_full_maps() -> None:
    torch.manual_seed(0)
    network = build_network("s3", "tiny")
    randomise_batchnorms(network.pixel_encoder)
    image = torch.rand(2, 3, 64, 96)
    projections = network.mask_decoder.decoder_feat_proc.transforms

    def unfolded() -> list[torch.Tensor]:
        f16, f8, f4 = network.pixel_encoder(network.normalize(image))
        return [f16, projections[0](f8), projections[1](f4)]

    network.eval()
    prepared = prepare_for_inference(network)
    with torch.inference_mode(), mock.patch.object(FoldedTailEncoder, "_folded_stride4", autospec=True,
                                                   side_effect=FoldedTailEncoder._folded_stride4) as fold:  # fmt: skip
        folded, _ = prepared.encode_image(image)
        reference = unfolded()
        assert torch.equal(network.encode_image(image)[0][2], reference[2])  # the reference never folds
    assert fold.call_count == 1
    assert [f.shape[1] for f in folded] == [network.ms_dims[0], *(p.out_channels for p in projections)]
    for got, want in zip(folded, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)

    network.train()  # BatchNorms use batch statistics: the encoder must project the full maps
    torch.manual_seed(3)
    features, _ = network.encode_image(image)
    torch.manual_seed(3)
    reference = unfolded()
    for got, want in zip(features, reference, strict=True):
        torch.testing.assert_close(got, want)
    features[2].sum().backward()
    assert network.pixel_encoder.up.weight.grad is not None and projections[1].weight.grad is not None
