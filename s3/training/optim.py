"""The optimizer's parameter groups: a lower lr for the pixel encoder, no weight decay on query embeddings.

The optimizer class and its arguments come from the config (`model.optimizer`, LightningCLI's dependency
injection: `class_path: torch.optim.AdamW`, `init_args: {lr: 5.0e-5, weight_decay: 0.05}`); this module only
decides which parameters go in which group and what each group changes relative to the optimizer's defaults,
so that any optimizer (AdamW, SGD, ...) can be chosen without code changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

# Lightning's own aliases (lightning.pytorch.cli), restated so that the module does not import the CLI.
OptimizerCallable = Callable[[Iterable], Optimizer]
LRSchedulerCallable = Callable[[Optimizer], LRScheduler | ReduceLROnPlateau]

# Matched as name suffixes, exactly as upstream does (so `summary_to_query_{init,emb}.weight` match too).
EMBED_NAME_SUFFIXES = ("summary_pos.weight", "query_init.weight", "query_emb.weight", "obj_pe.weight")
BACKBONE_PREFIX = "pixel_encoder."

# The optimizer used when the config names none (the module's historical defaults).
default_optimizer: OptimizerCallable = partial(torch.optim.AdamW, lr=1e-4, weight_decay=1e-3)


def parameter_groups(network: nn.Module, embed_weight_decay: float) -> list[dict[str, Any]]:
    """The trainable parameters in three groups, in this order (empty groups left out):

    backbone (`pixel_encoder.*`, lr scaled later by `scale_backbone_lr`), query embeddings (matched by name
    suffix; `weight_decay = embed_weight_decay`) and all others. Groups carry only what differs from the
    optimizer's defaults, so the optimizer's lr and weight decay apply everywhere else.
    """
    backbone, embeddings, others = [], [], []
    for name, param in network.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith(BACKBONE_PREFIX):
            backbone.append(param)
        elif name.endswith(EMBED_NAME_SUFFIXES):
            embeddings.append(param)
        else:
            others.append(param)
    groups = [
        {"params": backbone, "backbone": True},
        {"params": embeddings, "backbone": False, "weight_decay": embed_weight_decay},
        {"params": others, "backbone": False},
    ]
    return [group for group in groups if group["params"]]


def build_optimizer(
    network: nn.Module,
    optimizer: OptimizerCallable | None,
    backbone_lr_ratio: float,
    embed_weight_decay: float,
    eps: float | None = None,
) -> Optimizer:
    """Builds `optimizer` (None: `default_optimizer`) over `parameter_groups(network)`.

    The backbone group's lr becomes `backbone_lr_ratio` x the optimizer's lr before any scheduler records it
    as the group's initial lr. `eps` (the mixed-precision value) replaces the optimizer's own eps in every
    group when given and the optimizer has one (SGD has none).
    """
    make = optimizer if optimizer is not None else default_optimizer
    built = make(parameter_groups(network, embed_weight_decay))
    for group in built.param_groups:
        if group.pop("backbone"):
            group["lr"] = group["lr"] * backbone_lr_ratio
        if eps is not None and "eps" in group:
            group["eps"] = eps
    if eps is not None and "eps" in built.defaults:
        built.defaults["eps"] = eps
    return built
