"""`s3 eval`: score a results folder with a benchmark's official protocol.

    s3 eval davis --davis_root ROOT --results DIR [--set val] [--output DIR] [--workers 2]
    s3 eval lvos --lvos_path SPLIT --results DIR --unseen_videos FILE [--set valid] [--output DIR] [--workers 2]

each writes `global_results-<set>.csv` and `per-sequence_results-<set>.csv` (into --output, default the
results folder, as the official toolkits do) and prints the global and per-object tables. The command line is
built from the signatures of `eval_davis` and `eval_lvos` (s3/cli.py); a bad input is reported as one line
`s3: error: ...` naming the file or field, exit code 2.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
    LvosEvaluation,
    discover_lvos,
    evaluate_lvos,
    read_unseen_videos,
    write_lvos_csvs,
)
from s3.io.output_paths import ensure_output_dir
from s3.metrics.aggregate import DAVIS_GLOBAL_COLUMNS


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


def eval_lvos(
    lvos_path: Path,
    results: Path,
    unseen_videos: Path,
    set: Literal["valid", "test"] = "valid",  # noqa: A002 - the toolkit's word, `--set`
    output: Path | None = None,
    workers: int = 2,
    quiet: bool = False,
) -> int:
    """LVOS semi-supervised J&F, J, F and V over seen and unseen videos, as the official LVOS toolkit computes them
    (each object scored on its own frame range, first and last frame excluded).

    Args:
        lvos_path: LVOS split folder holding Annotations/ and <set>_meta.json
        results: folder of <video>/<8-digit frame>.png index masks
        unseen_videos: unseen_videos.txt of the LVOS toolkit (one video name per line; must match the LVOS version)
        set: reads <set>_meta.json (valid falls back to val_meta.json) and names the CSVs
        output: where to write the CSVs (default: --results)
        workers: processes over videos
        quiet: no progress bar and no per-object table
    """
    image_set = set
    destination = results if output is None else ensure_output_dir(output, "--output")
    console = Console()
    unseen = read_unseen_videos(unseen_videos)
    total = len(discover_lvos(lvos_path, unseen, image_set).videos)
    with progress_bar(console, quiet) as progress:
        task = progress.add_task(f"LVOS {image_set}", total=total)
        evaluation = evaluate_lvos(
            lvos_path,
            results,
            unseen,
            image_set=image_set,
            workers=workers,
            on_video_done=lambda _name: progress.advance(task),
        )
    for warning in evaluation.warnings:
        print(f"s3 eval: warning: {warning}", file=sys.stderr)
    global_path, per_sequence_path = write_lvos_csvs(evaluation, destination)
    print_lvos_tables(evaluation, console, per_object=not quiet)
    console.print(f"wrote {global_path} and {per_sequence_path}")
    return 0


def eval_davis(
    davis_root: Path,
    results: Path,
    set: str = "val",  # noqa: A002 - the toolkit's word, `--set`
    output: Path | None = None,
    workers: int = 2,
    include_first_last: bool = False,
    decay_indices: Literal["uint8", "integer"] = "uint8",
    quiet: bool = False,
) -> int:
    """DAVIS 2017 semi-supervised J&F, identical to the official toolkit (numbers and CSVs).

    Args:
        davis_root: DAVIS 2017 root (JPEGImages, Annotations, ImageSets)
        results: folder of <sequence>/<frame>.png index masks
        set: ImageSets/2017/<set>.txt
        output: where to write the CSVs (default: --results)
        workers: processes over sequences
        include_first_last: also score the first and last frames
        decay_indices: 'uint8' reproduces the toolkit's decay bins exactly; 'integer' avoids their wrap past 256
            frames
        quiet: no progress bar and no per-object table
    """
    image_set = set
    destination = results if output is None else ensure_output_dir(output, "--output")
    console = Console()
    options = DavisScoringOptions(include_first_last=include_first_last, decay_indices=decay_indices)
    total = len(discover_sequences(davis_root, image_set))
    with progress_bar(console, quiet) as progress:
        task = progress.add_task(f"DAVIS {image_set}", total=total)
        evaluation = evaluate_davis(
            davis_root,
            results,
            image_set=image_set,
            options=options,
            workers=workers,
            on_sequence_done=lambda _name: progress.advance(task),
        )
    global_path, per_sequence_path = write_csvs(evaluation, destination)
    print_tables(evaluation, console, per_object=not quiet)
    console.print(f"wrote {global_path} and {per_sequence_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`s3 eval ...` (argv without the `eval`); returns the process exit code."""
    from s3.cli import main as s3_main

    try:
        return s3_main(["eval", *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as exit_request:  # --help
        return int(exit_request.code or 0)


if __name__ == "__main__":
    sys.exit(main())
