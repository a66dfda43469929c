"""Golden values from METHOD.md section 1, on the scalar and the vectorized path."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from cyclr import Cyclic, ExpRange, Schedule, Triangular, Triangular2

RTOL = 1e-15

BASE, PEAK, STEP_SIZE, GAMMA = 0.001, 0.006, 2000, 0.99994

# it: (triangular, triangular2, exp_range), torch 2.13 CyclicLR in float64.
GOLDEN = {
    0: (0.001, 0.001, 0.001),
    1000: (0.0035, 0.0035, 0.00335440709585463),
    2000: (0.006, 0.006, 0.0054345862184085065),
    3000: (0.0035, 0.0035, 0.0030881642519600275),
    4000: (0.001, 0.001, 0.001),
    5000: (0.0035, 0.00225, 0.002852028882703049),
    6000: (0.006, 0.0035, 0.004488343954531024),
    10000: (0.006, 0.00225, 0.0037440087858930434),
}

SCHEDULES: dict[str, Schedule] = {
    "triangular": Triangular(BASE, PEAK, STEP_SIZE),
    "triangular2": Triangular2(BASE, PEAK, STEP_SIZE),
    "exp_range": ExpRange(BASE, PEAK, STEP_SIZE, gamma=GAMMA),
}


def _assert_close(actual: float, expected: float) -> None:
    assert abs(actual - expected) <= RTOL * abs(expected), (actual, expected)


@pytest.mark.parametrize("column, kind", list(enumerate(SCHEDULES)), ids=list(SCHEDULES))
def test_golden_scalar(column: int, kind: str) -> None:
    schedule = SCHEDULES[kind]
    for it, row in GOLDEN.items():
        value = schedule(it)
        assert type(value) is float
        _assert_close(value, row[column])


@pytest.mark.parametrize("column, kind", list(enumerate(SCHEDULES)), ids=list(SCHEDULES))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint32], ids=str)
def test_golden_vectorized(column: int, kind: str, dtype: type) -> None:
    steps = np.array(list(GOLDEN), dtype=dtype)
    values = SCHEDULES[kind](steps)
    assert values.dtype == np.float64
    assert values.shape == steps.shape
    expected = np.array([row[column] for row in GOLDEN.values()])
    np.testing.assert_allclose(values, expected, rtol=RTOL, atol=0)


def test_golden_vectorized_keeps_shape() -> None:
    steps = np.array(list(GOLDEN)).reshape(2, 4)
    values = SCHEDULES["triangular2"](steps)
    assert values.shape == (2, 4)
    expected = np.array([row[1] for row in GOLDEN.values()]).reshape(2, 4)
    np.testing.assert_allclose(values, expected, rtol=RTOL, atol=0)


def _exact_asymmetric(it: int, up: int = 1000, down: int = 3000) -> float:
    """The triangular formula in exact rational arithmetic."""
    total = up + down
    position = Fraction(it % total)
    s = position / up if position <= up else (total - position) / down
    return float(Fraction(BASE) + (Fraction(PEAK) - Fraction(BASE)) * s)


ASYMMETRIC = {
    0: 0.001,
    500: 0.0035,
    1000: 0.006,
    2000: 0.004333333333333333,
    4000: 0.001,
    5000: 0.006,
}


@pytest.mark.parametrize("it, expected", list(ASYMMETRIC.items()), ids=[str(i) for i in ASYMMETRIC])
def test_asymmetric_golden(it: int, expected: float) -> None:
    schedule = Triangular(BASE, PEAK, step_size_up=1000, step_size_down=3000)
    _assert_close(schedule(it), expected)
    _assert_close(schedule(it), _exact_asymmetric(it))
    _assert_close(float(schedule(np.array([it]))[0]), expected)


def test_asymmetric_matches_exact_rationals_everywhere() -> None:
    # torch's formula rounds the cycle position ``1 + it / total - cycle`` near 1, so off the
    # golden steps it agrees with exact arithmetic to a few ulps of the amplitude.
    schedule = Triangular(BASE, PEAK, step_size_up=1000, step_size_down=3000)
    steps = np.arange(0, 12001, 7)
    expected = np.array([_exact_asymmetric(int(i)) for i in steps])
    atol = 16 * np.finfo(np.float64).eps * (PEAK - BASE)
    np.testing.assert_allclose(schedule(steps), expected, rtol=0, atol=atol)
    np.testing.assert_allclose([schedule(int(i)) for i in steps], expected, rtol=0, atol=atol)


def test_cyclic_with_named_scale_fns_equals_the_dedicated_classes() -> None:
    steps = np.arange(0, 20001, 250)
    tri = Cyclic(BASE, PEAK, STEP_SIZE, scale_fn="triangular")
    tri2 = Cyclic(BASE, PEAK, STEP_SIZE, scale_fn="triangular2", scale_mode="cycle")
    np.testing.assert_array_equal(tri(steps), SCHEDULES["triangular"](steps))
    np.testing.assert_array_equal(tri2(steps), SCHEDULES["triangular2"](steps))


def test_scalar_accepts_numpy_integers() -> None:
    schedule = SCHEDULES["triangular2"]
    assert schedule(np.int64(6000)) == schedule(6000)
    assert type(schedule(np.int32(6000))) is float


def test_empty_array_gives_empty_result() -> None:
    values = SCHEDULES["exp_range"](np.array([], dtype=np.int64))
    assert values.shape == (0,)
    assert values.dtype == np.float64
