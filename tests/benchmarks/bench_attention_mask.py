"""Object-transformer attention mask before / after (not collected by pytest):
`python tests/benchmarks/bench_attention_mask.py --preset cutie --frames 6`.

Two predictors share one random-weight network; one runs the previous mask path (the full per-head bool mask with
its boolean ops, converted by nn.MultiheadAttention in every block, and one more mask after the last block), the
other the current one. They step the same frames alternately, frame by frame, so load changes on a shared machine
hit both alike; the script prints the mean per-frame times, the median of the back-to-back pair differences, and
checks that the two predictors give identical probabilities.
"""

from __future__ import annotations

import argparse
import statistics
import time
import types

import torch
from torch import Tensor

from s3.benchmark import REFERENCE_ASPECT, synthetic_frames
from s3.inference import InferenceConfig, VideoPredictor
from s3.model.factory import build_network
from s3.model.layers import aggregate_with_background
from s3.model.object_transformer import ObjectTransformer


def previous_mask(self: ObjectTransformer, logits: Tensor, selector: Tensor | None, additive: bool = False) -> Tensor:
    """The previous formula (bool whatever `additive` asks: nn.MultiheadAttention converted it in every block)."""
    prob = torch.sigmoid(logits.float())
    if selector is not None:
        prob = prob * selector.view(*prob.shape[:2], 1, 1)
    agg = aggregate_with_background(prob, dim=1)
    owned = (agg[:, 1:] >= agg.max(dim=1, keepdim=True).values).flatten(2)
    shape = (*owned.shape[:2], self.num_heads, self.num_queries // 2, owned.shape[-1])
    mask = torch.cat([(~owned)[:, :, None, None].expand(shape), owned[:, :, None, None].expand(shape)], dim=3)
    mask = mask.flatten(0, 2)
    return mask & ~mask.all(dim=-1, keepdim=True)


def previous_forward(self: ObjectTransformer, pixel: Tensor, object_memory: Tensor, selector: Tensor | None = None):  # noqa: ANN201
    """The current forward plus the mask the previous one also built after the last block (then unused)."""
    out = ObjectTransformer.forward(self, pixel, object_memory, selector)
    self.attention_mask(out[1][-1], selector)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="cutie")
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    network = build_network(args.preset, "base").eval()
    height, width = args.size, int(args.size * REFERENCE_ASPECT)
    frames, mask = synthetic_frames(8, height, width, 2, torch.device("cpu"))
    new = VideoPredictor(network, InferenceConfig())
    old = VideoPredictor(network, InferenceConfig())
    transformer = network.object_transformer
    current = (transformer.attention_mask, transformer.forward)
    patched = (types.MethodType(previous_mask, transformer), types.MethodType(previous_forward, transformer))
    times: dict[str, list[float]] = {"previous": [], "current": []}
    for t in range(args.frames + 2):
        for name, predictor, (mask_fn, forward_fn) in (("previous", old, patched), ("current", new, current)):
            transformer.attention_mask, transformer.forward = mask_fn, forward_fn
            start = time.perf_counter()
            prob = predictor.step(frames[t % len(frames)], mask if t == 0 else None)
            if t >= 2:  # the masked frame and one warm-up step are not timed
                times[name].append(time.perf_counter() - start)
            if name == "previous":
                reference = prob
            elif not torch.equal(prob, reference):
                raise SystemExit(f"frame {t}: the two mask paths gave different probabilities")
    pairs = [1000 * (a - b) for a, b in zip(times["previous"], times["current"], strict=True)]
    means = {name: 1000 * statistics.fmean(values) for name, values in times.items()}
    print(
        f"{args.preset} {width}x{height}, 2 objects, {args.threads} thread(s), {args.frames} frames: previous "
        f"{means['previous']:.0f} ms/frame, current {means['current']:.0f} ms/frame; median saving per frame pair "
        f"{statistics.median(pairs):.0f} ms; identical outputs"
    )


if __name__ == "__main__":
    main()
