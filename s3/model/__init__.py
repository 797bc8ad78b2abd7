"""Networks: Cutie's memory network and the S3 components, built through `build_network` from the rows' YAML
files (`network_config(preset, size)` gives the `class_path` / `init_args` tree); their inference form through
`prepare_for_inference` (the deploy step)."""

from s3.model.deploy import prepare_for_inference
from s3.model.factory import build_network
from s3.model.network import VOSNetwork
from s3.model.network_config import network_config
from s3.model.registry import PRESETS, SIZES
from s3.model.weights import WeightsMismatchError, load_network_weights, read_state_dict

__all__ = [
    "PRESETS",
    "SIZES",
    "VOSNetwork",
    "WeightsMismatchError",
    "build_network",
    "load_network_weights",
    "network_config",
    "prepare_for_inference",
    "read_state_dict",
]
