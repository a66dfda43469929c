r"""One-cycle (super-convergence): one rise to ``max_lr`` and one long fall, over the whole run.

Phases, with ``T = total_steps``, ``p = pct_start``, ``initial = max_lr / div_factor``
and ``final = initial / final_div_factor`` (identical to torch's ``OneCycleLR``):

* two-phase: ``initial -> max_lr`` over steps ``[0, pT - 1]``, then
  ``max_lr -> final`` until ``T - 1``;
* three-phase (Smith's): ``initial -> max_lr`` until ``pT - 1``, ``max_lr -> initial``
  until ``2pT - 2``, then ``initial -> final`` (annihilation) until ``T - 1``.

Within a phase from ``a`` to ``b`` with progress ``pct``:

.. math::

    \text{cos: } b + \frac{a - b}{2} (\cos(\pi \cdot pct) + 1) \qquad
    \text{linear: } (b - a) \cdot pct + a

Past ``T - 1`` the schedule holds its final value: it never rebounds, never goes
negative and never raises (torch's does all three).

References:
    L. N. Smith and N. Topin, "Super-Convergence", https://arxiv.org/abs/1708.07120
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

from .._validate import (
    check_choice,
    check_count,
    check_fraction,
    check_real,
    check_real_positive,
    check_type,
)
from .base import Schedule
from .ops import SCALAR_OPS, Ops

__all__ = ["OneCycle"]

_Phase = tuple[float, float, float, float, float]


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
        ValueError: For a non-positive ``max_lr``, too few steps for a phase (or more
            than ``2**53``), a ``pct_start`` outside ``(0, 1)``, factors below 1, factors
            so large that an LR rounds to 0.0, or an unknown ``anneal``.
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
        max_lr = check_real_positive("max_lr", self.max_lr)
        total = check_count("total_steps", self.total_steps)
        check_real("pct_start", self.pct_start)
        pct = check_fraction("pct_start", self.pct_start)
        for name in ("div_factor", "final_div_factor"):
            value = check_real(name, getattr(self, name))
            if value < 1:
                raise ValueError(f"{name} must be at least 1 (got {name}={value!r})")
            object.__setattr__(self, name, value)
        check_choice("anneal", self.anneal, ("cos", "linear"))
        check_type("three_phase", self.three_phase, bool, "a bool")
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
        object.__setattr__(self, "total_steps", total)
        object.__setattr__(self, "pct_start", pct)
        self._check_no_zero_lr()

    def _check_no_zero_lr(self) -> None:
        """Refuse factors so large that an LR of the cycle rounds to 0.0 in float64."""
        ends = [0, self.total_steps - 1]
        for end_step, *_ in self._lr_table:
            ends.extend((math.floor(end_step), math.ceil(end_step)))
        lowest = min(self.evaluate(step, SCALAR_OPS) for step in ends if step >= 0)
        if self.final_lr > 0 and lowest > 0:
            return
        raise ValueError(
            "max_lr / div_factor / final_div_factor must stay above 0.0 in float64: an LR of "
            "this cycle rounds to 0.0 (got "
            f"max_lr={self.max_lr!r}, div_factor={self.div_factor!r}, "
            f"final_div_factor={self.final_div_factor!r}, anneal={self.anneal!r})"
        )

    @property
    def initial_lr(self) -> float:
        """The LR at step 0, ``max_lr / div_factor``."""
        return self.max_lr / self.div_factor

    @property
    def final_lr(self) -> float:
        """The LR at step ``total_steps - 1`` and after, ``initial_lr / final_div_factor``."""
        return self.initial_lr / self.final_div_factor

    def _table(self, values: Sequence[float]) -> tuple[_Phase, ...]:
        """Per phase ``(end_step, start_step, span, base, k)``, in torch's scalar arithmetic.

        ``values`` are the values at the phase boundaries, in order. Phase ``i`` runs from
        ``start_step`` to ``end_step`` (``span`` steps) and from ``start = values[i]`` to
        ``end = values[i + 1]``. At progress ``pct`` its value is
        ``base + k * (cos(pi * pct) + 1)`` (cos: ``base = end``, ``k = (start - end) / 2``)
        or ``k * pct + base`` (linear: ``base = start``, ``k = end - start``), the same
        operations in the same order as torch's ``OneCycleLR``.
        """
        first = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps - 1)
        ends: tuple[float, ...] = (first, last)
        if self.three_phase:
            ends = (first, float(2 * self.pct_start * self.total_steps) - 2, last)
        rows = []
        start_step = 0.0
        for index, end_step in enumerate(ends):
            start, end = values[index], values[index + 1]
            if self.anneal == "cos":
                row = (end_step, start_step, end_step - start_step, end, (start - end) / 2.0)
            else:
                row = (end_step, start_step, end_step - start_step, start, end - start)
            rows.append(row)
            start_step = end_step
        return tuple(rows)

    @functools.cached_property
    def _lr_table(self) -> tuple[_Phase, ...]:
        initial, final = self.initial_lr, self.final_lr
        if self.three_phase:
            return self._table((initial, self.max_lr, initial, final))
        return self._table((initial, self.max_lr, final))

    @functools.cached_property
    def _momentum_tables(self) -> dict[tuple[float, ...], tuple[_Phase, ...]]:
        return {}

    def _anneal_phases(self, step: Any, ops: Ops, table: Sequence[_Phase]) -> Any:
        """Anneal through the phases of ``table`` (see :meth:`_table`); hold the last value."""
        last = float(self.total_steps - 1)
        step = ops.minimum(step, last)
        start_step: Any
        span: Any
        base: Any
        k: Any
        if ops is SCALAR_OPS:
            # One step: take the first phase whose end is not before the step, as torch's
            # loop does, instead of selecting through every phase.
            index = 0
            while step > table[index][0]:
                index += 1
            _, start_step, span, base, k = table[index]
        else:
            _, start_step, span, base, k = table[-1]
            # Walk the phases backwards so the earliest phase containing the step wins.
            for end_i, start_i, span_i, base_i, k_i in reversed(table[:-1]):
                inside = step <= end_i
                start_step = ops.where(inside, start_i, start_step)
                span = ops.where(inside, span_i, span)
                base = ops.where(inside, base_i, base)
                k = ops.where(inside, k_i, k)
        pct = (step - start_step) / span
        if self.anneal == "cos":
            return base + k * (ops.cos(math.pi * pct) + 1)
        return k * pct + base

    def evaluate(self, step: Any, ops: Ops) -> Any:
        """Evaluate the LR; steps past ``total_steps - 1`` hold the final LR."""
        return self._anneal_phases(step, ops, self._lr_table)

    def _momentum_table(self, base_momentum: float, max_momentum: float) -> tuple[_Phase, ...]:
        values: tuple[float, ...] = (max_momentum, base_momentum, max_momentum)
        if self.three_phase:
            values = (max_momentum, base_momentum, max_momentum, max_momentum)
        tables = self._momentum_tables
        table = tables.get(values)
        if table is None:
            table = tables[values] = self._table(values)
        return table

    def evaluate_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> Any:
        """Momentum falls while the LR rises and rises while it falls (torch's values)."""
        return self._anneal_phases(step, ops, self._momentum_table(base_momentum, max_momentum))

    def evaluate_with_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> tuple[Any, Any]:
        """The LR and the momentum, sharing the phase lookup and the cosine of one step."""
        if ops is not SCALAR_OPS:
            return super().evaluate_with_momentum(step, ops, base_momentum, max_momentum)
        lr_table = self._lr_table
        step = min(step, float(self.total_steps - 1))
        index = 0
        while step > lr_table[index][0]:
            index += 1
        _, start_step, span, base, k = lr_table[index]
        _, _, _, m_base, m_k = self._momentum_table(base_momentum, max_momentum)[index]
        pct = (step - start_step) / span
        if self.anneal == "cos":
            curve = math.cos(math.pi * pct) + 1
            return base + k * curve, m_base + m_k * curve
        return k * pct + base, m_k * pct + m_base
