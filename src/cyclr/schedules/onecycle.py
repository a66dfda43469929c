r"""One-cycle (super-convergence): one rise to ``max_lr`` and one long fall, over the whole run.

Phases, with ``T = total_steps``, ``p = pct_start``, ``initial = max_lr / div_factor``
and ``final = initial / final_div_factor`` (identical to torch's ``OneCycleLR``):

* two-phase: ``initial -> max_lr`` over steps ``[0, pT - 1]``, then
  ``max_lr -> final`` until ``T - 1``;
* three-phase (Smith's): ``initial -> max_lr`` until ``pT - 1``, ``max_lr -> initial``
  until ``2pT - 2``, then ``initial -> final`` (annihilation) until ``T - 1``.

Within a phase from ``a`` to ``b`` with progress ``pct``:

.. math::

    \\text{cos: } b + \\frac{a - b}{2} (\\cos(\\pi \\cdot pct) + 1) \\qquad
    \\text{linear: } (b - a) \\cdot pct + a

Past ``T - 1`` the schedule holds its final value: it never rebounds, never goes
negative and never raises (torch's does all three).

References:
    L. N. Smith and N. Topin, "Super-Convergence", https://arxiv.org/abs/1708.07120
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from .._validate import check_choice, check_finite, check_fraction, check_int, check_positive
from .base import Schedule
from .ops import Ops

__all__ = ["OneCycle"]


@dataclasses.dataclass(frozen=True)
class OneCycle(Schedule):
    """One-cycle learning rate, equal to torch's ``OneCycleLR`` at every step ``0..T-1``.

    Args:
        max_lr: The peak learning rate.
        total_steps: Optimizer steps in the whole run, ``T``.
        pct_start: Fraction of ``T`` spent rising, in ``(0, 1)``; below 0.5 for three phases.
        div_factor: ``initial_lr = max_lr / div_factor``; at least 1.
        final_div_factor: ``final_lr = initial_lr / final_div_factor``; at least 1.
        anneal: ``"cos"`` or ``"linear"``.
        three_phase: Use Smith's up / down / annihilate variant.

    Raises:
        ValueError: For a non-positive ``max_lr``, too few steps for a phase, a
            ``pct_start`` outside ``(0, 1)``, factors below 1 or an unknown ``anneal``.
        TypeError: If ``total_steps`` is not an integer.

    Example:
        >>> s = OneCycle(max_lr=0.1, total_steps=100)
        >>> [round(s(i), 12) for i in (0, 29, 99, 10 ** 6)]
        [0.004, 0.1, 4e-07, 4e-07]

    References:
        L. N. Smith and N. Topin, "Super-Convergence", https://arxiv.org/abs/1708.07120
    """

    kind: ClassVar[str] = "onecycle"

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False

    def __post_init__(self) -> None:
        max_lr = check_positive("max_lr", self.max_lr)
        total = check_int("total_steps", self.total_steps, minimum=1)
        pct = check_fraction("pct_start", self.pct_start)
        for name in ("div_factor", "final_div_factor"):
            value = check_finite(name, getattr(self, name))
            if value < 1:
                raise ValueError(f"{name} must be at least 1 (got {name}={value!r})")
            object.__setattr__(self, name, value)
        check_choice("anneal", self.anneal, ("cos", "linear"))
        if not isinstance(self.three_phase, bool):
            raise TypeError(f"three_phase must be a bool (got three_phase={self.three_phase!r})")
        if pct * total - 1 <= 0:
            raise ValueError(
                "pct_start * total_steps must exceed 1 so the warm-up phase has a step "
                f"(got pct_start={pct!r}, total_steps={total!r})"
            )
        if self.three_phase and 2 * pct * total - 2 >= total - 1:
            raise ValueError(
                "three_phase needs 2 * pct_start * total_steps - 2 < total_steps - 1, i.e. "
                f"pct_start below about 0.5 (got pct_start={pct!r}, total_steps={total!r})"
            )
        object.__setattr__(self, "max_lr", max_lr)
        object.__setattr__(self, "pct_start", pct)

    @property
    def initial_lr(self) -> float:
        """The LR at step 0, ``max_lr / div_factor``."""
        return self.max_lr / self.div_factor

    @property
    def final_lr(self) -> float:
        """The LR at step ``total_steps - 1`` and after, ``initial_lr / final_div_factor``."""
        return self.initial_lr / self.final_div_factor

    def _phase_ends(self) -> list[float]:
        first = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps - 1)
        if self.three_phase:
            return [first, float(2 * self.pct_start * self.total_steps) - 2, last]
        return [first, last]

    def _anneal_phases(self, step: Any, ops: Ops, values: list[float]) -> Any:
        """Anneal through the phases; ``values`` are the phase boundary values, in order."""
        step = ops.minimum(step, float(self.total_steps - 1))
        ends = self._phase_ends()
        starts = [0.0, *ends[:-1]]
        start_step: Any = starts[-1]
        end_step: Any = ends[-1]
        start: Any = values[-2]
        end: Any = values[-1]
        # Walk the phases backwards so the earliest phase containing the step wins, as in
        # torch's loop (phase i runs from ends[i - 1] to ends[i], values[i] -> values[i + 1]).
        for index in range(len(ends) - 2, -1, -1):
            inside = step <= ends[index]
            start_step = ops.where(inside, starts[index], start_step)
            end_step = ops.where(inside, ends[index], end_step)
            start = ops.where(inside, values[index], start)
            end = ops.where(inside, values[index + 1], end)
        pct = (step - start_step) / (end_step - start_step)
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (ops.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def evaluate(self, step: Any, ops: Ops) -> Any:
        """Evaluate the LR; steps past ``total_steps - 1`` hold the final LR."""
        initial, final = self.initial_lr, self.final_lr
        if self.three_phase:
            values = [initial, self.max_lr, initial, final]
        else:
            values = [initial, self.max_lr, final]
        return self._anneal_phases(step, ops, values)

    def evaluate_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> Any:
        """Momentum falls while the LR rises and rises while it falls (torch's values)."""
        if self.three_phase:
            values = [max_momentum, base_momentum, max_momentum, max_momentum]
        else:
            values = [max_momentum, base_momentum, max_momentum]
        return self._anneal_phases(step, ops, values)
