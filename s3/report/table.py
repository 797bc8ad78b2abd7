"""Table 3 layout: rows = presets, columns = MOSE, DAVIS17, LVOS (J&F, J, F) and YouTube-VOS19 (G, Js, Fs, Jn,
Fn); each cell shows the measured value next to the paper's."""

from __future__ import annotations

from dataclasses import dataclass

from s3.report.collect import RunScores
from s3.report.paper import COLUMNS, DATASETS, TABLE3_PRESETS, inconsistencies, paper_rows

HEADER_NAMES = {"JF": "J&F"}


@dataclass
class ReportRow:
    preset: str
    label: str
    measured: dict[str, dict[str, float]]
    paper: dict[str, dict[str, float]] | None
    runs: int
    paper_flags: list[str]


def build_rows(runs: list[RunScores], training: str, test_size: str) -> list[ReportRow]:
    """One row per Table 3 preset (paper order) plus any other measured preset; a preset's runs are averaged."""
    paper = {row["preset"]: row for row in paper_rows(training, test_size) if row["preset"]}
    mine = [run for run in runs if run.training == training]
    presets = [p for p in TABLE3_PRESETS if p in paper or any(r.preset == p for r in mine)]
    presets += sorted({r.preset for r in mine} - set(presets))
    rows = []
    for preset in presets:
        selected = [run for run in mine if run.preset == preset]
        measured: dict[str, dict[str, float]] = {}
        for dataset in DATASETS:
            for metric in COLUMNS[dataset]:
                values = [run.scores[dataset][metric] for run in selected if metric in run.scores.get(dataset, {})]
                if values:
                    measured.setdefault(dataset, {})[metric] = sum(values) / len(values)
        reference = paper.get(preset)
        rows.append(
            ReportRow(
                preset,
                reference["label"] if reference else preset,
                measured,
                {d: reference[d] for d in DATASETS} if reference else None,
                len(selected),
                inconsistencies(reference) if reference else [],
            )
        )
    return rows


def _cell(measured: float | None, paper: float | None) -> str:
    ours = "–" if measured is None else f"{measured:.1f}"
    return ours if paper is None else f"{ours} ({paper:.1f})"


def render_markdown(rows: list[ReportRow], training: str, test_size: str) -> str:
    """Markdown table: `measured (paper)` per cell; paper cells that contradict their row are footnoted."""
    headers = ["Preset"] + [f"{d} {HEADER_NAMES.get(m, m)}" for d in DATASETS for m in COLUMNS[d]]
    lines = [
        f"## Ablation (paper Table 3): training {training}, test size {test_size}",
        "",
        "Each cell: ours (paper). Ours = last validation of each run, averaged over the preset's runs.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    for row in rows:
        cells = [f"{row.label} (`{row.preset}`, {row.runs} run{'s' if row.runs != 1 else ''})"]
        for dataset in DATASETS:
            for metric in COLUMNS[dataset]:
                paper = row.paper[dataset][metric] if row.paper else None
                cells.append(_cell(row.measured.get(dataset, {}).get(metric), paper))
        lines.append("| " + " | ".join(cells) + " |")
    flagged = [(row, flag) for row in rows for flag in row.paper_flags]
    if flagged:
        lines += ["", "Paper values that contradict their own row (printed as is):", ""]
        lines += [f"- {row.label}: {flag}" for row, flag in flagged]
    return "\n".join(lines) + "\n"


def render_chart(rows: list[ReportRow], path: str, title: str) -> None:
    """Grouped bars of J&F (G for YouTube-VOS) per dataset: ours solid, paper hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    headline = {d: COLUMNS[d][0] for d in DATASETS}
    figure, axes = plt.subplots(1, len(DATASETS), figsize=(4 * len(DATASETS), 4), sharey=False)
    width = 0.38
    for axis, dataset in zip(axes, DATASETS, strict=True):
        metric = headline[dataset]
        positions = range(len(rows))
        ours = [row.measured.get(dataset, {}).get(metric, 0.0) for row in rows]
        paper = [row.paper[dataset][metric] if row.paper else 0.0 for row in rows]
        axis.bar([p - width / 2 for p in positions], ours, width, label="ours")
        axis.bar([p + width / 2 for p in positions], paper, width, label="paper", hatch="//", alpha=0.6)
        axis.set_xticks(list(positions), [row.preset for row in rows], rotation=45, ha="right", fontsize=8)
        axis.set_title(f"{dataset} {HEADER_NAMES.get(metric, metric)}")
    axes[0].legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
