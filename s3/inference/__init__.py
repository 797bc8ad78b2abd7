"""The inference engine: a stateful video predictor around the stateless `VOSNetwork`."""

from s3.inference.config import (
    EVALUATION_PRESETS,
    InferenceConfig,
    InferenceConfigError,
    LongTermConfig,
    evaluation_size,
    inference_config,
)
from s3.inference.image_ops import InferenceInputError
from s3.inference.memory_manager import MemoryManager
from s3.inference.object_manager import ObjectIdError, ObjectManager
from s3.inference.predictor import PredictorState, VideoPredictor
from s3.inference.propagation import FramePredictor, VideoSampleError, propagate_video
from s3.inference.tta import MultiScalePredictor, average_probabilities

__all__ = [
    "EVALUATION_PRESETS",
    "FramePredictor",
    "InferenceConfig",
    "InferenceConfigError",
    "InferenceInputError",
    "LongTermConfig",
    "MemoryManager",
    "MultiScalePredictor",
    "ObjectIdError",
    "ObjectManager",
    "PredictorState",
    "VideoPredictor",
    "VideoSampleError",
    "average_probabilities",
    "evaluation_size",
    "inference_config",
    "propagate_video",
]
