r"""The learning rates a range test sweeps through, step by step.

With ``n = num_steps`` and the 0-based step ``i``:

.. math::

    \text{exp: } lr_i = start \cdot (end / start)^{i / (n - 1)} \qquad
    \text{linear: } lr_i = start + (end - start) \cdot i / (n - 1)

The exponential sweep (fast.ai's default, 1e-7 to 10 over 100 steps) spends the same
number of steps on every decade; the linear sweep is the one of Smith's paper.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from .._validate import check_above, check_choice, check_int, check_positive

__all__ = ["MIN_NUM_STEPS", "SWEEPS", "Sweep"]

SWEEPS = ("exp", "linear")
"""The sweep kinds."""

MIN_NUM_STEPS = 2
"""The fewest steps a sweep can have: it must visit both ``start_lr`` and ``end_lr``.

A curve this short carries no evidence; the suggestion rules say so by raising
:class:`~cyclr.errors.NoReliableSuggestionError` (they need at least
:data:`cyclr.rangetest.suggest.MIN_POINTS` finite losses).
"""


@dataclasses.dataclass(frozen=True)
class Sweep:
    """The LR schedule of a range test: ``num_steps`` LRs from ``start_lr`` to ``end_lr``.

    Args:
        start_lr: The LR of step 0; positive and finite.
        end_lr: The LR of the last step; positive, finite and above ``start_lr``.
        num_steps: Steps in the sweep, at least :data:`MIN_NUM_STEPS`.
        kind: ``"exp"`` (equal ratio per step) or ``"linear"`` (equal difference).

    Raises:
        ValueError: If an LR is not positive and finite, ``end_lr <= start_lr``,
            ``num_steps`` is too small or ``kind`` is unknown.
        TypeError: If an LR is not a real number or ``num_steps`` is not an integer.

    Example:
        >>> s = Sweep(1e-4, 1.0, num_steps=5)
        >>> [f"{lr:.0e}" for lr in s.lrs()]
        ['1e-04', '1e-03', '1e-02', '1e-01', '1e+00']
        >>> Sweep(0.1, 0.5, num_steps=5, kind="linear").lr_at(2)
        0.30000000000000004
    """

    start_lr: float
    end_lr: float
    num_steps: int
    kind: str = "exp"

    def __post_init__(self) -> None:
        start = check_positive("start_lr", self.start_lr)
        end = check_positive("end_lr", self.end_lr)
        check_above("start_lr", start, "end_lr", end)
        steps = check_int("num_steps", self.num_steps, minimum=MIN_NUM_STEPS)
        check_choice("kind", self.kind, SWEEPS)
        object.__setattr__(self, "start_lr", start)
        object.__setattr__(self, "end_lr", end)
        object.__setattr__(self, "num_steps", steps)
        lrs = self.lrs()
        if not (np.all(np.diff(lrs) > 0) and np.all(lrs > 0) and np.all(np.isfinite(lrs))):
            raise ValueError(
                f"end_lr must be far enough above start_lr for {steps} distinct, positive "
                "float64 LRs (got start_lr="
                f"{self.start_lr!r}, end_lr={self.end_lr!r}, num_steps={steps}, kind={self.kind!r})"
            )

    def lr_at(self, step: Any) -> float:
        """Return the LR of ``step`` (0-based) by the sweep formula.

        Raises:
            TypeError: If ``step`` is not an integer.
            ValueError: If ``step`` is outside ``[0, num_steps - 1]``.
        """
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, numbers.Integral):
            raise TypeError(f"step must be an integer (got step={step!r})")
        i = int(step)
        if not 0 <= i < self.num_steps:
            raise ValueError(f"step must be in [0, {self.num_steps - 1}] (got step={step!r})")
        last = self.num_steps - 1
        if self.kind == "exp":
            return float(self.start_lr * (self.end_lr / self.start_lr) ** (i / last))
        return float(self.start_lr + (self.end_lr - self.start_lr) * i / last)

    def lrs(self) -> npt.NDArray[np.float64]:
        """Return every step's LR as a float64 array, each equal to :meth:`lr_at` exactly."""
        return np.array([self.lr_at(i) for i in range(self.num_steps)], dtype=np.float64)
