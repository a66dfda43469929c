"""benchmarks.suite.schedule_ceiling: schedules at peaks set from the best fixed LR."""

from __future__ import annotations

import pytest
from benchmarks.suite.schedule_ceiling import (
    Cell,
    cell,
    loto_fast,
    loto_onecycle,
    peak_of,
    summary,
)
from benchmarks.suite.tasks import TASKS
from benchmarks.suite.train import RunResult

TASK = TASKS["digits-mlp-sgd"]
ORACLE = {"lr": 0.01, "metric": 95.0, "sd": 0.2, "steps_to_final": 400}


def _run(final: float, curve: list[tuple[int, float]]) -> RunResult:
    return RunResult(final=final, curve=curve, diverged=False, wall_s=0.0)


def test_peaks_are_rounded_offsets_from_the_oracle() -> None:
    assert peak_of(0.01, 0.5) == 0.03162
    assert peak_of(0.01, -0.5) == 0.003162
    assert peak_of(0.00316, 1.0) == 0.0316


def test_a_cell_scores_the_mean_curve_as_the_clr_report_does() -> None:
    runs = [
        _run(95.5, [(100, 90.0), (200, 95.0), (400, 95.5)]),
        _run(95.3, [(100, 91.0), (200, 95.4), (400, 95.3)]),
    ]
    c = cell(TASK, ORACLE, runs, "onecycle")
    assert c.regret == pytest.approx(-0.4)  # 0.4 points better
    assert not c.below
    assert c.ratio == pytest.approx(0.5)  # the mean curve reaches 95.0 at step 200 of 400
    slow = cell(TASK, ORACLE, [_run(93.0, [(200, 90.0), (400, 93.0)])], "onecycle")
    assert slow.below and slow.ratio is None and slow.regret == pytest.approx(2.0)


def _grid(fast: set[tuple[str, float]], below: set[float]) -> dict[tuple[str, float], Cell]:
    kinds = ("onecycle", "triangular2")
    return {
        (k, o): Cell(
            regret=1.5 if (k == "onecycle" and o in below) else 0.0,
            below=k == "onecycle" and o in below,
            ratio=0.4 if (k, o) in fast else 0.9,
        )
        for k in kinds
        for o in (0.0, 0.5)
    }


def test_leave_one_task_out_chooses_on_the_other_tasks() -> None:
    results = {
        "a": _grid({("triangular2", 0.5)}, {0.5}),
        "b": _grid({("triangular2", 0.5)}, {0.5}),
        "c": _grid({("onecycle", 0.0)}, {0.0}),
    }
    fast = loto_fast(results)
    # a: one fast task each for (triangular2, 0.5) and (onecycle, 0.0) among b and c; the
    # tie goes to the lower median regret (onecycle at 0.0 is below on c)
    assert fast == {"a": ("triangular2", 0.5), "b": ("triangular2", 0.5), "c": ("triangular2", 0.5)}
    # c's one-cycle offset is chosen on a and b (below at 0.5): 0.0, where c is below
    assert loto_onecycle(results) == {"a": 0.0, "b": 0.0, "c": 0.0}
    lines = summary(results)
    # hindsight: every task has a fast config; a and b have a one-cycle peak not below
    assert "| 3/3: a, b, c |" in lines[3]
    assert "| one-cycle below the fixed LR beyond noise | 0/3: - |" in lines[2]
    assert lines[2].endswith("| 1/3: c (offset chosen: +0) |")
    assert lines[3].endswith("| 2/3: a, b (most chosen: triangular2 at x10^+0.5) |")
