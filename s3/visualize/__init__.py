"""Looking inside the network: feature maps of its blocks on one frame (`s3 visualize features`)."""

from s3.visualize.blocks import Block, UnknownBlockError, available_blocks, default_blocks, select_blocks
from s3.visualize.command import VisualizeError, visualize_features
from s3.visualize.features import BlockNotComputedError, CapturedFeatures, FeatureCapture, capture_features, to_map
from s3.visualize.figure import FigureLayout, FigureRow, draw_feature_figure, read_layout

__all__ = [
    "Block",
    "BlockNotComputedError",
    "CapturedFeatures",
    "FeatureCapture",
    "FigureLayout",
    "FigureRow",
    "UnknownBlockError",
    "VisualizeError",
    "available_blocks",
    "capture_features",
    "default_blocks",
    "draw_feature_figure",
    "read_layout",
    "select_blocks",
    "to_map",
    "visualize_features",
]
