"""Exact integer steps, and the array path equal to the scalar path bit for bit."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import PROPERTY_SETTINGS, any_schedules, momentum_bounds

import cyclr
from cyclr.schedules import Ops

BASE, PEAK = 0.001, 0.006


def _exact(it: int, up: int, down: int, halving: bool) -> Fraction:
    index, pos = divmod(it, up + down)
    s = Fraction(pos, up) if pos <= up else Fraction(up + down - pos, down)
    scale = Fraction(1, 2**index) if halving and index < 2000 else Fraction(int(not halving))
    return Fraction(BASE) + (Fraction(PEAK) - Fraction(BASE)) * s * scale


def test_the_reported_step_past_2_53_is_exact() -> None:
    step = 9007199254740993  # 2**53 + 1: float(step) is 2**53
    schedule = cyclr.Triangular(BASE, PEAK, 3)
    assert schedule(step) == PEAK
    assert schedule(np.array([step], dtype=np.int64))[0] == PEAK
    assert schedule(np.array([step], dtype=np.uint64))[0] == PEAK


@PROPERTY_SETTINGS
@given(
    st.integers(min_value=0, max_value=10**30),
    st.integers(min_value=1, max_value=5000),
    st.integers(min_value=1, max_value=5000),
)
def test_triangular_is_within_an_ulp_of_exact_at_any_step(it: int, up: int, down: int) -> None:
    value = cyclr.Triangular(BASE, PEAK, up, down)(it)
    # The cycle position is exact; then three float64 roundings remain (pos / up, the
    # product with max_lr - base_lr, the sum with base_lr), each at most half an ulp of
    # a value no larger than the result: at most 4 ulps in all. Converting the step to a
    # float first (torch's way) is off by whole cycles past 2**53.
    error = abs(Fraction(value) - _exact(it, up, down, False))
    assert error <= 4 * Fraction(np.spacing(value))
    if it < 2**63:
        assert cyclr.Triangular(BASE, PEAK, up, down)(np.array([it], dtype=np.int64))[0] == value


@PROPERTY_SETTINGS
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=500))
def test_triangular2_is_within_a_few_ulps_of_exact(it: int, up: int) -> None:
    value = cyclr.Triangular2(BASE, PEAK, up)(it)
    # As for triangular: the halving is exact (a power of two), and the three roundings
    # of the triangle remain, at most 4 ulps in all (it=151, up=44 is 1.02 ulps off).
    assert abs(Fraction(value) - _exact(it, up, up, True)) <= 4 * Fraction(np.spacing(value))


@pytest.mark.parametrize(
    "schedule",
    [
        cyclr.Triangular(BASE, PEAK, 7),
        cyclr.Triangular2(BASE, PEAK, 3),
        cyclr.ExpRange(BASE, PEAK, 5, gamma=0.9999),
        cyclr.ExpRange(BASE, PEAK, 5, gamma=1.0),
        cyclr.OneCycle(0.1, 100),
        cyclr.Linear(0.001, 0.01, 10),
        cyclr.Constant(0.01),
        cyclr.warmup(cyclr.Triangular2(BASE, PEAK, 3), 5),
    ],
    ids=repr,
)
@pytest.mark.parametrize("step", [10**400, 2**64 + 3, 2**53 + 1], ids=str)
def test_giant_python_int_steps_give_a_value_not_an_overflow(
    schedule: cyclr.Schedule, step: int
) -> None:
    value = schedule(step)
    assert 0 < value < 1


EXACT_PARAMS = [
    cyclr.ExpRange(BASE, PEAK, 2000, gamma=0.99994),
    cyclr.ExpRange(BASE, PEAK, 7, 13, gamma=0.999),
    cyclr.ExpRange(1e-5, 0.3, 333, gamma=0.9995),
    cyclr.OneCycle(0.1, 5001),
    cyclr.OneCycle(0.1, 3000, anneal="linear", three_phase=True),
    cyclr.Triangular2(BASE, PEAK, 17, 3),
    cyclr.Triangular(BASE, PEAK, 1000, 3000),
    cyclr.OneCycle(0.1, 2000).momentum(0.85, 0.95),
    cyclr.ExpRange(BASE, PEAK, 50, gamma=0.999).momentum(0.8, 0.9),
]


@pytest.mark.parametrize("schedule", EXACT_PARAMS, ids=repr)
def test_array_path_equals_scalar_path_at_every_step(schedule: cyclr.Schedule) -> None:
    steps = np.arange(5001)
    scalar = np.array([schedule(int(i)) for i in steps])
    np.testing.assert_array_equal(schedule(steps), scalar)


@PROPERTY_SETTINGS
@given(any_schedules(), st.lists(st.integers(0, 10**9), min_size=1, max_size=40))
def test_array_equals_scalar_for_every_schedule_class(
    schedule: cyclr.Schedule, steps: list[int]
) -> None:
    array = schedule(np.array(steps, dtype=np.int64))
    np.testing.assert_array_equal(array, [schedule(i) for i in steps])


@PROPERTY_SETTINGS
@given(any_schedules(), momentum_bounds(), st.lists(st.integers(0, 10**9), min_size=1))
def test_array_equals_scalar_for_momentum(
    schedule: cyclr.Schedule, bounds: tuple[float, float], steps: list[int]
) -> None:
    momentum = schedule.momentum(*bounds)
    array = momentum(np.array(steps, dtype=np.int64))
    np.testing.assert_array_equal(array, [momentum(i) for i in steps])


@dataclasses.dataclass(frozen=True)
class _Dips(cyclr.Schedule):
    """A broken custom schedule whose LR goes negative after step 5."""

    kind: ClassVar[str] = "test_dips"

    def evaluate(self, step: Any, ops: Ops) -> Any:
        return 0.01 - step * 0.002

    def evaluate_momentum(self, step: Any, ops: Ops, base: float, high: float) -> Any:
        return step * 0.0 + high


@pytest.mark.parametrize("path", ["scalar", "array", "joined"])
def test_a_negative_lr_from_any_schedule_is_refused(path: str) -> None:
    dips = _Dips()
    pattern = r"lr must be a finite number >= 0.*lr=-0.002 at step=(6|10) from"
    with pytest.raises(ValueError, match=pattern):
        if path == "scalar":
            dips(6)
        elif path == "array":
            dips(np.arange(10))
        else:
            cyclr.join([cyclr.Constant(0.01), dips], [4])(10)
