"""Compiled inference: the predictor's network stages through `torch.compile`, the reference path one switch away.

`compile_network(network)` returns a shallow view of an (eval-mode) `VOSNetwork` - the same modules, parameters and
buffers - whose per-frame stages (`encode_image`, `transform_key`, `segment`, `encode_mask`, and the memory read-out's
`pixel_fusion` / `readout_query`) are `torch.compile`d functions; the network passed in is left untouched, so the
uncompiled path stays available on it. It is the last part of the deploy step:
`s3.model.deploy.prepare_for_inference(network, compile=True)` compiles the prepared inference form, and
`VideoPredictor(network, compile=True)` asks for that (`fast_paths=False, compile=False` is the reference path).

- CPU: inductor with *freezing*: under `torch.inference_mode` the weights become constants of the compiled graph, so
  convolution + BatchNorm are folded and convolution / linear weights are pre-packed for oneDNN once, at compile
  time. Consequence: a compiled view computes with the weights it saw at its first call; after changing the weights,
  build a new one (a new predictor).
- CUDA (untested here: no GPU on the development machine): inductor with CUDA graphs (`mode="reduce-overhead"`)
  for the stages whose input shapes are fixed per video; bf16 comes from the predictor's autocast (`amp=True`).

Compilation is lazy and cached per input shape: the first frame of a given size (and object count) pays it, every
later frame and every later video with the same shapes reuse the compiled code (dynamo's guards; the inductor's
on-disk cache also spares a new process most of the work). The frame-shaped stages are compiled with
`dynamic=False` (one specialised graph per frame size / object count); `readout_query`, whose object memory grows by
one frame per memory frame, uses automatic dynamic shapes, so the growing memory costs one recompile, not one per
length. Compiled and eager outputs agree to 1e-4 (`tests/inference/test_compiled.py`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch._inductor.config
from torch import nn

__all__ = ["COMPILED_STAGES", "CompileOptions", "CompiledNetwork", "compile_network", "compile_options", "is_compiled"]

# Stage name -> dynamic setting handed to torch.compile (False: one graph per shape; None: automatic dynamic).
COMPILED_STAGES: dict[str, bool | None] = {
    "encode_image": False,
    "transform_key": False,
    "segment": False,
    "encode_mask": False,
    "pixel_fusion": False,
    "readout_query": None,
}
# Shapes per stage that a long run may see (frame sizes x object counts x sensory-update flag): enough headroom
# that dynamo keeps compiling new shapes instead of silently falling back to eager.
RECOMPILE_LIMIT = 64


@dataclass(frozen=True)
class CompileOptions:
    """How `compile_network` compiles.

    stages: the network stages to compile (names of `COMPILED_STAGES`).
    freezing: inductor freezing on CPU (weights as graph constants: folded BatchNorm, pre-packed oneDNN weights).
    cuda_graphs: on CUDA, `mode="reduce-overhead"` (CUDA graphs) for the fixed-shape stages.
    """

    stages: tuple[str, ...] = tuple(COMPILED_STAGES)
    freezing: bool = True
    cuda_graphs: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.stages) - set(COMPILED_STAGES))
        if unknown:
            raise ValueError(f"CompileOptions.stages: unknown stage(s) {unknown}; known: {', '.join(COMPILED_STAGES)}")


@dataclass
class CompileTimes:
    """Seconds spent in calls that compiled something, per stage (the cold-start cost the benchmark reports)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


class CompiledNetwork:
    """Marker base: `compile_network` returns an instance of a subclass of both this and the network's class."""

    compile_times: CompileTimes
    reference: nn.Module


def compile_options(compile: bool | CompileOptions) -> CompileOptions | None:
    """The options a `compile=` switch stands for (`True`: the defaults; `False`: None, nothing compiled)."""
    if isinstance(compile, CompileOptions):
        return compile
    return CompileOptions() if compile else None


def is_compiled(network: nn.Module) -> bool:
    """True for a view returned by `compile_network`."""
    return isinstance(network, CompiledNetwork)


