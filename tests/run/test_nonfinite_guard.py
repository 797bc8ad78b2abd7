"""NonFiniteGuard on its own: ranks agree through the strategy, skipped steps leave weights, moments and buffers
exactly as they were."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from s3.run.nonfinite import NonFiniteGuard, NonFiniteTrainingError


class Strategy:
    def __init__(self, others_bad: bool) -> None:
        self.others_bad = others_bad

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:  # noqa: A002 - Lightning's name
        assert all is False  # "any rank is bad" is the question
        return decision or self.others_bad


def setup(others_bad: bool = False) -> tuple[nn.Module, torch.optim.Optimizer, SimpleNamespace]:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-2)
    trainer = SimpleNamespace(precision_plugin=SimpleNamespace(), strategy=Strategy(others_bad), global_step=5)
    return module, optimizer, trainer


def train_step(module: nn.Module, optimizer: torch.optim.Optimizer, guard: NonFiniteGuard, trainer, scale: float):
    guard.on_train_batch_start(trainer, module, None, 0)
    loss = module(torch.randn(8, 4) * scale).pow(2).mean()
    guard.record_losses({"loss_ce": loss, "total_loss": loss})
    optimizer.zero_grad()
    loss.backward()
    guard.on_before_optimizer_step(trainer, module, optimizer)
    optimizer.step()
    trainer.global_step += 1  # Lightning counts a skipped step too


def test_a_bad_step_on_another_rank_stops_this_one_too() -> None:
    module, optimizer, trainer = setup(others_bad=True)
    guard = NonFiniteGuard()
    with pytest.raises(NonFiniteTrainingError) as caught:
        train_step(module, optimizer, guard, trainer, scale=1.0)
    message = str(caught.value)
    assert message.startswith("step 5: non-finite training (loss terms: loss_ce=") and "(on another rank)" in message
    assert "lr 0.01" in message and "\n" not in message


def test_skipped_step_changes_nothing_then_the_budget_runs_out() -> None:
    module, optimizer, trainer = setup()
    guard = NonFiniteGuard(max_bad_steps=1)
    train_step(module, optimizer, guard, trainer, scale=1.0)  # a good step: AdamW has moments now
    state = {k: v.clone() for k, v in module.state_dict().items()}
    moments = {k: v.clone() for k, v in optimizer.state[module[0].weight].items()}
    train_step(module, optimizer, guard, trainer, scale=float("nan"))  # skipped
    assert guard.bad_steps == 1
    for key, value in module.state_dict().items():  # weights and BatchNorm statistics untouched
        assert torch.equal(value, state[key]), key
    for key, value in optimizer.state[module[0].weight].items():
        assert torch.equal(value, moments[key]), key
    with pytest.raises(NonFiniteTrainingError, match=r"^step 7: .*1 bad step\(s\) allowed \(model.max_bad_steps\)"):
        train_step(module, optimizer, guard, trainer, scale=float("inf"))


def test_skipping_refuses_when_the_gradients_live_elsewhere() -> None:
    module, optimizer, trainer = setup()
    guard = NonFiniteGuard(max_bad_steps=3)
    loss = torch.tensor(float("nan"))
    guard.record_losses({"total_loss": loss})  # no backward: p.grad stays None, as under DeepSpeed ZeRO
    with pytest.raises(NonFiniteTrainingError, match=r"cannot drop the update"):
        guard.on_before_optimizer_step(trainer, module, optimizer)
