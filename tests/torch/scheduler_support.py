"""Shared pieces of the cyclr.torch.Scheduler tests: schedules, a model, a training loop."""

from __future__ import annotations

from typing import Any

import torch

import cyclr

TRI = cyclr.Triangular(0.001, 0.006, step_size_up=5)
ONECYCLE = cyclr.OneCycle(0.1, total_steps=40, three_phase=True)


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(16, 4, generator=generator), torch.randn(16, 1, generator=generator)


def train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    steps: int,
    key: str = "lr",
) -> list[Any]:
    """Run ``steps`` real training steps; return the group-0 value of ``key`` each used."""
    x, y = make_batch()
    seen = []
    for _ in range(steps):
        value = optimizer.param_groups[0][key]
        seen.append(value.item() if isinstance(value, torch.Tensor) else value)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()
    return seen
