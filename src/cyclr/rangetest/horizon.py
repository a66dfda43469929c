r"""Fitting the confirmed LR to the run's length: where the held-out loss turns up.

The confirmation (:mod:`cyclr.rangetest.confirm`) trains each candidate ``k`` steps
(40) and measures the held-out loss every :data:`~cyclr.rangetest.confirm.EVALUATE_EVERY`
steps. Its choice is the best LR *for those steps*. On a task that overfits (a small
data set, a large model) the best fixed LR for a whole run of ``T`` steps is smaller:
a fixed LR that overfits within the run ends it past its held-out minimum. The
confirmation shows where that happens, at no extra cost: the larger candidates'
held-out losses reach a minimum within the window and rise after it, and the minimum
comes the sooner the larger the LR.

To first order, training at a small LR follows the same path whatever the LR, at a
speed proportional to it: the steps are an Euler discretisation of gradient flow,
:math:`\dot\theta(\tau) = -\nabla L(\theta)`, in the time :math:`\tau = lr \cdot t`
(with momentum or Adam the same holds with their own preconditioner, which does not
depend on the LR). So what one candidate reaches after :math:`t_j` steps at
:math:`lr_j`, a run at :math:`lr` reaches after :math:`lr_j t_j / lr` steps. Each
candidate that overfit gives an estimate of the gradient-flow time of the held-out
minimum, and the LR that puts the minimum at the run's end is

.. math:: \tau_j = lr_j \, t_j, \qquad \hat\tau = \operatorname{median}_j \tau_j,
    \qquad lr_T = \hat\tau / T,

where :math:`t_j` is the evaluation step of candidate :math:`j`'s lowest held-out
loss. A candidate counts only when the evidence is unambiguous: it learned (its lowest
held-out loss is below :func:`~cyclr.rangetest.confirm.learning_bar`: a plateau's
noise is not overfitting), and its held-out loss stayed above its minimum at the
:data:`RISING_EVALUATIONS` or more evaluations after it (a rise, not a bounce: a
minimum at the last evaluation or the one before it counts for nothing). At least
:data:`MIN_OVERFITTING` candidates must agree, so one noisy run changes nothing. With
``total_steps=T``, :meth:`RangeTestResult.suggest
<cyclr.rangetest.RangeTestResult.suggest>` returns :math:`\min(lr, lr_T)`: the run's
length only ever lowers the LR, and only on this evidence; without it the confirmed LR
stands.

Scale-free: the estimate is in the LR's own units, read from steps and LRs; scaling
or shifting the loss moves no minimum. It assumes the run trains at a fixed LR to its
end without early stopping (with early stopping the confirmed LR is the better
choice), and it extrapolates from the window to the run along the gradient-flow time,
which holds while the LR is small enough to follow the flow (below the edge of
stability). A schedule over the run follows the same argument with its own time,
:math:`\sum_t lr(t)`: :func:`flow_time_factor` is the factor that brings it down to
:math:`\hat\tau` (``result.schedule(..., total_steps=T)`` applies it to the confirmed
bounds). Measured on the benchmark suite: ``benchmarks/RESULTS.md``, "The run's
length: the held-out minimum moved to the end of the run".

References:
    L. N. Smith, "A disciplined approach to neural network hyper-parameters: Part 1",
    2018, https://arxiv.org/abs/1803.09820 (the held-out loss as the signal of too
    much or too little regularisation, of which the LR is one).
    S. L. Smith, B. Dherin, D. Barrett, S. De, "On the Origin of Implicit
    Regularization in Stochastic Gradient Descent", ICLR 2021,
    https://arxiv.org/abs/2101.12176 (SGD as gradient flow in the time ``lr * t``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_int

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = [
    "MIN_OVERFITTING",
    "RISING_EVALUATIONS",
    "Horizon",
    "flow_time_factor",
    "overfitting_times",
    "run_length_lr",
]

MIN_OVERFITTING = 2
"""Candidates whose held-out loss must have turned up before the run's length counts."""

RISING_EVALUATIONS = 2
"""Evaluations after a candidate's held-out minimum that must all lie above it: a rise
seen once may be a bounce; seen at two evaluations in a row it is a trend."""


