"""Silences two notices Lightning prints on every run that say nothing about the user's run.

* The "💡 Tip: ... try installing litlogger ..." line, an advertisement for a cloud logging service: out of place
  in a framework whose runs never reach the network unless the user configures a logger that does.
* The `isinstance(treespec, LeafSpec)` deprecation warning: Lightning 2.6 calls a pytree API that torch 2.14
  deprecated; nothing the user can change.

Every other message of Lightning's is left as it is.
"""

from __future__ import annotations

import logging
import warnings

TREESPEC_DEPRECATION = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
LIGHTNING_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"


class _DropLitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


_TIP_FILTER = _DropLitLoggerTip()


def quiet_lightning_notices() -> None:
    """Installs both filters (idempotent)."""
    warnings.filterwarnings("ignore", message=TREESPEC_DEPRECATION)
    logger = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    if _TIP_FILTER not in logger.filters:
        logger.addFilter(_TIP_FILTER)
