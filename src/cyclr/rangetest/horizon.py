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
held-out loss is below :func:`~cyclr.rangetest.confirm_stage.learning_bar`: a plateau's
noise is not overfitting), and its held-out loss stayed above its minimum at the
:data:`RISING_EVALUATIONS` or more evaluations after it (a rise, not a bounce: a
minimum at the last evaluation or the one before it counts for nothing). At least
:data:`MIN_OVERFITTING` candidates must agree, so one noisy run changes nothing. With
``total_steps=T``, :meth:`RangeTestResult.suggest
<cyclr.rangetest.RangeTestResult.suggest>` returns :math:`\min(lr, lr_T)`.

The same time reads the other side, reported and not applied. Where no candidate
overfit, a run longer than the window gains from every step of flow it can take, so a
long run may be best at the largest LR that still follows the flow: at equal
:math:`\tau` its held-out loss is as low as a smaller LR's, where one that lags (SGD
noise, the edge of stability) has left the path. :func:`flow_path_end` walks the
candidates upwards from the smallest that learned while each one's held-out loss after
20 steps is within :data:`FLOW_TOLERANCE` of the previous one's progress at the same
:math:`\tau`; the suggestion's evidence reports the path's last candidate
(``flow_path_lr``, :attr:`Horizon.path_lr`). Raising the LR to it was measured on the
benchmark suite and not adopted: it brought a plain-SGD regression from 9% to 5% of MSE
above the best fixed LR, but a character-level transformer went the other way and the
median regret rose (``benchmarks/RESULTS.md``, "The flow path").

Scale-free: the estimates are in the LR's own units, read from steps and LRs; scaling
or shifting the loss moves no minimum and no comparison (the tolerance is a fraction of
the progress below the untrained loss). It assumes the run trains at a fixed LR to its
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

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_int, check_positive

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = [
    "FLOW_TOLERANCE",
    "MIN_OVERFITTING",
    "RISING_EVALUATIONS",
    "Horizon",
    "flow_path_end",
    "flow_time_factor",
    "overfitting_times",
    "run_length_lr",
]

MIN_OVERFITTING = 2
"""Candidates whose held-out loss must have turned up before the run's length counts."""

