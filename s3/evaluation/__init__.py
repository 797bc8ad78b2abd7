"""Benchmark evaluation (official-protocol scorers, `s3 eval`) and submission writers."""

from __future__ import annotations

from s3.evaluation.davis import (
    DavisEvaluation,
    DavisScoringOptions,
    DavisSequence,
    SequenceScores,
    discover_sequences,
    evaluate_davis,
    evaluate_sequence,
    global_csv_text,
    per_sequence_csv_text,
    write_csvs,
)
from s3.evaluation.errors import EvaluationError, MissingFileError

__all__ = [
    "DavisEvaluation",
    "DavisSequence",
    "EvaluationError",
    "DavisScoringOptions",
    "MissingFileError",
    "SequenceScores",
    "discover_sequences",
    "evaluate_davis",
    "evaluate_sequence",
    "global_csv_text",
    "per_sequence_csv_text",
    "write_csvs",
]
