"""`prepare_for_inference`: the deploy step that turns a reference network into its fast inference form.

Training (and any researcher's edit) runs the reference modules, whose `forward` is the plain math. The predictor asks
for the prepared network instead (timm's `reparameterize_model` is the model): a second module tree over the *same*
parameters and buffers in which each module with a faster inference form is an instance of that form
(`s3.model.inference_forms`), every plain `nn.Linear` an `OneDNNLinear`, and the mask decoder's skip projections are
handed to the S3 encoder to be folded into its tail — the one place where a module uses another module's weights.

Because nothing is copied, the prepared tree costs no parameter memory, always computes with the reference's current
weights (an optimizer step, `load_state_dict` or `.to()` on the reference is seen at the next call; derived folds are
cached keyed on the parameters' version counters), and the reference network's modules, classes and training mode
are left untouched. The prepared tree is for inference only: it refuses `train()` and autograd.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from s3.model.conv_ffn import ConvFFN
from s3.model.deformable_attention import MultiScaleDeformableAttention
from s3.model.fast_linear import OneDNNLinear
from s3.model.inference_forms import (
    BatchFirstAttention,
    BlockedConvFFN,
    BlockedInteractionStage,
    BlockedSpatialExtractor,
    FoldedSemanticCrossAttention,
    FoldedSpatialPriorModule,
    FoldedTailEncoder,
    InferenceNetwork,
    OneDNNDeformableAttention,
)
from s3.model.network import VOSNetwork
from s3.model.spatial_prior import SpatialPriorModule
from s3.model.spatial_semantic_block import InteractionStage, SemanticCrossAttention, SpatialExtractor
from s3.model.spatial_semantic_encoder import SpatialSemanticEncoder

if TYPE_CHECKING:
    from s3.inference.compiled import CompileOptions

__all__ = ["INFERENCE_FORMS", "inference_view", "is_prepared", "prepare_for_inference"]

# Reference class -> inference form. Exact types only: a subclass (e.g. a researcher's variant of a block) keeps its
# own forward in the prepared network too.
INFERENCE_FORMS: dict[type[nn.Module], type[nn.Module]] = {
    VOSNetwork: InferenceNetwork,
    SpatialSemanticEncoder: FoldedTailEncoder,
    SpatialPriorModule: FoldedSpatialPriorModule,
    InteractionStage: BlockedInteractionStage,
    SpatialExtractor: BlockedSpatialExtractor,
    SemanticCrossAttention: FoldedSemanticCrossAttention,
    ConvFFN: BlockedConvFFN,
    MultiScaleDeformableAttention: OneDNNDeformableAttention,
    nn.Linear: OneDNNLinear,
    nn.MultiheadAttention: BatchFirstAttention,
}


def is_prepared(network: nn.Module) -> bool:
    """True for a network returned by `prepare_for_inference`."""
    return isinstance(network, InferenceNetwork)


def prepare_for_inference(network: VOSNetwork, *, compile: bool | CompileOptions = False) -> VOSNetwork:
    """The inference form of `network`, sharing its parameters and buffers, in eval mode.

    The result computes what `network` computes in eval mode (up to floating-point rounding; the test
    `tests/model/test_deploy.py` holds every preset to that) with the blocked / folded / oneDNN forms of
    `s3.model.inference_forms`. `network` itself is not modified. Preparing a prepared network returns it.
    `compile` (True or a `CompileOptions`) also compiles the prepared form's stages (`s3.inference.compiled`:
    torch.compile, inductor freezing on CPU; the compiled code keeps the weights of its first call).
    """
    if compile:
        from s3.inference.compiled import compile_network, compile_options  # s3.inference imports this module

        return compile_network(prepare_for_inference(network), compile_options(compile))
    if is_prepared(network):
        return network
    prepared = inference_view(network)
    encoder, decoder = getattr(prepared, "pixel_encoder", None), getattr(prepared, "mask_decoder", None)
    if isinstance(encoder, FoldedTailEncoder) and decoder is not None:
        # The deploy step's single cross-module link: the decoder's skip projections, folded into the encoder tail.
        projection8, projection4 = decoder.decoder_feat_proc.transforms
        encoder.skip_projections = (projection8, projection4)
    return prepared.eval()


def inference_view(module: nn.Module, memo: dict[int, nn.Module] | None = None) -> nn.Module:
    """A new module tree mirroring `module`'s: each node an instance of its inference form (or of its own class)
    holding the same parameter and buffer dictionaries, hooks and attributes, with its own children and mode.

    `prepare_for_inference` applies it to a whole network; tests apply it to single blocks. `memo` maps reference
    modules (by id) to their views, so a module used twice in the tree gets one view.
    """
    memo = {} if memo is None else memo
    existing = memo.get(id(module))
    if existing is not None:
        return existing
    view = object.__new__(INFERENCE_FORMS.get(type(module), type(module)))
    view.__dict__.update(module.__dict__)  # `_parameters` / `_buffers` are the reference's own dicts: shared
    memo[id(module)] = view
    view.__dict__["_modules"] = {
        name: None if child is None else inference_view(child, memo) for name, child in module._modules.items()
    }
    return view
