"""`s3 demo`: train the tiny network on synthetic videos, validate it, and print one J&F line.

Extra arguments are passed to `s3 fit` (e.g. `s3 demo --trainer.max_steps 50`). The last line printed is
`J&F model=<x.xxx> copy-first-frame=<y.yyy>`: the model's mean J&F on the held-out synthetic videos and that
of the trivial baseline that repeats the first-frame mask.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import torch

DEFAULT_CONFIG = Path("configs/demo.yaml")


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
    from s3.cli import S3CLI

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
