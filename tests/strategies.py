"""Shared hypothesis strategies for cyclr's schedules.

Import them as ``from tests.strategies import lr_schedules, steps`` (the suite runs as
``python -m pytest`` from the repository root). Every strategy builds only valid
schedules; draw invalid arguments in the test itself.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

import cyclr

__all__ = [
    "PROPERTY_SETTINGS",
    "any_schedules",
    "constants",
    "cyclic_schedules",
    "cyclics",
    "exp_ranges",
    "gammas",
    "linears",
    "lr_bounds",
    "lr_schedules",
    "momentum_bounds",
    "momentum_schedules",
    "onecycles",
    "positive_lrs",
    "step_arrays",
    "step_sizes",
    "steps",
    "triangular2s",
    "triangulars",
    "warmups",
]

PROPERTY_SETTINGS = settings(deadline=None, max_examples=60)
"""No per-example deadline (the test machine is shared) and a modest example count."""

steps = st.integers(min_value=0, max_value=10**7)
"""A 0-based optimizer step."""

step_sizes = st.integers(min_value=1, max_value=5000)
"""A half-cycle length in steps."""

step_arrays = st.lists(steps, min_size=1, max_size=50)
"""A handful of steps, in any order, repeats allowed."""

positive_lrs = st.floats(min_value=1e-7, max_value=10.0, allow_nan=False, allow_infinity=False)


@st.composite
def lr_bounds(draw: st.DrawFn) -> tuple[float, float]:
    """``(base_lr, max_lr)`` with ``max_lr`` between 1.001 and 1000 times ``base_lr``."""
    base = draw(st.floats(min_value=1e-6, max_value=1.0))
    ratio = draw(st.floats(min_value=1.001, max_value=1e3))
    return base, base * ratio


@st.composite
def triangulars(draw: st.DrawFn) -> cyclr.Triangular:
    """Symmetric or asymmetric :class:`~cyclr.Triangular` schedules."""
    base, peak = draw(lr_bounds())
    return cyclr.Triangular(base, peak, draw(step_sizes), draw(st.none() | step_sizes))


@st.composite
def triangular2s(draw: st.DrawFn) -> cyclr.Triangular2:
    """:class:`~cyclr.Triangular2` schedules."""
    base, peak = draw(lr_bounds())
    return cyclr.Triangular2(base, peak, draw(step_sizes), draw(st.none() | step_sizes))


gammas = st.floats(min_value=0.9, max_value=1.0, exclude_min=True)
"""An exp_range ``gamma`` in ``(0.9, 1]``."""


@st.composite
def exp_ranges(draw: st.DrawFn) -> cyclr.ExpRange:
    """:class:`~cyclr.ExpRange` schedules."""
    base, peak = draw(lr_bounds())
    return cyclr.ExpRange(base, peak, draw(step_sizes), draw(st.none() | step_sizes), draw(gammas))


@st.composite
def cyclics(draw: st.DrawFn) -> cyclr.Cyclic:
    """:class:`~cyclr.Cyclic` schedules with a built-in registered scale function.

    ``triangular2`` is a factor in ``[0, 1]`` of the cycle number (from 1) only: of the
    step it would be 2 at step 0, which :class:`~cyclr.Cyclic` refuses.
    """
    base, peak = draw(lr_bounds())
    scale_fn = draw(st.sampled_from(["triangular", "triangular2"]))
    modes = ["cycle", "iterations"] if scale_fn == "triangular" else ["cycle"]
    return cyclr.Cyclic(
        base,
        peak,
        draw(step_sizes),
        draw(st.none() | step_sizes),
        scale_fn=scale_fn,
        scale_mode=draw(st.sampled_from(modes)),
    )


def cyclic_schedules() -> st.SearchStrategy[cyclr.Schedule]:
    """Any of Smith's cyclical policies."""
    return st.one_of(triangulars(), triangular2s(), exp_ranges(), cyclics())


@st.composite
def onecycles(draw: st.DrawFn) -> cyclr.OneCycle:
    """Valid :class:`~cyclr.OneCycle` schedules: two or three phases, cos or linear."""
    three_phase = draw(st.booleans())
    total = draw(st.integers(min_value=100, max_value=10**6))
    pct = draw(st.floats(min_value=0.05, max_value=0.45 if three_phase else 0.95))
    return cyclr.OneCycle(
        max_lr=draw(positive_lrs),
        total_steps=total,
        pct_start=pct,
        div_factor=draw(st.floats(min_value=1.0, max_value=1e3)),
        final_div_factor=draw(st.floats(min_value=1.0, max_value=1e5)),
        anneal=draw(st.sampled_from(["cos", "linear"])),
        three_phase=three_phase,
    )


def constants() -> st.SearchStrategy[cyclr.Constant]:
    """:class:`~cyclr.Constant` schedules."""
    return st.builds(cyclr.Constant, positive_lrs)


def linears() -> st.SearchStrategy[cyclr.Linear]:
    """:class:`~cyclr.Linear` ramps."""
    return st.builds(cyclr.Linear, positive_lrs, positive_lrs, st.integers(1, 10**5))


def lr_schedules() -> st.SearchStrategy[cyclr.Schedule]:
    """Any single (not joined) learning-rate schedule."""
    return st.one_of(cyclic_schedules(), onecycles(), constants(), linears())


@st.composite
def warmups(draw: st.DrawFn) -> cyclr.Join:
    """A schedule behind a linear warm-up (:func:`cyclr.warmup`)."""
    inner = draw(lr_schedules())
    start_lr = draw(st.none() | positive_lrs)
    return cyclr.warmup(inner, draw(st.integers(1, 10**4)), start_lr=start_lr)


def any_schedules() -> st.SearchStrategy[cyclr.Schedule]:
    """Any learning-rate schedule, joined or not."""
    return st.one_of(lr_schedules(), warmups())


@st.composite
def momentum_bounds(draw: st.DrawFn) -> tuple[float, float]:
    """``(base_momentum, max_momentum)`` with ``0 <= base < max < 1``."""
    base = draw(st.floats(min_value=0.0, max_value=0.9))
    high = draw(st.floats(min_value=base + 0.01, max_value=0.999))
    return base, high


@st.composite
def momentum_schedules(draw: st.DrawFn, schedules: Any = None) -> cyclr.Momentum:
    """The companion :class:`~cyclr.Momentum` of a drawn (or given) schedule strategy."""
    schedule = draw(any_schedules() if schedules is None else schedules)
    base, high = draw(momentum_bounds())
    return schedule.momentum(base, high)
