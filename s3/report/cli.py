"""`s3 report ablation --runs DIR_OR_WANDB_PROJECT`: the paper's Table 3 from our runs, next to the paper's numbers.

    s3 report ablation --runs outputs/ [--training davis_ytvos|mega] [--test_size 480p|600_720p] [--output DIR]

writes `ablation_<training>_<test size>.md` and `.png` into --output (default: the runs folder, or `.` for a
W&B project) and prints the Markdown.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from s3.io.atomic import atomic_path, write_text_atomic
from s3.io.output_paths import ensure_output_dir
from s3.report.collect import collect_runs
from s3.report.table import build_rows, render_chart, render_markdown


def report_ablation(
    runs: str,
    training: Literal["davis_ytvos", "mega"] = "davis_ytvos",
    test_size: Literal["480p", "600_720p"] = "480p",
    output: Path | None = None,
) -> int:
    """The paper's Table 3 layout from our runs (local folders or W&B), next to the paper's numbers: writes
    `ablation_<training>_<test size>.md` and `.png` and prints the Markdown.

    Args:
        runs: folder of runs (CSV / W&B offline) or a W&B entity/project
        training: the training data of the table's rows
        test_size: the evaluation size of the table's columns
        output: folder for the .md and .png (default: the runs folder, or `.` for a W&B project)
    """
    destination = ensure_output_dir(output or (Path(runs) if Path(runs).is_dir() else Path(".")), "--output")
    collected = collect_runs(runs)
    rows = build_rows(collected, training, test_size)
    markdown = render_markdown(rows, training, test_size)
    stem = f"ablation_{training}_{test_size}"
    write_text_atomic(destination / f"{stem}.md", markdown)
    with atomic_path(destination / f"{stem}.png") as temporary:  # matplotlib picks the format from the suffix
        render_chart(rows, temporary, f"{training}, test size {test_size}")
    print(markdown)
    print(f"wrote {destination / stem}.md and .png")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`s3 report ...` (argv without the `report`); returns the exit code."""
    from s3.cli import main as s3_main

    return s3_main(["report", *(sys.argv[1:] if argv is None else argv)])