FLOW_TOLERANCE = 0.1
"""How far a candidate's held-out loss may lie above the smaller candidate's at the same
flow time, as a fraction of that candidate's progress below the untrained loss, and still
be on its path (:func:`flow_path_end`)."""

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
            (:func:`~cyclr.rangetest.confirm_stage.learning_bar`); ``None``: no bar.

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
        total_steps: The run's length ``T``; ``None``: not known (the held-out minimum's
            time is read, and no LR fitted to a run).
        times: :math:`lr_j t_j` of each candidate that overfit (:func:`overfitting_times`).
        path_lr: The largest candidate still on the smaller candidates' gradient-flow
            path (:func:`flow_path_end`), or ``None`` (no untrained loss given, or no
            candidate learned).
    """

    total_steps: int | None
    times: tuple[float, ...]
    path_lr: float | None = None

    @property
    def lr(self) -> float | None:
        r""":math:`\hat\tau / T`, the LR whose run reaches the held-out minimum at its end.

        ``None`` when fewer than :data:`MIN_OVERFITTING` candidates overfit or the run's
        length is not known.
        """
        tau = self.flow_time
        return None if tau is None or self.total_steps is None else tau / self.total_steps

    @property
    def flow_time(self) -> float | None:
        r"""The gradient-flow time of the held-out minimum, or ``None``.

        :math:`\hat\tau = \operatorname{median}_j lr_j t_j` over the candidates that
        overfit; ``None`` when fewer than :data:`MIN_OVERFITTING` did.
        """
        return statistics.median(self.times) if len(self.times) >= MIN_OVERFITTING else None

    def minimum_steps(self, lr: float) -> int | None:
        r"""Steps at a fixed ``lr`` after which the held-out loss turns up, or ``None``.

        :math:`\hat\tau / lr` (:attr:`flow_time`), rounded, at least 1. A run at ``lr``
        longer than this ends past its held-out minimum (the reason to give
        ``total_steps``). Where every candidate that overfit had its lowest held-out
        loss at the first evaluation, the minimum may come sooner.

        Args:
            lr: A fixed learning rate, positive and finite.

        Returns:
            The steps, or ``None`` when the candidates showed no overfitting.

        Raises:
            ValueError: If ``lr`` is not positive or not finite.
            TypeError: If ``lr`` is not a real number.

        Example:
            >>> Horizon(None, (0.4, 0.5)).minimum_steps(0.005)
            90
        """
        rate = check_positive("lr", lr)
        tau = self.flow_time
        if tau is None:
            return None
        steps = tau / rate
        if not math.isfinite(steps):
            raise ValueError(f"lr is too small to count steps at (got lr={lr!r})")
        return max(1, round(steps))


def flow_path_end(
    candidates: Sequence[float],
    held_out_losses: Sequence[Sequence[float]],
    evaluated_at: Sequence[int],
    untrained: float,
    bar: float | None,
    tolerance: float = FLOW_TOLERANCE,
) -> int | None:
    r"""The largest candidate whose held-out loss follows the smaller ones' flow path.

    The chain starts at the smallest candidate that learned (finite, its lowest
    held-out loss below ``bar``). Candidate :math:`j` continues it when its held-out
    loss after the second evaluation (the first is skipped: momentum is still building
    up) is no worse than the previous candidate's at the same flow time
    :math:`\tau = lr_j t_2`, interpolated in :math:`\log \tau`, by more than
    ``tolerance`` of that candidate's progress below the untrained loss:

    .. math:: v_j(t_2) - \bar v_{j-1}(\tau) \le \delta\,\big(L_0 - \bar v_{j-1}(\tau)\big),
        \qquad \bar v_{j-1}(\tau) = v_{j-1}(\tau / lr_{j-1})

    The chain stops at the first candidate that is off the path, did not learn, or
    whose :math:`\tau` lies outside the previous one's evaluations. Training that
    follows the flow makes the same progress per unit of :math:`lr \cdot t` at any LR,
    so a long run without overfitting gains from the largest LR still on the path;
    one whose loss lags at equal flow time (SGD noise, instability) has left it.

    Args:
        candidates: The candidate LRs, increasing.
        held_out_losses: Each candidate's held-out losses after ``evaluated_at``.
        evaluated_at: The evaluation steps.
        untrained: :math:`L_0`, the untrained model's loss.
        bar: The learning bar (:func:`~cyclr.rangetest.confirm_stage.learning_bar`).
        tolerance: :math:`\delta`, :data:`FLOW_TOLERANCE` by default.

    Returns:
        The position of the last candidate on the path, or ``None`` if none learned.

    Example:
        >>> flow_path_end(
        ...     (0.01, 0.02, 0.04),
        ...     ((1.8, 1.6, 1.45, 1.35), (1.6, 1.35, 1.2, 1.1), (1.7, 1.6, 1.5, 1.4)),
        ...     (10, 20, 30, 40), untrained=2.0, bar=1.9)
        1
    """
    last = None
    for j, losses in enumerate(held_out_losses):
        values = [float(v) for v in losses]
        learned = len(values) >= 2 and all(map(math.isfinite, values))
        learned = learned and (bar is None or min(values) < bar)
        if last is None:
            last = j if learned else None
            continue
        if not learned:
            break
        tau = float(candidates[j]) * evaluated_at[1]
        ref = _at_flow_time(candidates[last], held_out_losses[last], evaluated_at, tau)
        if ref is None or not ref < untrained:
            break
        if values[1] - ref > tolerance * (untrained - ref):
            break
        last = j
    return last


def _at_flow_time(
    lr: float, losses: Sequence[float], evaluated_at: Sequence[int], tau: float
) -> float | None:
    """The held-out loss at flow time ``tau``, interpolated in log time (``None`` outside)."""
    points = [(math.log(lr * t), float(v)) for t, v in zip(evaluated_at, losses, strict=False)]
    x = math.log(tau)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def run_length_lr(
    candidates: Sequence[float],
    held_out_losses: Sequence[Sequence[float]],
    evaluated_at: Sequence[int],
    bar: float | None,
    total_steps: int | None,
    untrained: float | None = None,
) -> Horizon:
    r""":math:`lr_T = \operatorname{median}_j(lr_j t_j) / T`, or no answer.

    Args:
        candidates: The candidate LRs.
        held_out_losses: Each candidate's held-out losses after ``evaluated_at``.
        evaluated_at: The evaluation steps.
        bar: The learning bar (:func:`~cyclr.rangetest.confirm_stage.learning_bar`).
        total_steps: Optimizer steps of the whole run at a fixed LR, a positive integer;
            ``None``: not known (:attr:`Horizon.flow_time` is read, ``lr`` is ``None``).
        untrained: The untrained model's loss, for the flow path
            (:attr:`Horizon.path_lr`); ``None``: no path.

    Returns:
        The :class:`Horizon`; its ``lr`` is ``None`` unless at least
        :data:`MIN_OVERFITTING` candidates overfit and ``total_steps`` is given.

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
    steps = None if total_steps is None else check_int("total_steps", total_steps)
    times = overfitting_times(candidates, held_out_losses, evaluated_at, bar)
    end = None
    if untrained is not None and len(evaluated_at) >= 2:
        end = flow_path_end(candidates, held_out_losses, evaluated_at, untrained, bar)
    return Horizon(steps, times, None if end is None else float(candidates[end]))


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
