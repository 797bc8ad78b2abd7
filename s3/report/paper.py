"""The paper's Table 3 as reference data (`paper_table3.json`, transcribed as printed) and its consistency checks."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

# Table 3's rows, in order, as presets of this project.
TABLE3_PRESETS: tuple[str, ...] = ("cutie", "cutie_dq", "cutie_dq_vit", "cutie_dq_vit_spatial", "s3")
DATASETS: tuple[str, ...] = ("MOSE", "DAVIS17", "LVOS", "YouTube-VOS19")
COLUMNS: dict[str, tuple[str, ...]] = {
    "MOSE": ("JF", "J", "F"),
    "DAVIS17": ("JF", "J", "F"),
    "LVOS": ("JF", "J", "F"),
    "YouTube-VOS19": ("G", "Js", "Fs", "Jn", "Fn"),
}
# Printed values are rounded to 0.1: a mean of rounded numbers may differ from the rounded mean by up to 0.1.
ROUNDING_TOLERANCE = 0.1 + 1e-9


@cache
def load_paper_table3() -> dict[str, Any]:
    text = resources.files("s3.report").joinpath("paper_table3.json").read_text()
    return json.loads(text)


def paper_rows(training: str, test_size: str) -> list[dict[str, Any]]:
    """Rows of one Table 3 section (`training`: davis_ytvos | mega; `test_size`: 480p | 600_720p)."""
    for section in load_paper_table3()["sections"]:
        if section["training"] == training and section["test_size"] == test_size:
            return section["rows"]
    raise ValueError(f"paper Table 3 has no section training={training!r}, test_size={test_size!r}")


def inconsistencies(row: dict[str, Any]) -> list[str]:
    """Cells that contradict their own row: J&F != mean(J, F) or G != mean(Js, Fs, Jn, Fn) beyond rounding."""
    problems = []
    for dataset in ("MOSE", "DAVIS17", "LVOS"):
        cell = row[dataset]
        mean = (cell["J"] + cell["F"]) / 2
        if abs(cell["JF"] - mean) > ROUNDING_TOLERANCE:
            problems.append(f"{dataset}: J&F {cell['JF']} but mean(J, F) = {mean:.2f}")
    youtube = row["YouTube-VOS19"]
    mean = sum(youtube[k] for k in ("Js", "Fs", "Jn", "Fn")) / 4
    if abs(youtube["G"] - mean) > ROUNDING_TOLERANCE:
        problems.append(f"YouTube-VOS19: G {youtube['G']} but mean(Js, Fs, Jn, Fn) = {mean:.2f}")
    return problems
