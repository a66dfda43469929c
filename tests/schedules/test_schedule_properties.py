"""Hypothesis properties: bounds, periodicity, halving, decay, continuity, scalar == vector."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.strategies import (
    PROPERTY_SETTINGS,
    any_schedules,
    cyclic_schedules,
    exp_ranges,
    lr_bounds,
    lr_schedules,
    momentum_bounds,
    onecycles,
    positive_lrs,
    step_arrays,
    steps,
    triangular2s,
    triangulars,
    warmups,
)

import cyclr
from cyclr.schedules import NUMPY_OPS, SCALAR_OPS

EPS = float(np.finfo(np.float64).eps)


def _ulps_above(value: float, bound: float, ulps: int = 2) -> bool:
    """``value <= bound`` up to a few ulps of ``bound`` (the formula rounds)."""
    return value <= bound + ulps * math.ulp(bound)


@PROPERTY_SETTINGS
@given(cyclic_schedules(), step_arrays)
def test_cyclic_lr_stays_within_bounds(schedule: Any, points: list[int]) -> None:
    values = schedule(np.array(points))
    assert (values >= schedule.base_lr).all()
    assert all(_ulps_above(v, schedule.max_lr) for v in values)
    for step in points:
        assert schedule.base_lr <= schedule(step)
        assert _ulps_above(schedule(step), schedule.max_lr)


@PROPERTY_SETTINGS
@given(onecycles(), step_arrays)
def test_onecycle_lr_stays_within_bounds(schedule: cyclr.OneCycle, points: list[int]) -> None:
    values = schedule(np.array(points))
    low = min(schedule.final_lr, schedule.initial_lr)
    # torch's linear form rounds at the scale of max_lr.
    slack = 4 * EPS * schedule.max_lr
    assert (values > 0).all()
    assert (values >= low - slack).all()
    assert (values <= schedule.max_lr + slack).all()


def _position_tol(schedule: Any, step: int) -> float:
    """How far torch's formula may round the LR at ``step``.

    The cycle position ``x = 1 + step / total - cycle`` is rounded to the ulp of
    ``step / total``, and ``s = x / ratio`` (or ``(x - 1) / (ratio - 1)``) scales that error
    by ``total / step_size_up`` (or ``total / step_size_down``).
    """
    total = schedule.cycle_steps
    shortest = min(schedule.step_size_up, schedule.step_size_down)
    amplitude = schedule.max_lr - schedule.base_lr
    return amplitude * 4 * EPS * (2 + step / total) * total / shortest + 2 * math.ulp(
        schedule.max_lr
    )


@PROPERTY_SETTINGS
@given(triangulars(), st.integers(0, 10**6), st.integers(1, 50))
def test_triangular_is_periodic(schedule: cyclr.Triangular, step: int, cycles: int) -> None:
    period = schedule.cycle_steps
    later = step + cycles * period
    tol = _position_tol(schedule, later)
    assert math.isclose(schedule(step), schedule(later), rel_tol=0, abs_tol=tol)
    assert schedule(cycles * period) == schedule.base_lr
    peak = cycles * period + schedule.step_size_up
    assert math.isclose(
        schedule(peak), schedule.max_lr, rel_tol=0, abs_tol=_position_tol(schedule, peak)
    )


@PROPERTY_SETTINGS
@given(triangular2s(), st.integers(0, 10**5), st.integers(1, 40))
def test_triangular2_amplitude_halves_every_cycle(
    schedule: cyclr.Triangular2, step: int, cycle: int
) -> None:
    period = schedule.cycle_steps
    position = step % period
    first = schedule(position) - schedule.base_lr
    later_step = position + (cycle - 1) * period
    later = schedule(later_step) - schedule.base_lr
    amplitude = schedule.max_lr - schedule.base_lr
    tol = _position_tol(schedule, later_step)
    assert math.isclose(later, first * 2.0 ** (1 - cycle), rel_tol=1e-12, abs_tol=tol)
    peak_step = (cycle - 1) * period + schedule.step_size_up
    peak = schedule(peak_step) - schedule.base_lr
    assert math.isclose(
        peak,
        amplitude * 2.0 ** (1 - cycle),
        rel_tol=1e-12,
        abs_tol=_position_tol(schedule, peak_step),
    )


@PROPERTY_SETTINGS
@given(exp_ranges(), step_arrays)
def test_exp_range_amplitude_is_bounded_by_gamma_power(
    schedule: cyclr.ExpRange, points: list[int]
) -> None:
    amplitude = schedule.max_lr - schedule.base_lr
    values = schedule(np.array(points))
    for step, value in zip(points, values, strict=True):
        envelope = amplitude * schedule.gamma**step
        assert value - schedule.base_lr <= envelope * (1 + 1e-12) + 4 * math.ulp(schedule.max_lr)
        assert value >= schedule.base_lr


@PROPERTY_SETTINGS
@given(any_schedules(), step_arrays)
def test_scalar_path_equals_vectorized_path(schedule: cyclr.Schedule, points: list[int]) -> None:
    scalar = np.array([schedule(step) for step in points])
    vector = schedule(np.array(points, dtype=np.int64))
    assert vector.dtype == np.float64
    # numpy's exp/cos may differ from libm's by an ulp: compare at the schedule's scale.
    scale = float(np.max(np.abs(scalar)))
    np.testing.assert_allclose(vector, scalar, rtol=4 * EPS, atol=8 * EPS * scale)


@PROPERTY_SETTINGS
@given(any_schedules(), momentum_bounds(), step_arrays)
def test_scalar_path_equals_vectorized_path_for_momentum(
    schedule: cyclr.Schedule, bounds: tuple[float, float], points: list[int]
) -> None:
    momentum = schedule.momentum(*bounds)
    scalar = np.array([momentum(step) for step in points])
    vector = momentum(np.array(points, dtype=np.int64))
    np.testing.assert_allclose(vector, scalar, rtol=4 * EPS, atol=8 * EPS)


@PROPERTY_SETTINGS
@given(any_schedules(), momentum_bounds(), step_arrays)
def test_lr_and_momentum_together_equal_each_alone(
    schedule: cyclr.Schedule, bounds: tuple[float, float], points: list[int]
) -> None:
    for step in points:
        x = float(step)
        together = schedule.evaluate_with_momentum(x, SCALAR_OPS, *bounds)
        alone = (
            schedule.evaluate(x, SCALAR_OPS),
            schedule.evaluate_momentum(x, SCALAR_OPS, *bounds),
        )
        assert together == alone
    x = np.array(points, dtype=np.float64)
    lr, momentum = schedule.evaluate_with_momentum(x, NUMPY_OPS, *bounds)
    np.testing.assert_array_equal(lr, schedule.evaluate(x, NUMPY_OPS))
    np.testing.assert_array_equal(momentum, schedule.evaluate_momentum(x, NUMPY_OPS, *bounds))


@pytest.mark.parametrize(
    "schedule",
    [
        cyclr.OneCycle(0.1, 100_000, three_phase=True),
        cyclr.ExpRange(0.001, 0.006, 2000, gamma=0.99994),
        cyclr.warmup(cyclr.Triangular2(0.001, 0.006, 500), 1000),
    ],
    ids=["onecycle", "exp_range", "warmup"],
)
def test_large_arrays_equal_small_chunks(schedule: cyclr.Schedule) -> None:
    points = np.arange(0, 200_003, dtype=np.int64)[::-1].reshape(-1, 1)
    whole = schedule(points)
    assert whole.shape == points.shape
    pieces = np.concatenate([schedule(points[i : i + 1000]) for i in range(0, len(points), 1000)])
    np.testing.assert_array_equal(whole, pieces)


@PROPERTY_SETTINGS
@given(any_schedules(), momentum_bounds(), steps)
def test_momentum_moves_opposite_to_the_lr(
    schedule: cyclr.Schedule, bounds: tuple[float, float], step: int
) -> None:
    # From one step to the next, where the LR rises the momentum does not, and the
    # other way round (each part of a join mirrors its own LR).
    momentum = schedule.momentum(*bounds)
    if isinstance(schedule, cyclr.Join):
        assume(step + 1 not in schedule.boundaries)
    lr1, lr2 = schedule(step), schedule(step + 1)
    m1, m2 = momentum(step), momentum(step + 1)
    base, high = bounds
    assert base - 4 * EPS <= min(m1, m2) <= max(m1, m2) <= high + 4 * EPS
    lr_tol = 1e-12 * max(lr1, lr2)
    if lr2 > lr1 + lr_tol:
        assert m2 <= m1 + 4 * EPS
    elif lr1 > lr2 + lr_tol:
        assert m1 <= m2 + 4 * EPS


@pytest.mark.parametrize(
    "schedule",
    [
        cyclr.Triangular(0.001, 0.006, 2000),
        cyclr.Triangular2(0.001, 0.006, 2000),
        cyclr.ExpRange(0.001, 0.006, 2000, gamma=0.9999),
        cyclr.OneCycle(0.1, 1000),
        cyclr.OneCycle(0.1, 1000, three_phase=True, anneal="linear"),
    ],
    ids=["triangular", "triangular2", "exp_range", "onecycle", "onecycle-3phase"],
)
def test_momentum_is_lowest_where_the_lr_peaks(schedule: cyclr.Schedule) -> None:
    points = np.arange(0, 8000)
    lrs = schedule(points)
    momenta = schedule.momentum(0.85, 0.95)(points)
    peak = int(np.argmax(lrs))
    assert int(np.argmin(momenta)) == peak
    if not isinstance(schedule, cyclr.ExpRange):  # exp_range scales the momentum swing too
        assert math.isclose(momenta[peak], 0.85, rel_tol=1e-12)
    assert momenta[0] == 0.95
    # Wherever the LR rises the momentum falls, and the other way round (one-cycle's
    # annihilation phase keeps the momentum at its maximum).
    dl, dm = np.diff(lrs), np.diff(momenta)
    moving = np.abs(dl) > 1e-9 * lrs.max()
    assert np.all(np.sign(dm[moving]) != np.sign(dl[moving]))
    assert np.count_nonzero(dm[moving]) > 0.5 * np.count_nonzero(moving)


@pytest.mark.parametrize(
    "schedule", [cyclr.Constant(0.1), cyclr.Linear(0.001, 0.1, 100)], ids=["constant", "linear"]
)
def test_momentum_of_constant_and_linear_stays_at_max(schedule: cyclr.Schedule) -> None:
    momentum = schedule.momentum(0.85, 0.95)
    assert momentum(0) == momentum(50) == momentum(10**9) == 0.95


@PROPERTY_SETTINGS
@given(warmups())
def test_warmup_is_continuous_at_its_boundary(schedule: cyclr.Join) -> None:
    (boundary,) = schedule.boundaries
    ramp, inner = schedule.schedules
    assert schedule(boundary) == inner(0)
    assert ramp(boundary) == inner(0)  # the ramp ends exactly where the schedule starts
    assert schedule(0) == ramp(0)
    # The step across the boundary is no larger than a ramp step or a step of the schedule.
    across = abs(schedule(boundary) - schedule(boundary - 1))
    ramp_step = abs(ramp(boundary) - ramp(boundary - 1))
    assert across == ramp_step
    assert schedule(boundary + 7) == inner(7)


@PROPERTY_SETTINGS
@given(lr_schedules(), lr_schedules(), st.integers(1, 10**5))
def test_join_is_continuous_or_refuses(
    first: cyclr.Schedule, second: cyclr.Schedule, boundary: int
) -> None:
    outgoing, incoming = first(boundary), second(0)
    if math.isclose(outgoing, incoming, rel_tol=1e-9):
        joined = cyclr.join([first, second], [boundary])
        assert joined(boundary) == incoming
        assert joined(boundary - 1) == first(boundary - 1)
    else:
        with pytest.raises(ValueError, match=f"schedules jump at boundary {boundary}"):
            cyclr.join([first, second], [boundary])


@PROPERTY_SETTINGS
@given(lr_bounds(), positive_lrs, st.integers(1, 1000))
def test_join_of_ramps_is_continuous(bounds: tuple[float, float], low: float, n: int) -> None:
    base, peak = bounds
    up, hold = cyclr.Linear(base, peak, n), cyclr.Constant(peak)
    joined = cyclr.join([up, hold, cyclr.Linear(peak, low, n)], [n, 2 * n])
    assert joined(n) == peak == joined(2 * n)
    assert joined(n - 1) == up(n - 1)
    assert joined(3 * n) == cyclr.Linear(peak, low, n)(n)
