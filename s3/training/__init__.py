"""Training: the LightningModule, the clip unroll and the losses."""

from s3.training.module import S3Module

__all__ = ["S3Module"]