def overfitting_times(
    candidates: Sequence[float],
    held_out_losses: Sequence[Sequence[float]],
    evaluated_at: Sequence[int],
    bar: float | None,
) -> tuple[float, ...]:
    r"""The gradient-flow time :math:`lr_j t_j` of each candidate that overfit.

    Args:
        candidates: The candidate LRs.
        held_out_losses: Each candidate's held-out losses, measured after the steps in
            ``evaluated_at`` (shorter for one that stopped early).
        evaluated_at: The steps after which the held-out loss was measured.
        bar: The held-out loss a candidate must have gone below to have learned
            (:func:`~cyclr.rangetest.confirm.learning_bar`); ``None``: no bar.

    Returns:
        :math:`lr_j t_j` for each candidate that learned, reached its lowest held-out
        loss at least :data:`RISING_EVALUATIONS` evaluations before its last and stayed
        above it at every later one; in the candidates' order.

    Example:
        >>> overfitting_times(
        ...     (0.01, 0.02, 0.04),
        ...     ((1.0, 0.8, 0.6, 0.5), (0.9, 0.6, 0.7, 0.8), (0.7, 0.75, 0.8, 0.9)),
        ...     (10, 20, 30, 40),
        ...     bar=0.95,
        ... )
        (0.4, 0.4)
    """
    times = []
    for lr, losses in zip(candidates, held_out_losses, strict=True):
        values = [float(v) for v in losses]
        if len(values) < 2 or not all(math.isfinite(v) for v in values):
            continue
        lowest = min(range(len(values)), key=values.__getitem__)
        learned = bar is None or values[lowest] < bar
        later = values[lowest + 1 :]
        rose = len(later) >= RISING_EVALUATIONS and all(v > values[lowest] for v in later)
        if learned and rose:
            times.append(float(lr) * evaluated_at[lowest])
    return tuple(times)


@dataclass(frozen=True)
class Horizon:
    r"""The run's length read against the confirmation.

    Attributes:
        total_steps: The run's length ``T``.
        times: :math:`lr_j t_j` of each candidate that overfit (:func:`overfitting_times`).
        lr: :math:`\hat\tau / T`, the LR whose run reaches the held-out minimum at its
            end; ``None`` when fewer than :data:`MIN_OVERFITTING` candidates overfit.
    """

    total_steps: int
    times: tuple[float, ...]
    lr: float | None


def run_length_lr(
    candidates: Sequence[float],
    held_out_losses: Sequence[Sequence[float]],
    evaluated_at: Sequence[int],
    bar: float | None,
    total_steps: int,
) -> Horizon:
    r""":math:`lr_T = \operatorname{median}_j(lr_j t_j) / T`, or no answer.

    Args:
        candidates: The candidate LRs.
        held_out_losses: Each candidate's held-out losses after ``evaluated_at``.
        evaluated_at: The evaluation steps.
        bar: The learning bar (:func:`~cyclr.rangetest.confirm.learning_bar`).
        total_steps: Optimizer steps of the whole run at a fixed LR, a positive integer.

    Returns:
        The :class:`Horizon`; its ``lr`` is ``None`` unless at least
        :data:`MIN_OVERFITTING` candidates overfit.

    Raises:
        TypeError: If ``total_steps`` is not an integer.
        ValueError: If ``total_steps`` is not positive.

    Example:
        >>> h = run_length_lr(
        ...     (0.01, 0.02, 0.04),
        ...     ((1.0, 0.8, 0.6, 0.5), (0.9, 0.6, 0.7, 0.8), (0.7, 0.75, 0.8, 0.9)),
        ...     (10, 20, 30, 40), bar=0.95, total_steps=400)
        >>> h.times, h.lr
        ((0.4, 0.4), 0.001)
    """
    steps = check_int("total_steps", total_steps)
    times = overfitting_times(candidates, held_out_losses, evaluated_at, bar)
    lr = statistics.median(times) / steps if len(times) >= MIN_OVERFITTING else None
    return Horizon(steps, times, lr)


def flow_time_factor(schedule: Schedule, total_steps: int, flow_time: float) -> float:
    r"""The factor ``f <= 1`` that keeps a schedule's gradient-flow time within ``flow_time``.

    .. math:: f = \min\Big(1, \frac{\hat\tau}{\sum_{t=0}^{T-1} lr(t)}\Big)

    Every kind of schedule is linear in its bounds, so scaling both bounds by ``f``
    scales its time by ``f``: the run then reaches the held-out minimum no earlier than
    its end.

    Args:
        schedule: The schedule of the run.
        total_steps: The run's length ``T``, a positive integer.
        flow_time: :math:`\hat\tau`, the gradient-flow time of the held-out minimum
            (:attr:`Horizon.lr` times ``T``), positive.

    Returns:
        The factor, in ``(0, 1]``.

    Example:
        >>> from cyclr.schedules import Triangular
        >>> s = Triangular(0.01, 0.03, step_size_up=50)
        >>> round(flow_time_factor(s, 100, 1.0), 6), flow_time_factor(s, 100, 5.0)
        (0.5, 1.0)
    """
    steps = check_int("total_steps", total_steps)
    area = float(np.sum(schedule(np.arange(steps, dtype=np.int64))))
    return min(1.0, float(flow_time) / area) if area > 0 else 1.0
