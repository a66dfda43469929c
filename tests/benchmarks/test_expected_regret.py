"""benchmarks.suite.expected_regret: an LR scored by the cached runs near it."""

from __future__ import annotations

import math

import pytest
from benchmarks.suite.expected_regret import expected_metric, regret_units


def test_the_narrowest_window_with_six_runs_is_averaged() -> None:
    # Six runs within 0.05 decades of 0.01, and far ones that must not count.
    offsets = (-0.04, -0.02, 0.0, 0.0, 0.02, 0.04)
    near = [(math.log10(0.01) + d, float(v)) for v, d in enumerate(offsets)]
    far = [(math.log10(0.1), 100.0), (math.log10(0.001), -100.0)]
    assert expected_metric(near + far, 0.01) == pytest.approx(2.5)
    # With only three near runs the window widens until six are in (to 0.25 decades).
    sparse = near[:3] + [(math.log10(0.01) + 0.2, 9.0)] * 3
    assert expected_metric(sparse, 0.01) == pytest.approx((0 + 1 + 2 + 27) / 6)
    assert math.isnan(expected_metric([], 0.01))


def test_regret_is_in_target_units() -> None:
    assert regret_units("digits-mlp-sgd", 97.0, 95.5) == pytest.approx(1.5)  # points
    assert regret_units("fortunes-transformer-adamw", 2.0, 2.06) == pytest.approx(1.0)  # 3%
    assert regret_units("diabetes-mlp-adam", 0.5, 0.55) == pytest.approx(2.0)  # 5% of MSE
