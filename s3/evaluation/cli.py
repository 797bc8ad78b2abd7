"""`s3 eval`: score a results folder with a benchmark's official protocol.

    s3 eval davis --davis-root ROOT --results DIR [--set val] [--output DIR] [--workers 2]
    s3 eval lvos --lvos-path SPLIT --results DIR --unseen-videos FILE [--set valid] [--output DIR] [--workers 2]

each writes `global_results-<set>.csv` and `per-sequence_results-<set>.csv` (into --output, default the
results folder, as the official toolkits do) and prints the global and per-object tables. A bad input is
reported as one line `s3 eval: error: ...` naming the file or field (exit code 1 for davis, 2 for lvos).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from s3.errors import S3Error
from s3.evaluation.davis import (
    PER_SEQUENCE_COLUMNS,
    DavisEvaluation,
    DavisScoringOptions,
    discover_sequences,
    evaluate_davis,
    write_csvs,
)
from s3.evaluation.lvos import (
    LVOS_PER_SEQUENCE_COLUMNS,
    LVOS_SETS,
    LvosEvaluation,
    discover_lvos,
    evaluate_lvos,
    read_unseen_videos,
    write_lvos_csvs,
)
from s3.metrics.aggregate import DAVIS_GLOBAL_COLUMNS

# Exit code of a bad-input error (one line on stderr) per benchmark; argparse usage errors are always 2.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3 eval", description="Evaluate segmentation results.")
    benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    davis = benchmarks.add_parser(
        "davis",
        help="DAVIS 2017 semi-supervised J&F (official toolkit numbers and CSVs)",
        description="DAVIS 2017 semi-supervised J&F, identical to the official toolkit.",
    )
    davis.add_argument("--davis-root", type=Path, required=True, help="DAVIS 2017 root (JPEGImages, Annotations)")
    davis.add_argument("--results", type=Path, required=True, help="folder of <sequence>/<frame>.png index masks")
    davis.add_argument("--set", dest="image_set", default="val", help="ImageSets/2017/<set>.txt (default: val)")
    davis.add_argument("--output", type=Path, default=None, help="where to write the CSVs (default: --results)")
    davis.add_argument("--workers", type=int, default=2, help="processes over sequences (default: 2)")
    davis.add_argument("--include-first-last", action="store_true", help="also score the first and last frames")
    davis.add_argument(
        "--decay-indices",
        choices=("uint8", "integer"),
        default="uint8",
        help="'uint8' reproduces the toolkit's decay bins exactly; 'integer' avoids their wrap past 256 frames",
    )
    davis.add_argument("--quiet", action="store_true", help="no progress bar and no per-object table")
    lvos = benchmarks.add_parser(
        "lvos",
        help="LVOS v1/v2 J&F, J, F and V, seen/unseen (official LVOS toolkit numbers and CSVs)",
        description="LVOS semi-supervised J&F, J, F and V over seen and unseen videos, as the official LVOS "
        "toolkit computes them (each object scored on its own frame range, first and last frame excluded).",
    )
    lvos.add_argument(
        "--lvos-path", type=Path, required=True, help="LVOS split folder holding Annotations/ and <set>_meta.json"
    )
    lvos.add_argument("--results", type=Path, required=True, help="folder of <video>/<8-digit frame>.png index masks")
    lvos.add_argument(
        "--unseen-videos",
        type=Path,
        required=True,
        help="unseen_videos.txt of the LVOS toolkit (one video name per line; must match the LVOS version)",
    )
    lvos.add_argument(
        "--set",
        dest="image_set",
        choices=LVOS_SETS,
        default="valid",
        help="reads <set>_meta.json (valid falls back to val_meta.json) and names the CSVs (default: valid)",
    )
    lvos.add_argument("--output", type=Path, default=None, help="where to write the CSVs (default: --results)")
    lvos.add_argument("--workers", type=int, default=2, help="processes over videos (default: 2)")
    lvos.add_argument("--quiet", action="store_true", help="no progress bar and no per-object table")
    return parser


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6f}"


def print_tables(evaluation: DavisEvaluation, console: Console, per_object: bool = True) -> None:
    table = Table(title=f"Global results for {evaluation.image_set}")
    for column in DAVIS_GLOBAL_COLUMNS:
        table.add_column(column, justify="right")
    table.add_row(*(_number(v) for v in evaluation.global_table.as_row().values()))
    console.print(table)
    if per_object:
        objects = Table(title=f"Per-object results for {evaluation.image_set}")
        for column in PER_SEQUENCE_COLUMNS:
            objects.add_column(column, justify="left" if column == "Sequence" else "right")
        for obj in evaluation.objects:
            objects.add_row(obj.row_name, _number(obj.statistics.j_mean), _number(obj.statistics.f_mean))
        console.print(objects)


def print_lvos_tables(evaluation: LvosEvaluation, console: Console, per_object: bool = True) -> None:
    table = evaluation.global_table
    # The 10 CSV columns as a 4 x 3 grid (all / seen / unseen), which fits a terminal.
    summary = Table(title=f"Global results for {evaluation.image_set}")
    for column in ("", "Mean", f"seen ({table.num_seen})", f"unseen ({table.num_unseen})"):
        summary.add_column(column, justify="left" if not column else "right")
    summary.add_row("J&F", _number(table.jf), "", "")
    summary.add_row("J", _number(table.j), _number(table.j_seen), _number(table.j_unseen))
    summary.add_row("F", _number(table.f), _number(table.f_seen), _number(table.f_unseen))
    summary.add_row("V", _number(table.v), _number(table.v_seen), _number(table.v_unseen))
    console.print(summary)
    if per_object:
        objects = Table(title=f"Per-object results for {evaluation.image_set}")
        for column in (*LVOS_PER_SEQUENCE_COLUMNS, "J-Recall", "F-Recall", "Frames", "Unseen"):
            objects.add_column(column, justify="left" if column == "Sequence" else "right")
        for obj in evaluation.objects:
            objects.add_row(
                obj.row_name,
                _number(obj.j_mean),
                _number(obj.f_mean),
                _number(obj.v),
                _number(obj.j_recall),
                _number(obj.f_recall),
                str(len(obj.frames)),
                "" if obj.seen else "yes",
            )
        console.print(objects)


def progress_bar(console: Console, quiet: bool) -> Progress:
    """The per-video progress bar of the scorers (hidden with --quiet)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )


