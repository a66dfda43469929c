"""benchmarks.suite.schedule_ceiling: schedules at peaks set from the best fixed LR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.suite.data import DataUnavailableError
from benchmarks.suite.schedule_ceiling import (
    CEILING_TASKS,
    Cell,
    Results,
    cell,
    figures,
    loto_fast,
    loto_onecycle,
    main,
    measure,
    peak_of,
    per_config,
    table,
)
from benchmarks.suite.store import Store
from benchmarks.suite.tasks import TASKS
from benchmarks.suite.train import RunResult

TASK = TASKS["digits-mlp-sgd"]
SUMMARY = {"lr": 0.01, "metric": 95.0, "sd": 0.2, "steps_to_final": 400}


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
    c = cell(TASK, SUMMARY, runs)
    assert c.regret == pytest.approx(-0.4)  # 0.4 points better
    assert not c.below
    assert c.ratio == pytest.approx(0.5) and c.fast  # 95.0 at step 200 of the oracle's 400
    slow = cell(TASK, SUMMARY, [_run(93.0, [(200, 90.0), (400, 93.0)])])
    assert slow.below and slow.ratio is None and not slow.fast
    assert slow.regret == pytest.approx(2.0)


def test_a_loss_task_counts_a_higher_loss_as_regret_in_percent_units() -> None:
    task = TASKS["fortunes-transformer-adamw"]  # a test loss: 1 unit = 3%
    summary = {"lr": 0.01, "metric": 2.0, "sd": 0.01, "steps_to_final": 100}
    worse = cell(task, summary, [_run(2.12, [(50, 2.5), (100, 2.12)])])
    assert worse.regret == pytest.approx(2.0) and worse.below and worse.ratio is None
    better = cell(task, summary, [_run(1.9, [(50, 2.0), (100, 1.9)])])
    assert better.regret == pytest.approx(-5.0 / 3.0) and better.ratio == pytest.approx(0.5)


def _cells(fast: set[tuple[str, float]], below: set[float]) -> dict[tuple[str, float], Cell]:
    return {
        (k, o): Cell(
            regret=1.5 if (k == "onecycle" and o in below) else 0.0,
            below=k == "onecycle" and o in below,
            ratio=0.4 if (k, o) in fast else 0.9,
        )
        for k in ("onecycle", "triangular2")
        for o in (0.0, 0.5)
    }


def test_leave_one_task_out_never_uses_the_task_s_own_cells() -> None:
    tri, one = ("triangular2", 0.5), ("onecycle", 0.0)
    results: Results = {
        "a": _cells({one}, set()),
        "b": _cells({one}, set()),
        "c": _cells({tri}, set()),
        "d": _cells({tri}, set()),
    }
    # Each task's own cells would tie the count (2 and 2, broken to `one`); without them
    # the others' majority wins, which is never the task's own fast setting.
    assert loto_fast(results) == {"a": tri, "b": tri, "c": one, "d": one}
    assert figures(results)[3].endswith("| 0/4: - (most chosen: triangular2 at x10^+0.5) |")


def test_a_task_s_other_budget_is_left_out_with_it() -> None:
    tri, one = ("triangular2", 0.5), ("onecycle", 0.0)
    results: Results = {
        "x": _cells({one}, set()),
        "x-long": _cells({one}, set()),
        "y": _cells({tri}, set()),
    }
    # x-long would tie `one` with `tri` for x (and the tie goes to `one`): it is not consulted
    assert loto_fast(results) == {"x": tri, "x-long": tri, "y": one}


def test_one_cycle_s_offset_is_chosen_on_the_other_tasks() -> None:
    results: Results = {
        "a": _cells(set(), {0.5}),
        "b": _cells(set(), {0.5}),
        "c": _cells(set(), {0.0}),
    }
    # c's offset is chosen on a and b (below at 0.5): 0.0, where c is below
    assert loto_onecycle(results) == {"a": 0.0, "b": 0.0, "c": 0.0}
    lines = figures(results)
    assert "| one-cycle below the fixed LR beyond noise | 0/3: - |" in lines[2]
    assert lines[2].endswith("| 1/3: c (offset chosen: +0) |")


def test_an_empty_cache_reports_dashes_not_a_crash(tmp_path: Path) -> None:
    task = CEILING_TASKS["diabetes-mlp-adam"]
    grids = {task.name: {"summary": {**SUMMARY, "lr": 0.001}}}
    results = measure(Store(tmp_path), [task], grids, read_only=True)
    assert results == {task.name: {}}
    text = table(results, grids)
    assert "| diabetes-mlp-adam | 0.001 (400 / 300) | x10^+0 | - | - | - | - |" in text
    assert "| one-cycle below the fixed LR beyond noise | 0/0: - | - |" in text
    assert per_config(results)[2:] == []


def _grid_file(tmp_path: Path, name: str, fingerprint: str) -> Path:
    path = tmp_path / "grids.json"
    path.write_text(json.dumps({name: {"fingerprint": fingerprint, "summary": SUMMARY}}))
    return path


def test_the_command_reports_from_a_grid_file_and_refuses_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "friedman3-bnmlp-adamw"
    grids = _grid_file(tmp_path, name, CEILING_TASKS[name].fingerprint())
    out = tmp_path / "ceiling.md"
    common = ["--tasks", name, "--read-only", "--cache-dir", str(tmp_path / "cache")]
    assert main([*common, "--oracle-file", str(grids), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# The schedules' ceiling")
    assert "--read-only" in text.splitlines()[2] and "read from the cache" in text
    stale = _grid_file(tmp_path, name, "not-this-task")
    assert main([*common, "--oracle-file", str(stale)]) == 2
    err = capsys.readouterr().err
    assert f"skipped {name}" in err and "nothing to report" in err


def test_tasks_without_their_data_are_skipped_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "friedman3-bnmlp-adamw"
    task = CEILING_TASKS[name]

    def missing(self: object) -> None:
        raise DataUnavailableError("no friedman3 here")

    monkeypatch.setattr(type(task), "split", missing)
    grids = _grid_file(tmp_path, name, task.fingerprint())
    args = ["--tasks", name, "--cache-dir", str(tmp_path / "cache"), "--oracle-file", str(grids)]
    assert main(args) == 2  # nothing trained, nothing to report
    err = capsys.readouterr().err
    assert f"skipping {name}: no friedman3 here" in err and "every task was skipped" in err