def compile_network(network: nn.Module, options: CompileOptions | None = None) -> nn.Module:
    """A view of `network` (same parameters, eval mode) whose stages in `options.stages` are compiled.

    `network` is not modified; compiling a compiled view returns it. The view's `reference` is `network`, and its
    `compile_times` accumulate the wall time of the calls that compiled (first call per new shape).
    """
    if is_compiled(network):
        return network
    options = options or CompileOptions()
    network.eval()
    view = copy.copy(network)  # shares the parameter / buffer / module dictionaries: no copy of any tensor
    view.__class__ = _compiled_class(type(network))
    view.__dict__["reference"] = network
    view.__dict__["compile_times"] = CompileTimes()
    device = _device_of(network)
    limit = getattr(torch._dynamo.config, "recompile_limit", None)
    if limit is not None and limit < RECOMPILE_LIMIT:
        torch._dynamo.config.recompile_limit = RECOMPILE_LIMIT
    for stage in options.stages:
        dynamic = COMPILED_STAGES[stage]
        bound = getattr(view, stage)
        settings = _backend_settings(device, options, dynamic)
        compiled = torch.compile(bound, dynamic=dynamic, **settings)
        freezing = options.freezing and device.type == "cpu"
        cuda_graphs = settings.get("mode") == "reduce-overhead"
        view.__dict__[stage] = _stage_call(compiled, stage, view.__dict__["compile_times"], freezing, cuda_graphs)
    return view


def _compiled_class(base: type) -> type:
    """`Compiled<Base>`: keeps isinstance checks on the network's class working for the view."""
    cached = _CLASSES.get(base)
    if cached is None:
        cached = type(f"Compiled{base.__name__}", (CompiledNetwork, base), {"__module__": __name__})
        _CLASSES[base] = cached
    return cached


_CLASSES: dict[type, type] = {}


def _device_of(network: nn.Module) -> torch.device:
    parameter = next(network.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _backend_settings(device: torch.device, options: CompileOptions, dynamic: bool | None) -> dict[str, Any]:
    """torch.compile keyword arguments for `device`: inductor freezing on CPU; CUDA graphs for fixed shapes on GPU."""
    if device.type == "cuda":
        if options.cuda_graphs and dynamic is False:
            return {"mode": "reduce-overhead"}
        return {}
    return {"options": {"freezing": options.freezing}}  # see `_stage_call`: also switched on around each call


def _stage_call(
    compiled: Callable[..., Any], stage: str, times: CompileTimes, freezing: bool, cuda_graphs: bool = False
) -> Callable[..., Any]:
    """Wraps a compiled stage: calls which (re)compiled add their wall time to `times`, and with `freezing` every
    call runs with inductor's freezing switched on.

    With `cuda_graphs` every call starts a new CUDA-graph step and its tensor outputs are cloned: a graph's outputs
    live in buffers that its next replay overwrites, while the predictor keeps them across frames (keys in the
    memory, the sensory state fed back into the next frame's `segment`). The copies cost a few MiB per frame.

    Freezing must be on while dynamo traces, not only while inductor compiles (`torch.compile(options=...)`): only
    then does dynamo turn the parameters into graph constants *and* guard on their identity, so that a view of
    another network (other weights) compiles its own code instead of reusing constants frozen from this one.
    A call is counted as compiling when dynamo's count of compiled graphs moved during it (a dictionary read).
    """
    stats = torch._dynamo.utils.counters["stats"]

    def call(*args: Any, **kwargs: Any) -> Any:
        before = stats["unique_graphs"]
        start = time.perf_counter()
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with torch._inductor.config.patch(freezing=freezing):
            result = compiled(*args, **kwargs)
        if cuda_graphs:
            result = torch.utils._pytree.tree_map_only(torch.Tensor, torch.Tensor.clone, result)
        if stats["unique_graphs"] != before:
            times.seconds[stage] = times.seconds.get(stage, 0.0) + time.perf_counter() - start
        return result

    call.__name__ = f"compiled_{stage}"
    return call
