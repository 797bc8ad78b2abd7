"""S3: spatial-semantic features for robust video object segmentation, on top of Cutie."""

__version__ = "0.1.0"
__all__ = ["__version__"]
