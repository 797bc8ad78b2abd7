"""The two Lightning notices `s3` silences, and nothing else."""

from __future__ import annotations

import logging
import warnings

import pytest
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from s3.run.lightning_notices import LIGHTNING_RANK_ZERO_LOGGER, quiet_lightning_notices

TIP = (
    "💡 Tip: For seamless cloud logging and experiment tracking, try installing "
    "[litlogger](https://pypi.org/project/litlogger/) to enable LitLogger"
)


def test_the_litlogger_tip_and_the_treespec_deprecation_are_silenced(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER), "filters", [])  # as before any `s3` command
    caplog.set_level(logging.INFO, logger=LIGHTNING_RANK_ZERO_LOGGER)
    rank_zero_info(TIP)
    assert any("litlogger" in record.getMessage() for record in caplog.records)  # Lightning prints it by default
    caplog.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning_notices()
        quiet_lightning_notices()  # idempotent
        rank_zero_info(TIP)
        rank_zero_info("GPU available: False, used: False")
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [record.getMessage() for record in caplog.records] == ["GPU available: False, used: False"]
    assert [str(w.message) for w in caught] == ["something else is deprecated"]
