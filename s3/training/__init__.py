"""Training: the LightningModule, the clip unroll and the losses."""

from s3.training.module import NetworkOverrides, S3Module

__all__ = ["NetworkOverrides", "S3Module"]
