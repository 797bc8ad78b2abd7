"""Which modules may stay in eval mode while the network trains.

Two kinds are kept there on purpose: BatchNorm layers (the ResNet encoders train with frozen running statistics,
as Cutie does; their affine parameters still learn) and frozen parts without trainable parameters (the ViT of the
ViT presets, whose `train()` keeps it in eval so that no dropout or drop-path runs). Lightning warns about every
module in eval mode at the start of training; for these that warning would only alarm, so `S3Module` silences it
when a fit starts (`silence_lightning_eval_mode_warning`) and warns itself about the others
(`unexpected_eval_modules`).
"""

from __future__ import annotations

import warnings

from torch import nn

LIGHTNING_EVAL_MODE_WARNING = r"Found \d+ module\(s\) in eval mode at the start of training"


def kept_in_eval_on_purpose(module: nn.Module) -> bool:
    """A BatchNorm layer, or a module with no trainable parameter in its subtree (a frozen part)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return True
    return not any(parameter.requires_grad for parameter in module.parameters())


def unexpected_eval_modules(root: nn.Module) -> list[str]:
    """Names of the modules under `root` in eval mode that are not kept there on purpose."""
    return [
        name for name, module in root.named_modules() if not module.training and not kept_in_eval_on_purpose(module)
    ]


def silence_lightning_eval_mode_warning() -> None:
    warnings.filterwarnings("ignore", message=LIGHTNING_EVAL_MODE_WARNING)
