"""``cyclr demo --quick`` writes every figure and file, valid and finite."""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclr import Triangular2
from cyclr.cli import main
from cyclr.demo import DemoConfig, load_mnist1d, load_task
from cyclr.demo.train import FINAL_EVALS
from cyclr.rangetest import RangeTestResult

FILES = ("range_test.png", "schedules.png", "accuracy.png", "range_test.json", "summary.json")


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    out = tmp_path_factory.mktemp("demo")
    started = time.process_time()  # this process's CPU time: immune to other jobs' load
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["demo", "--quick", "--out", str(out), "--threads", "1", "--no-progress"])
    assert status == 0
    return out, buffer.getvalue(), time.process_time() - started


def _finite_numbers(value: object) -> list[float]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _finite_numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _finite_numbers(v)]
    raise AssertionError(f"unexpected JSON value {value!r}")


def test_quick_demo_is_quick(quick_demo: tuple[Path, str, float]) -> None:
    assert quick_demo[2] < 20.0


def test_every_file_is_written(quick_demo: tuple[Path, str, float]) -> None:
    out, stdout, _ = quick_demo
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert f"wrote {len(FILES)} files into {out}" in stdout


@pytest.mark.parametrize("name", [f for f in FILES if f.endswith(".png")])
def test_figures_decode(name: str, quick_demo: tuple[Path, str, float]) -> None:
    with Image.open(quick_demo[0] / name) as image:
        image.load()
        assert image.format == "PNG"
        assert image.width >= 600 and image.height >= 400


def test_range_test_json_round_trips_and_reads(quick_demo: tuple[Path, str, float]) -> None:
    out, stdout, _ = quick_demo
    result = RangeTestResult.from_json(out / "range_test.json")
    summary = json.loads((out / "summary.json").read_text())
    base_lr, max_lr = result.clr_bounds()
    assert summary["bounds"] == {"base_lr": base_lr, "max_lr": max_lr}
    assert summary["suggestion"]["lr"] == result.suggest(summary["suggestion"]["method"]).lr
    assert f"cyclr suggest {out / 'range_test.json'}" in stdout


def test_summary_is_finite_and_consistent(quick_demo: tuple[Path, str, float]) -> None:
    out, stdout, _ = quick_demo
    summary = json.loads((out / "summary.json").read_text())
    assert all(math.isfinite(x) for x in _finite_numbers(summary))
    runs = {run["name"]: run for run in summary["runs"]}
    assert list(runs) == ["fixed", "triangular2", "onecycle"]
    total = summary["total_steps"]
    assert total == summary["steps_per_epoch"] * summary["epochs"]
    for run in runs.values():
        assert run["eval_steps"][-1] == total  # equal step budgets
        assert 0.0 <= run["final_accuracy"] <= 1.0
        assert run["final_accuracy"] == pytest.approx(np.mean(run["accuracy"][-FINAL_EVALS:]))
        assert run["label"] in stdout
    fixed = runs["fixed"]
    assert summary["target_accuracy"] == fixed["final_accuracy"]
    assert fixed["speedup"] == 1.0
    assert fixed["steps_to_target"] <= total
    # triangular2 stops at the end of a cycle, back at base_lr
    tri2 = runs["triangular2"]["schedule"]
    assert total % (tri2["step_size_up"] + tri2["step_size_down"]) == 0
    assert (
        Triangular2(tri2["base_lr"], tri2["max_lr"], tri2["step_size_up"])(total) == tri2["base_lr"]
    )
    assert runs["onecycle"]["schedule"]["total_steps"] == total
    for run in runs.values():
        reached = run["steps_to_target"]
        if reached is not None:
            index = run["eval_steps"].index(reached)
            assert run["accuracy"][index] >= summary["target_accuracy"]
            assert all(a < summary["target_accuracy"] for a in run["accuracy"][:index])


def test_report_table_lists_the_three_runs(quick_demo: tuple[Path, str, float]) -> None:
    stdout = quick_demo[1]
    table = stdout.split("results:", 1)[1]
    for label in ("fixed LR", "triangular2", "one-cycle"):
        assert label in table
    assert "speed-up" in table and "81.4%" in table


def test_mnist1d_generation_leaves_global_random_state_alone() -> None:
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    task = load_mnist1d(num_samples=200)
    assert (np.random.random(), random.random()) == expected
    assert task.x_train.dtype == np.float32 and task.y_train.dtype == np.int64
    assert abs(float(task.x_train.mean())) < 0.1  # standardized with training statistics


def test_load_task_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="task must be one of 'mnist1d', 'digits'"):
        load_task("cifar10")


def test_config_refuses_num_samples_for_digits() -> None:
    with pytest.raises(ValueError, match="num_samples applies only to task='mnist1d'"):
        DemoConfig(task="digits", num_samples=100)


def test_config_refuses_a_confirm_that_is_not_a_bool() -> None:
    with pytest.raises(TypeError, match=r"confirm must be a bool \(got confirm='yes'\)"):
        DemoConfig(confirm="yes")  # type: ignore[arg-type]


def test_confirm_runs_the_range_test_at_its_default(tmp_path: Path) -> None:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        args = ["demo", "--quick", "--confirm", "--out", str(tmp_path), "--no-progress"]
        status = main(args)
    assert status == 0
    stdout = buffer.getvalue()
    assert "confirmed on batches held aside (held_out='auto')" in stdout
    result = RangeTestResult.from_json(tmp_path / "range_test.json")
    assert result.confirmation is not None
    assert result.settings["held_out"].startswith("auto: the first")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["confirm"] is True
    assert summary["suggestion"]["method"] == "confirmed"


def test_without_confirm_the_demo_reads_the_curve_alone(
    quick_demo: tuple[Path, str, float],
) -> None:
    out, stdout, _ = quick_demo
    assert "read from the curve alone as in the paper (held_out=None)" in stdout
    result = RangeTestResult.from_json(out / "range_test.json")
    assert result.confirmation is None and "held_out" not in result.settings
