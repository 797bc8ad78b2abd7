"""Shared setup of the experiment-ops tests: `wired_cli` / `ops_helpers` / `fault_injection` importable."""

from __future__ import annotations

import sys
from pathlib import Path

OPS_TESTS = Path(__file__).resolve().parent
if str(OPS_TESTS) not in sys.path:
    sys.path.insert(0, str(OPS_TESTS))
