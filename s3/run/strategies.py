"""`S3DeepSpeedStrategy`: Lightning's DeepSpeed strategy, also usable on machines without a GPU.

Lightning refuses DeepSpeed on anything but CUDA, yet DeepSpeed itself ships a CPU accelerator (gloo process
group, CPU Adam/ZeRO kernels compiled on first use). On a machine with a GPU this class is exactly
`DeepSpeedStrategy`; only when CUDA is unavailable does it skip Lightning's CUDA-only checks, so the same
config fragment (`configs/strategy/deepspeed_stage2.yaml`) runs on GPUs in production and on CPU in tests.

`bf16-mixed` means autocast here, as Cutie's AMP training does: fp32 weights, fp32 inputs and fp32 optimizer
state, with convolutions and matmuls in bf16 under `torch.autocast`. Lightning's default for DeepSpeed would
instead cast the whole network to bf16 (DeepSpeed's "bf16" mode), which breaks the network's deliberate fp32
islands (key projection, point sampling grids) and changes the numerics.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.accelerators.cuda import CUDAAccelerator
from lightning.pytorch.plugins.precision import DeepSpeedPrecision, Precision
from lightning.pytorch.strategies import DDPStrategy, DeepSpeedStrategy

# DeepSpeed compiles C++ ops on first use; keep them in the project's ignored cache, not in ~.
DEFAULT_EXTENSIONS_DIR = Path(".cache") / "torch_extensions"


class AutocastDeepSpeedPrecision(DeepSpeedPrecision):
    """DeepSpeed precision for `bf16-mixed` as autocast: inputs stay fp32, forward passes run under
    `torch.autocast(bfloat16)` on the device in use; DeepSpeed's own bf16 mode stays off."""

    def convert_input(self, data: Any) -> Any:
        return data

    def forward_context(self) -> AbstractContextManager:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.autocast(device_type=device, dtype=torch.bfloat16)


class S3DeepSpeedStrategy(DeepSpeedStrategy):
    """`DeepSpeedStrategy` (same arguments) that falls back to DeepSpeed's CPU accelerator when no GPU exists
    and runs `bf16-mixed` as autocast (see the module docstring)."""

    strategy_name = "s3_deepspeed"

    @property
    def precision_plugin(self) -> Precision:
        return super().precision_plugin

    @precision_plugin.setter
    def precision_plugin(self, plugin: Precision | None) -> None:
        if type(plugin) is DeepSpeedPrecision and plugin.precision == "bf16-mixed":
            plugin = AutocastDeepSpeedPrecision("bf16-mixed")
        self._precision_plugin = plugin

    def _format_config(self) -> None:
        if isinstance(self.precision_plugin, AutocastDeepSpeedPrecision) and self.config is not None:
            self.config.setdefault("bf16", {"enabled": False})  # keeps Lightning from enabling DeepSpeed's bf16
        super()._format_config()

    def on_cpu(self) -> bool:
        return not isinstance(self.accelerator, CUDAAccelerator) and not torch.cuda.is_available()

    @property
    def root_device(self) -> torch.device:
        if self.on_cpu():
            # DeepSpeed reads the device index as its local rank; CPU devices have none.
            return torch.device("cpu", self.local_rank)
        return super().root_device

    def setup_environment(self) -> None:
        if not self.on_cpu():
            super().setup_environment()
            return
        os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(DEFAULT_EXTENSIONS_DIR.resolve()))
        # Skip DeepSpeedStrategy's CUDA check; DDPStrategy's setup calls our `setup_distributed`.
        DDPStrategy.setup_environment(self)

    def setup_distributed(self) -> None:
        if not self.on_cpu():
            super().setup_distributed()
            return
        # Lightning's device-index validation expects cuda:0..n-1; CPU processes all use "cpu".
        from lightning.fabric.utilities.seed import reset_seed

        reset_seed()
        self.set_world_ranks()
        self._init_deepspeed_distributed()
