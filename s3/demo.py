"""`s3 demo`: train the tiny network on synthetic videos, validate it, and print one J&F line.

Extra arguments are passed to `s3 fit` (e.g. `s3 demo --trainer.max_steps 50`). The last line printed is
`J&F model=<x.xxx> copy-first-frame=<y.yyy>`: the model's mean J&F on the held-out synthetic videos and that
of the trivial baseline that repeats the first-frame mask. `s3 demo --help` prints `HELP` (not `fit`'s help, which
the extra flags would otherwise reach).
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import torch

DEFAULT_CONFIG = Path("configs/demo.yaml")
HELP_FLAGS = ("-h", "--help")
HELP = """\
usage: s3 demo [FIT FLAGS ...]

Trains the tiny Cutie network on synthetic videos on the CPU (`s3 fit --config configs/demo.yaml`; the synthetic
DAVIS-layout set is generated into data/synthetic_davis/ on first use), validates it on the held-out synthetic
videos and prints as its last line

  J&F model=<x.xxx> copy-first-frame=<y.yyy>

(the baseline repeats the first-frame mask). Logs and last.ckpt land in outputs/demo/.

Every flag is passed to `s3 fit` on top of the demo config, for example:
  s3 demo --trainer.max_steps 50
  s3 demo --model.preset s3 --trainer.default_root_dir outputs/demo_s3

`s3 fit --help` lists those flags; `s3 fit --config configs/demo.yaml --print_config` shows the demo's values.
"""


def demo_config() -> Path:
    """The repository's demo config, or the copy shipped inside the package."""
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    return Path(str(resources.files("s3") / "configs" / "demo.yaml"))


def find_score(metrics: dict[str, float], method: str) -> float:
    suffix = "/JF" if method == "model" else f"/{method}/JF"
    values = [
        v
        for k, v in metrics.items()
        if k.startswith("val/") and k.endswith(suffix) and k.count("/") == suffix.count("/") + 1
    ]
    if not values:
        raise RuntimeError(f"validation produced no {method} J&F (metrics: {sorted(metrics)})")
    return float(sum(values) / len(values))


def main(argv: list[str] | None = None) -> int:
    """Runs the demo with `argv` as extra `s3 fit` flags; `-h` / `--help` prints the demo's own help instead."""
    from s3.cli import S3CLI

    if any(word in HELP_FLAGS for word in argv or []):
        print(HELP, end="")
        return 0
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.monotonic()
    cli = S3CLI(args=["fit", "--config", str(demo_config()), *(argv or [])])
    trained = time.monotonic()
    results = cli.trainer.validate(cli.model, datamodule=cli.datamodule, verbose=False)
    metrics = {k: float(v) for k, v in results[0].items()}
    model, baseline = find_score(metrics, "model"), find_score(metrics, "copy_first_frame")
    print(f"demo: trained in {trained - start:.0f} s, validated in {time.monotonic() - trained:.0f} s")
    print(f"J&F model={model:.3f} copy-first-frame={baseline:.3f}")
    return 0
