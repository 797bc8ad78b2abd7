"""The compiled inference path (`s3.inference.compiled`): same outputs as eager, reference untouched, compiled once.

Compilation with inductor is slow on 2 cores, so each preset family compiles one tiny network at a small frame size:
`cutie` (ResNet encoder) in the default run; `s3` (DQ + ViT + spatial + semantic), `cutie_dq_vit` (the ViT simple
pyramid, the third pixel encoder) and `s3 benchmark --compile` marked slow. `cutie_dq` and `cutie_dq_vit_spatial`
only recombine parts these compile.
"""

from __future__ import annotations

import pytest
import torch

from s3.inference import InferenceConfig, VideoPredictor
from s3.inference.compiled import CompileOptions, compile_network, is_compiled
from s3.model.deploy import is_prepared
from s3.model.factory import build_network
from s3.model.network import VOSNetwork
from tests.inference.conftest import blob_video

# mem_every 2 and a 3-frame stagger: memory frames, sensory updates on and off, and a growing object memory.
CONFIG = InferenceConfig(mem_every=2, stagger_updates=1)


def eager_and_compiled(network: VOSNetwork, frames: int, height: int, width: int) -> tuple[list, list, VideoPredictor]:
    images, masks = blob_video(frames, height, width)
    eager, compiled = VideoPredictor(network, CONFIG), VideoPredictor(network, CONFIG, compile=True)
    outputs: tuple[list, list] = ([], [])
    for t in range(frames):
        mask = masks[0] if t == 0 else None
        for predictor, out in zip((eager, compiled), outputs, strict=True):
            out.append(predictor.step(images[t], mask, end=t == frames - 1))
    return outputs[0], outputs[1], compiled


@pytest.mark.parametrize(
    "preset",
    [
        "cutie",  # ResNet pixel encoder, attention read-out
        # DQ + ViT + spatial + semantic: every other component (its compile takes minutes on 2 cores)
        pytest.param("s3", marks=pytest.mark.slow),
        # the ViT simple pyramid: the one pixel encoder the two rows above do not compile
        pytest.param("cutie_dq_vit", marks=pytest.mark.slow),
    ],
)
def test_compiled_predictor_matches_eager(preset: str) -> None:
    torch.manual_seed(0)
    network = build_network(preset, "tiny").eval()
    eager, compiled, predictor = eager_and_compiled(network, 5, 64, 113)  # `s3 benchmark --height 64`'s frames
    # the deploy step's compiled form: compiled over the prepared inference form; the reference is untouched
    assert is_compiled(predictor.network) and is_prepared(predictor.network.reference)
    assert not is_compiled(network) and not is_prepared(network) and "encode_image" not in network.__dict__
    for t, (a, b) in enumerate(zip(eager, compiled, strict=True)):
        assert a.shape == b.shape == (3, 64, 113)
        assert torch.allclose(a, b, atol=1e-4, rtol=0), f"frame {t}: max diff {(a - b).abs().max().item():.2e}"
    assert not torch.allclose(compiled[1], compiled[4])  # the frames differ: the comparison is not trivial
    times = predictor.network.compile_times
    assert {"encode_image", "segment", "encode_mask"} <= set(times.seconds) and times.total > 0
    # A second video of the same shapes reuses the compiled code: nothing more is compiled.
    before = dict(times.seconds)
    predictor.reset()
    images, masks = blob_video(3, 64, 113, seed=1)
    for t in range(3):
        predictor.step(images[t], masks[0] if t == 0 else None)
    assert times.seconds == before


def test_compile_view_shares_weights_and_refuses_unknown_stages(tiny_network: VOSNetwork) -> None:
    view = compile_network(tiny_network, CompileOptions(stages=("encode_image",)))
    assert compile_network(view) is view  # compiling twice is a no-op
    assert isinstance(view, VOSNetwork) and view.reference is tiny_network
    assert dict(view.named_parameters()).keys() == dict(tiny_network.named_parameters()).keys()
    assert all(a is b for a, b in zip(view.parameters(), tiny_network.parameters(), strict=True))
    assert view.pixel_encoder is tiny_network.pixel_encoder
    with pytest.raises(ValueError, match="CompileOptions.stages: unknown stage"):
        CompileOptions(stages=("encode_image", "decode"))


@pytest.mark.slow  # a second compile of the tiny network (a new network's frozen weights are never reused)
def test_benchmark_reports_the_cold_start_beside_the_frame_time(capsys) -> None:  # noqa: ANN001
    from s3.benchmark import main

    argv = ["--preset", "cutie", "--size", "tiny", "--height", "64", "--frames", "2", "--warmup", "2"]
    assert main([*argv, "--compile", "--threads", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("cutie (tiny) compiled 113x64, 2 objects") and " ms/frame" in line
    cold, compiling = (float(part.split(" s")[0]) for part in line.split("warm-up) ")[1].split("of which compiling "))
    # > 0 also when the test above already compiled these shapes for an equal network: the frozen weights are
    # guarded by identity, so a new network never reuses another one's compiled constants
    assert cold >= compiling > 0


def test_cuda_graph_stages_start_a_step_and_hand_out_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    # a CUDA-graph replay overwrites its output buffers, yet the predictor keeps keys and sensory across frames:
    # every call must begin a new graph step and return tensors that no later replay can touch
    from s3.inference import compiled as compiled_module

    assert compiled_module._backend_settings(torch.device("cuda"), CompileOptions(), False) == {
        "mode": "reduce-overhead"
    }
    assert compiled_module._backend_settings(torch.device("cuda"), CompileOptions(), None) == {}  # growing shapes
    steps = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: steps.append(1))
    buffers = ([torch.ones(2, 3), torch.zeros(4)], torch.full((1,), 7.0), None)

    def graph_replay(scale: float) -> tuple:  # stands in for a compiled stage: always the same output buffers
        buffers[0][0].mul_(scale)
        return buffers

    times = compiled_module.CompileTimes()
    stage = compiled_module._stage_call(graph_replay, "segment", times, freezing=False, cuda_graphs=True)
    (features, logits, nothing) = stage(2.0)
    assert len(steps) == 1 and nothing is None
    assert features[0].data_ptr() != buffers[0][0].data_ptr() and logits.data_ptr() != buffers[1].data_ptr()
    stage(5.0)  # the next replay overwrites the buffers, not what the first call returned
    assert len(steps) == 2
    assert torch.equal(features[0], torch.full((2, 3), 2.0)) and torch.equal(logits, torch.full((1,), 7.0))

    plain = compiled_module._stage_call(graph_replay, "segment", times, freezing=False)
    assert plain(1.0) is buffers and len(steps) == 2  # CPU / no CUDA graphs: outputs as they come, no step marks
