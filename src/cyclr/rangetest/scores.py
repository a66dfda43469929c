"""How a candidate's held-out losses are read: marks, the untrained bar, rises, vertex.

The numeric pieces :class:`~cyclr.rangetest.confirmation.Confirmation` and the
confirmation stage read scores with: when a candidate is evaluated
(:func:`evaluation_steps`), the untrained model's loss and its noise from the sweep's
first steps (:func:`untrained_bar`, :func:`untrained_loss`; :func:`held_out_bar` for a
mean over held-out examples), how far held-out losses rose (:func:`largest_rise`) and
the vertex of the parabola through the scores (:func:`fitted_lr`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validate import check_int

__all__ = [
    "EVALUATE_EVERY",
    "UNTRAINED_STEPS",
    "Z_LEARNED",
    "evaluation_steps",
    "fitted_lr",
    "held_out_bar",
    "largest_rise",
    "untrained_bar",
    "untrained_loss",
]

EVALUATE_EVERY = 10
"""Steps between two held-out evaluations of a candidate (the last is after step ``k``)."""

UNTRAINED_STEPS = 10
"""The sweep's first steps, whose losses give the untrained loss and its noise."""

Z_LEARNED = 2.0
"""Standard deviations below the untrained loss a score must be to count as learning."""

_NO_CURVATURE = 1e-9
"""Curvature of the scores (scaled to a largest deviation of 1) read as none."""


