"""`S3WandbLogger`: Lightning's W&B logger, offline unless asked otherwise."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import WandbLogger


class S3WandbLogger(WandbLogger):
    """`WandbLogger` with offline logging by default (no network, no API key): runs are written under
    `<save_dir>/wandb/offline-run-*` and can be uploaded later with `wandb sync`. Set `offline: false`
    (or `WANDB_MODE=online`) to log to the server.

    Args:
        name: run name; `s3 fit` fills `<preset>-<size>-<dataset mix>` when left empty.
        save_dir: folder that receives the `wandb/` run folders.
        project: W&B project.
        offline: log to local files only.
        log_model: upload checkpoints as artifacts (online only; see WandbLogger).
        kwargs: any other `WandbLogger` / `wandb.init` argument (entity, tags, group, ...).
    """

    def __init__(
        self,
        name: str | None = None,
        save_dir: str = "outputs",
        project: str = "s3",
        offline: bool = True,
        log_model: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, save_dir=save_dir, project=project, offline=offline, log_model=log_model, **kwargs)
