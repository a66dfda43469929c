"""benchmarks.suite.noise_floor: the regret an LR's own scatter leaves, per task."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from benchmarks.suite.noise_floor import (
    TaskCurve,
    best_aim,
    floor,
    local_means,
    main,
    regret_curve,
    table,
)
from benchmarks.suite.replicate_noise import spread_chances
from benchmarks.suite.run import lr_key
from benchmarks.suite.store import Store
from benchmarks.suite.tasks import TASKS


def test_the_floor_of_a_v_is_the_mean_absolute_scatter() -> None:
    def v(x: np.ndarray) -> np.ndarray:
        return np.abs(x)

    # E|sigma Z| = sigma sqrt(2 / pi)
    assert floor(v, 0.0, 0.15) == pytest.approx(0.15 * math.sqrt(2.0 / math.pi), rel=1e-3)
    assert floor(v, 0.0, 0.0) == 0.0


def test_the_best_aim_leans_away_from_the_cliff() -> None:
    def cliff(x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, 20.0 * x, -x)  # 20 times steeper above the best

    aim, value = best_aim(cliff, 0.0, 0.15)
    assert aim < -0.05
    assert value < floor(cliff, 0.0, 0.15)


def test_the_spread_rows_are_replicate_noise_s_simulation() -> None:
    def flat(x: np.ndarray) -> np.ndarray:
        return np.zeros_like(x)

    text = table({"a": TaskCurve(flat, 0.01, 6), "b": TaskCurve(flat, 0.1, 6)})
    rng = np.random.default_rng(0)
    for sigma in (0.075, 0.15, 0.3):
        _, over = spread_chances(sigma, 3, rng)
        assert f"| {sigma:g} | {over:.1%} | {(1.0 - over) ** 2:.1%} |" in text
    assert "| 0.15 | 33." in text  # P(range of 3 normals > log10(2) / 0.15) = 0.331


def test_the_curve_joins_the_grid_and_the_local_points() -> None:
    summary = {"grid": {"0.001": 90.0, "0.01": 95.0, "0.1": 80.0}, "metric": 95.0}
    curve = regret_curve("digits-mlp-sgd", summary, {0.02: 94.0})  # 1 point at 0.3 decades up
    x = np.log10([0.01, 0.02, 0.1])
    assert curve(x) == pytest.approx([0.0, 1.0, 15.0])
    between = 1.0 + 14.0 * math.log10(0.0316 / 0.02) / math.log10(5.0)  # linear in log LR
    assert curve(np.array([math.log10(0.0316)]))[0] == pytest.approx(between)


def test_the_table_counts_tasks_over_one_unit() -> None:
    def flat(x: np.ndarray) -> np.ndarray:
        return np.zeros_like(x)

    def steep(x: np.ndarray) -> np.ndarray:
        return 10.0 * np.abs(x + 1.0)  # best at 0.1

    text = table({"a": TaskCurve(flat, 0.01, 6), "b": TaskCurve(steep, 0.1, 4)})
    assert "| **tasks over 1** | | | | 0 | 1 | 1 | | 1 |" in text
    assert (
        "| a | 0.01 | 6/6 | 0.00 / 0.00, 0.00 / 0.00 | 0.00 | 0.00 | 0.00 | +0.00 | 0.00 |" in text
    )
    assert "| b | 0.1 | 4/6 | 3.00 / 1.00, 1.00 / 3.00 |" in text


def test_only_points_with_every_seed_cached_count(tmp_path: Path) -> None:
    task = TASKS["diabetes-mlp-adam"]
    store = Store(tmp_path)
    for seed, final in enumerate((0.5, 0.6, 0.7)):  # 0.1 decades above 0.001: all seeds
        store.put(task, "train", lr_key(0.001259, seed), {**_record(final)})
    store.put(task, "train", lr_key(0.001585, 0), _record(9.0))  # 0.2 above: one seed only
    assert local_means(store, task, 0.001, read_only=True) == {0.001259: pytest.approx(0.6)}


def _record(final: float) -> dict[str, object]:
    return {"final": final, "curve": [], "diverged": False, "wall_s": 0.0, "curve_kind": "final"}


def test_the_command_reads_a_grid_file_and_names_bad_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "diabetes-mlp-adam"
    grids = tmp_path / "grids.json"
    summary = {"lr": 0.001, "metric": 0.5, "grid": {"0.0001": 0.6, "0.001": 0.5, "0.01": 0.55}}
    grids.write_text(
        json.dumps({name: {"fingerprint": TASKS[name].fingerprint(), "summary": summary}})
    )
    out = tmp_path / "floor.md"
    common = ["--read-only", "--cache-dir", str(tmp_path), "--oracle-file", str(grids)]
    assert main(["--tasks", name, *common, "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# The regret today's noise leaves an aim at the best LR")
    assert "| diabetes-mlp-adam | 0.001 | 0/6 |" in text  # the grid alone: nothing trained
    assert main(["--tasks", "digits-mlp-sgd", *common]) == 2  # no grid for it in the file
    assert "skipped digits-mlp-sgd" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--tasks", "no-such-task"])
    assert "unknown task(s) ['no-such-task']" in capsys.readouterr().err
