"""`s3` with the run hooks wired in, for tests (a no-op once `s3.cli.S3CLI` inherits them).

Run as a script (`python tests/run/wired_cli.py fit ...`) so that Lightning's DDP launcher, which re-executes
`sys.argv`, starts the same wired entry point in every process.
"""

from __future__ import annotations

import sys

import torch

import s3.cli
from s3.run.run_config import RunCLIHooks

if not issubclass(s3.cli.S3CLI, RunCLIHooks):

    class WiredS3CLI(RunCLIHooks, s3.cli.S3CLI):
        """S3CLI + `RunCLIHooks` (global batch, preset / checkpoint checks, run names, checkpoint folders)."""

    s3.cli.S3CLI = WiredS3CLI  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    return s3.cli.main(argv)


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