def run_lvos(args: argparse.Namespace, console: Console) -> int:
    unseen = read_unseen_videos(args.unseen_videos)
    total = len(discover_lvos(args.lvos_path, unseen, args.image_set).videos)
    with progress_bar(console, args.quiet) as progress:
        task = progress.add_task(f"LVOS {args.image_set}", total=total)
        evaluation = evaluate_lvos(
            args.lvos_path,
            args.results,
            unseen,
            image_set=args.image_set,
            workers=args.workers,
            on_video_done=lambda _name: progress.advance(task),
        )
    for warning in evaluation.warnings:
        print(f"s3 eval: warning: {warning}", file=sys.stderr)
    global_path, per_sequence_path = write_lvos_csvs(evaluation, args.output or args.results)
    print_lvos_tables(evaluation, console, per_object=not args.quiet)
    console.print(f"wrote {global_path} and {per_sequence_path}")
    return 0


def run_davis(args: argparse.Namespace, console: Console) -> int:
    options = DavisScoringOptions(include_first_last=args.include_first_last, decay_indices=args.decay_indices)
    total = len(discover_sequences(args.davis_root, args.image_set))
    with progress_bar(console, args.quiet) as progress:
        task = progress.add_task(f"DAVIS {args.image_set}", total=total)
        evaluation = evaluate_davis(
            args.davis_root,
            args.results,
            image_set=args.image_set,
            options=options,
            workers=args.workers,
            on_sequence_done=lambda _name: progress.advance(task),
        )
    global_path, per_sequence_path = write_csvs(evaluation, args.output or args.results)
    print_tables(evaluation, console, per_object=not args.quiet)
    console.print(f"wrote {global_path} and {per_sequence_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `s3 eval`; returns the process exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_request:  # --help or a usage error (argparse already printed it)
        return int(exit_request.code or 0)
    console = Console()
    try:
        if args.benchmark == "davis":
            return run_davis(args, console)
        if args.benchmark == "lvos":
            return run_lvos(args, console)
    except (S3Error, FileNotFoundError, NotADirectoryError) as error:  # S3Error: mask files too (s3.io)
        print(f"s3 eval: error: {error}", file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled benchmark {args.benchmark}")  # argparse restricts the choices


if __name__ == "__main__":
    sys.exit(main())
