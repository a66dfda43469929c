"""Long runs: one-cycle past its end, triangular2 after thousands of cycles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cyclr import OneCycle, Triangular2

FAR = [0, 1, 2, 10, 999, 10**4, 10**6, 10**9]

ONECYCLES = {
    f"{anneal}-{phases}phase": OneCycle(
        max_lr=0.1, total_steps=1000, anneal=anneal, three_phase=phases == 3
    )
    for anneal in ("cos", "linear")
    for phases in (2, 3)
}


@pytest.mark.parametrize("name", list(ONECYCLES))
def test_onecycle_holds_final_lr_past_the_end(name: str) -> None:
    schedule = ONECYCLES[name]
    last = schedule.total_steps - 1
    final = schedule(last)
    # torch's linear form (end - start) * pct + start rounds at the scale of max_lr.
    assert math.isclose(final, schedule.final_lr, rel_tol=0, abs_tol=1e-15 * schedule.max_lr)
    assert final > 0
    for extra in FAR:
        assert schedule(last + extra) == final
    past = np.array([last + extra for extra in FAR], dtype=np.int64)
    np.testing.assert_array_equal(schedule(past), np.full(len(FAR), final))


@pytest.mark.parametrize("name", list(ONECYCLES))
def test_onecycle_never_negative_never_rebounds(name: str) -> None:
    schedule = ONECYCLES[name]
    steps = np.arange(0, 3 * schedule.total_steps)
    values = schedule(steps)
    assert (values > 0).all()
    # From the last peak on, the LR only falls (to rounding) and then holds.
    tol = 4 * np.finfo(np.float64).eps * schedule.max_lr
    peak = int(np.argmax(values))
    assert np.all(np.diff(values[peak:]) <= tol)
    assert values[-1] == values[schedule.total_steps - 1]


def test_onecycle_momentum_holds_past_the_end() -> None:
    momentum = OneCycle(0.1, 500).momentum(0.85, 0.95)
    assert momentum(499) == 0.95
    assert momentum(10**9) == 0.95
    assert momentum(np.array([10**9]))[0] == 0.95


SCHEDULE = Triangular2(0.001, 0.006, step_size_up=2000)
CYCLE = 4000


def _peak(cycle: int) -> int:
    """The step of the peak of ``cycle`` (counted from 1)."""
    return (cycle - 1) * CYCLE + 2000


def test_triangular2_amplitude_halves_exactly_while_representable() -> None:
    for cycle in range(1, 60):
        amplitude = SCHEDULE(_peak(cycle)) - 0.001
        assert math.isclose(amplitude, 0.005 * 2.0 ** (1 - cycle), rel_tol=1e-9, abs_tol=1e-18)


def test_triangular2_goes_smoothly_to_base_lr_without_overflow() -> None:
    # torch's CyclicLR raises OverflowError from 1 / 2 ** (cycle - 1) past 1024 cycles.
    cycles = np.arange(1, 2101)
    peaks = cycles * CYCLE - 2000
    values = SCHEDULE(peaks)
    amplitudes = values - 0.001
    assert (amplitudes >= 0).all()
    assert np.all(np.diff(amplitudes) <= 0)
    assert values[1999] == 0.001  # cycle 2000
    assert [SCHEDULE(int(p)) for p in peaks[1015:1035]] == list(values[1015:1035])
    for step in (_peak(1024), _peak(1025), _peak(2000), 10**12, 10**12 + 2000):
        assert SCHEDULE(step) == 0.001
    far = np.array([10**12, 10**12 + 1, 10**15], dtype=np.int64)
    np.testing.assert_array_equal(SCHEDULE(far), np.full(3, 0.001))


def test_triangular2_momentum_after_many_cycles() -> None:
    momentum = SCHEDULE.momentum(0.85, 0.95)
    assert momentum(10**12) == 0.95
    assert momentum(_peak(2000)) == 0.95
