"""Training runs: a fixed learning rate or a schedule, over a task's step budget."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .tasks import Task


@dataclass
class RunResult:
    """The outcome of one training run.

    Attributes:
        final: the task metric after the last step, or the mean of the last
            ``task.tail_evals`` evaluations (clipped to chance on divergence).
        curve: ``[(step, metric), ...]`` at evenly spaced evaluation points, ending at the
            budget.
        diverged: whether a non-finite loss stopped the run.
        wall_s: wall time of the run.
    """

    final: float
    curve: list[tuple[int, float]]
    diverged: bool
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "final": self.final,
            "curve": [[s, m] for s, m in self.curve],
            "diverged": self.diverged,
            "wall_s": self.wall_s,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(d["final"]),
            [(int(s), float(m)) for s, m in d["curve"]],
            bool(d["diverged"]),
            float(d["wall_s"]),
        )


def eval_steps(task: Task, steps: int | None = None) -> list[int]:
    """The steps after which a run evaluates (``eval_points`` evenly spaced, ending at budget)."""
    n = steps or task.steps
    k = min(task.eval_points, n)
    return sorted({round(n * (i + 1) / k) for i in range(k)})


def train(
    task: Task,
    lr: float | Callable[[int], float],
    seed: int,
    steps: int | None = None,
    momentum: Callable[[int], float] | None = None,
    curve: bool = True,
) -> RunResult:
    """Train a fresh model (seed ``seed``) for the budget at a fixed LR or a step -> LR schedule.

    Args:
        task: the task.
        lr: a fixed learning rate, or a function of the 0-based step.
        seed: model initialisation and batch order seed.
        steps: budget override (defaults to ``task.steps``).
        momentum: optional step -> momentum (SGD ``momentum`` or Adam ``beta1``).
        curve: evaluate at ``task.eval_points`` points; if false only after the last step.

    Returns:
        The :class:`RunResult`.
    """
    n = steps or task.steps
    lr_fn: Callable[[int], float] = lr if callable(lr) else (lambda _s, v=float(lr): v)
    t0 = time.perf_counter()
    model = task.make_model(seed)
    opt = task.make_optimizer(model.parameters(), lr_fn(0))
    all_evals = eval_steps(task, n)
    tail = all_evals[-max(1, task.tail_evals) :]
    checkpoints = set(all_evals) if curve else set(tail)
    points: list[tuple[int, float]] = []
    diverged = False
    batches = task.batches(seed)
    model.train()
    for step in range(n):
        value = lr_fn(step)
        for group in opt.param_groups:
            group["lr"] = value
            if momentum is not None:
                m = momentum(step)
                if "betas" in group:
                    group["betas"] = (m, group["betas"][1])
                else:
                    group["momentum"] = m
        xb, yb = next(batches)
        opt.zero_grad(set_to_none=True)
        loss = task.loss(model(xb), yb)
        if not math.isfinite(loss.item()):
            diverged = True
            break
        loss.backward()
        opt.step()
        if step + 1 in checkpoints:
            points.append((step + 1, task.clip_metric(task.evaluate(model))))
    if diverged:
        fail = task.failure_value()
        done = {s for s, _ in points}
        points.extend((s, fail) for s in sorted(checkpoints - done))
    tail_values = [m for s, m in points if s in tail]
    final = sum(tail_values) / len(tail_values) if tail_values else task.failure_value()
    return RunResult(final, points, diverged, time.perf_counter() - t0)


def steps_to_reach(curve: list[tuple[int, float]], target: float, higher_is_better: bool) -> int:
    """The first evaluated step whose metric reaches ``target`` (``-1`` if none does).

    ``target`` is relaxed by a relative 1e-9 so that a mean equal to it counts as reached.
    """
    slack = 1e-9 * abs(target)
    target = target - slack if higher_is_better else target + slack
    for step, value in curve:
        if (value >= target) if higher_is_better else (value <= target):
            return step
    return -1


def mean_curve(runs: Sequence[RunResult]) -> list[tuple[int, float]]:
    """The runs' mean metric at each evaluated step (runs of one budget share their steps)."""
    steps = [s for s, _ in runs[0].curve]
    return [(s, statistics.fmean(r.curve[i][1] for r in runs)) for i, s in enumerate(steps)]


def reach_ratio(
    curve: list[tuple[int, float]], target: float, higher_is_better: bool, own_steps: int
) -> tuple[int, float | None]:
    """The first step ``curve`` reaches ``target`` (``-1``: never), and that step over
    ``own_steps`` (the fixed LR's own first step at its final metric; ``None`` when either
    is not positive): the CLR claim's "steps to the fixed LR's final metric" ratio."""
    reach = steps_to_reach(curve, target, higher_is_better)
    return reach, (reach / own_steps if reach > 0 and own_steps > 0 else None)


def set_threads(n: int = 2) -> None:
    """Pin torch's intra-op threads (the suite uses 2 for comparable timings)."""
    torch.set_num_threads(n)
