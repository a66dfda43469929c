"""Plots: axes returned, every suggestion and the bounds marked; matplotlib loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from rangetest_curves import drive, falling, from_values

from cyclr import OneCycle, Triangular
from cyclr.plot import plot_result, plot_schedule
from cyclr.rangetest import METHODS, RangeTestResult


def test_result_plot_marks_every_suggestion_and_the_bounds() -> None:
    result = drive(falling(), sigma=0.05)
    ax = result.plot()
    assert isinstance(ax, Axes)
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert {"loss", "smoothed (EMA)", "fit (read by rules)"} <= set(labels)
    for method, suggestion in result.suggestions().items():
        marker = [line for line in ax.get_lines() if line.get_label().startswith(f"{method}:")]
        assert len(marker) == 1, method
        assert marker[0].get_xdata()[0] == suggestion.lr
        assert marker[0].get_marker() not in ("None", "", None)
    assert len(result.suggestions()) == len(METHODS)
    base, peak = result.clr_bounds()
    spans = [p for p in ax.patches if p.get_label().startswith("CLR:")]
    assert len(spans) == 1
    extent = spans[0].get_window_extent()  # display coordinates of the band
    left, right = ax.transData.inverted().transform([[extent.x0, 0], [extent.x1, 0]])[:, 0]
    assert np.isclose(left, base, rtol=1e-6) and np.isclose(right, peak, rtol=1e-6)
    legend = ax.get_legend()
    assert legend is not None and len(legend.get_texts()) >= 3 + len(METHODS) + 1


def test_a_confirmed_result_plot_marks_the_confirmed_lr_and_its_bounds() -> None:
    import dataclasses

    from cyclr.rangetest.confirm import Confirmation

    plain = drive(falling(), sigma=0.05)
    lr = plain.suggest().lr
    confirmation = Confirmation(lr * 2, lr, (lr, lr * 2), (0.5, 0.4), 40, 80)
    ax = dataclasses.replace(plain, confirmation=confirmation).plot()
    marks = [line for line in ax.get_lines() if line.get_label().startswith("confirmed:")]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == lr * 2
    spans = [p.get_label() for p in ax.patches if p.get_label().startswith("CLR:")]
    assert spans == [f"CLR: {lr / 2:.2g} to {lr * 2:.2g} (confirmed)"]


def test_result_plot_draws_on_the_given_axes_and_adds_the_metric() -> None:
    base = drive(falling(), sigma=0.02)
    metrics = np.where(np.arange(base.num_recorded) % 4 == 0, 0.5, np.nan)
    result = RangeTestResult(base.lrs, base.losses, base.smoothed, metrics, None, {}, None)
    ax = Figure().subplots()
    assert plot_result(result, ax=ax) is ax
    twins = [other for other in ax.figure.axes if other is not ax]
    assert len(twins) == 1 and twins[0].get_ylabel() == "metric"
    assert twins[0].get_lines()[0].get_xdata().size == int(np.isfinite(metrics).sum())


def test_a_curve_without_evidence_says_why_on_the_plot() -> None:
    ax = from_values([1.0] * 40).plot()
    texts = [t.get_text() for t in ax.texts]
    assert any("no reliable suggestion" in t and "flat" in t for t in texts)
    assert not [line for line in ax.get_lines() if ":" in str(line.get_label())]


def test_schedule_plot_shows_lr_against_step() -> None:
    schedule = Triangular(0.001, 0.006, step_size_up=50)
    ax = plot_schedule(schedule, 200)
    (line,) = ax.get_lines()
    assert line.get_xdata().tolist() == list(range(200))
    assert np.array_equal(line.get_ydata(), schedule(np.arange(200)))
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"


def test_schedule_plot_with_momentum_adds_a_momentum_axis() -> None:
    schedule = OneCycle(max_lr=0.1, total_steps=100)
    momentum = schedule.momentum(0.85, 0.95)
    steps = np.arange(0, 100, 3)
    ax = plot_schedule(momentum, steps, ax=Figure().subplots())
    (twin,) = [other for other in ax.figure.axes if other is not ax]
    assert np.array_equal(ax.get_lines()[0].get_ydata(), schedule(steps))
    assert np.array_equal(twin.get_lines()[0].get_ydata(), momentum(steps))
    assert twin.get_ylabel() == "momentum"


@pytest.mark.parametrize(
    ("schedule", "steps", "error"),
    [
        ("triangular", 10, TypeError),
        (Triangular(0.1, 1.0, 5), 0, ValueError),
        (Triangular(0.1, 1.0, 5), [0.5, 1.5], TypeError),
        (Triangular(0.1, 1.0, 5), np.zeros((2, 2), dtype=int), TypeError),
    ],
)
def test_schedule_plot_validates(schedule: object, steps: object, error: type) -> None:
    with pytest.raises(error):
        plot_schedule(schedule, steps)  # type: ignore[arg-type]


def test_core_imports_leave_matplotlib_out() -> None:
    code = (
        "import sys, cyclr, cyclr.rangetest, cyclr.plot\n"
        "from cyclr.rangetest import RangeTest\n"
        "rt = RangeTest(1e-4, 1.0, 20)\n"
        "rt.record_many([1.0] * 20)\n"
        "rt.result().suggestions()\n"
        "print(','.join(m for m in ('matplotlib', 'torch', 'tqdm') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
