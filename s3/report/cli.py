"""`s3 report ablation --runs DIR_OR_WANDB_PROJECT`: the paper's Table 3 from our runs, next to the paper's numbers.

    s3 report ablation --runs outputs/ [--training davis_ytvos|mega] [--test-size 480p|600_720p] [--output DIR]

writes `ablation_<training>_<test size>.md` and `.png` into --output (default: the runs folder, or `.` for a
W&B project) and prints the Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from s3.io.atomic import atomic_path, write_text_atomic
from s3.report.collect import collect_runs
from s3.report.table import build_rows, render_chart, render_markdown


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3 report", description="Experiment reports.")
    reports = parser.add_subparsers(dest="report", required=True, metavar="REPORT")
    ablation = reports.add_parser("ablation", help="paper Table 3 layout from runs (local folders or W&B)")
    ablation.add_argument("--runs", required=True, help="folder of runs (CSV / W&B offline) or W&B entity/project")
    ablation.add_argument("--training", choices=("davis_ytvos", "mega"), default="davis_ytvos")
    ablation.add_argument("--test-size", choices=("480p", "600_720p"), default="480p")
    ablation.add_argument("--output", type=Path, default=None, help="folder for the .md and .png")
    return parser


def run_ablation(args: argparse.Namespace) -> int:
    runs = collect_runs(args.runs)
    rows = build_rows(runs, args.training, args.test_size)
    markdown = render_markdown(rows, args.training, args.test_size)
    output = args.output or (Path(args.runs) if Path(args.runs).is_dir() else Path("."))
    stem = f"ablation_{args.training}_{args.test_size}"
    write_text_atomic(output / f"{stem}.md", markdown)
    with atomic_path(output / f"{stem}.png") as temporary:  # matplotlib picks the format from the suffix
        render_chart(rows, temporary, f"{args.training}, test size {args.test_size}")
    print(markdown)
    print(f"wrote {output / stem}.md and .png")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.report == "ablation":
        return run_ablation(args)
    return 2