def evaluation_count(steps: int) -> int:
    """How many times a candidate trained ``steps`` steps is evaluated: ``ceil(steps / 10)``."""
    return -(-check_int("steps", steps) // EVALUATE_EVERY)


def evaluation_steps(steps: int, count: int | None = None) -> tuple[int, ...]:
    """The steps after which a candidate trained ``steps`` steps is evaluated.

    Every :data:`EVALUATE_EVERY` steps, and after the last step; only the first
    ``count`` of them when given (a file's ``steps`` may be any size: what is built is
    what the losses need).

    Example:
        >>> evaluation_steps(25)
        (10, 20, 25)
        >>> evaluation_steps(40)
        (10, 20, 30, 40)
        >>> evaluation_steps(10**30, count=2)
        (10, 20)
    """
    total = evaluation_count(steps)
    n = total if count is None else min(count, total)
    return tuple(min(EVALUATE_EVERY * (i + 1), int(steps)) for i in range(n))


def untrained_bar(losses: Any) -> float | None:
    r"""The loss below which a model has learned: :math:`\bar L_0 - z\,\sigma_0`.

    :math:`\bar L_0` and :math:`\sigma_0` are the mean and standard deviation of the
    first :data:`UNTRAINED_STEPS` finite values of ``losses`` (a sweep's, at LRs too
    small to train: the untrained model's loss and its batch-to-batch noise),
    :math:`z =` :data:`Z_LEARNED`. ``None`` when fewer than two are finite.

    Example:
        >>> untrained_bar([2.0, 2.2, 1.8, 2.0])
        1.6734...
    """
    first = _untrained(losses)
    if first.size < 2:
        return None
    return float(first.mean()) - Z_LEARNED * float(first.std(ddof=1))


def held_out_bar(
    losses: Any, start_loss: float | None = None, held_out_steps: float | None = None
) -> float | None:
    r"""The held-out score below which a candidate has learned: :math:`v_0 - z\,\sigma_0/\sqrt m`.

    :math:`\sigma_0` is the standard deviation of the first :data:`UNTRAINED_STEPS`
    finite ``losses`` (a sweep's: the loss of one step's examples, varying from batch
    to batch), :math:`z =` :data:`Z_LEARNED`. A held-out score is the mean over the
    held-out examples, :math:`m` steps' worth of them (``held_out_steps``, at least 1),
    and a mean over :math:`m` steps' examples varies by :math:`\sigma_0/\sqrt m`: the
    bar is that noise below :math:`v_0`, the held-out loss before training
    (``start_loss``; the mean of those first losses, :math:`\bar L_0`, when it was not
    measured). Without ``held_out_steps`` (not known) :math:`m = 1`. ``None`` when
    fewer than two first losses are finite. Scale-free: scaling or shifting the loss
    moves the bar with the scores.

    Example:
        >>> held_out_bar([2.0, 2.2, 1.8, 2.0])  # = untrained_bar: 2.0 - 2 * 0.163
        1.6734...
        >>> held_out_bar([2.0, 2.2, 1.8, 2.0], start_loss=2.1, held_out_steps=16.0)
        2.0183...
    """
    first = _untrained(losses)
    if first.size < 2:
        return None
    start = float(first.mean()) if start_loss is None else float(start_loss)
    steps = 1.0 if held_out_steps is None else max(1.0, float(held_out_steps))
    return start - Z_LEARNED * float(first.std(ddof=1)) / math.sqrt(steps)


def untrained_loss(losses: Any) -> float | None:
    """The mean of the first :data:`UNTRAINED_STEPS` finite ``losses`` (``None`` if none)."""
    first = _untrained(losses)
    return float(first.mean()) if first.size else None


def _untrained(losses: Any) -> np.ndarray:
    """The finite values among the first :data:`UNTRAINED_STEPS` of ``losses``."""
    first = np.asarray(losses[:UNTRAINED_STEPS], dtype=np.float64)
    return first[np.isfinite(first)]


def largest_rise(losses: Sequence[float], start: float | None = None) -> float:
    r"""How far the losses rose above their running minimum at most.

    .. math:: \max_m \Big(v_m - \min_{i \le m} v_i\Big)

    with :math:`v_0 =` ``start`` (the loss before training) counted in the running
    minimum when given and finite. 0 for losses that never rose (and for an empty
    sequence).

    Example:
        >>> largest_rise([2.0, 0.5, 1.5, 1.0])
        1.0
        >>> largest_rise([9.0, 3.0, 1.5], start=2.5)  # jumped 6.5 above its start
        6.5
    """
    low = float(start) if start is not None and math.isfinite(start) else math.inf
    rise = 0.0
    for v in losses:
        low = min(low, float(v))
        rise = max(rise, float(v) - low)
    return rise


def fitted_lr(candidates: Sequence[float], scores: Sequence[float]) -> float | None:
    r"""The LR at the vertex of the least-squares parabola through the scores, if any.

    .. math:: x^* = \operatorname{clip}\Big(-\frac{b}{2a},\ \min_j x_j,\ \max_j x_j\Big),
              \qquad (a, b, c) = \arg\min \sum_j \big(a x_j^2 + b x_j + c - s_j\big)^2

    over the candidates with a finite score, :math:`x_j = \log_{10} lr_j`.

    Args:
        candidates: Candidate LRs, increasing.
        scores: One score per candidate, lower is better; ``inf`` or NaN for a
            candidate that diverged.

    Returns:
        :math:`10^{x^*}` (the candidate itself when the vertex is clipped to an end), or
        ``None`` when fewer than three scores are finite or the parabola does not open
        upwards (no minimum to read).

    Example:
        >>> f"{fitted_lr([0.01, 0.1, 1.0], [2.0, 1.0, 2.0]):.3g}"
        '0.1'
        >>> f"{fitted_lr([0.01, 0.1, 1.0], [2.0, 1.0, 1.5]):.3g}"
        '0.147'
        >>> fitted_lr([0.01, 0.1, 1.0], [1.0, 2.0, 1.0]) is None   # opens downwards
        True
    """
    points = [
        (math.log10(c), float(s))
        for c, s in zip(candidates, scores, strict=True)
        if math.isfinite(float(s))
    ]
    if len(points) < 3:
        return None
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    scale = float(np.max(np.abs(y - y.mean())))
    if scale == 0.0:  # every score equal: no minimum to read
        return None
    a, b, _ = np.polyfit(x - x.mean(), (y - y.mean()) / scale, 2)
    if not a > _NO_CURVATURE:  # a line (to rounding) has no vertex either
        return None
    vertex = x.mean() - b / (2.0 * a)
    finite = [c for c, s in zip(candidates, scores, strict=True) if math.isfinite(float(s))]
    if vertex <= x[0]:
        return float(finite[0])
    if vertex >= x[-1]:
        return float(finite[-1])
    return float(10.0**vertex)
