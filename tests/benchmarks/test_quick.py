"""The benchmark suite's ``--quick`` path runs end to end, so the benchmark code cannot rot.

One task (sklearn digits), one seed, a 60-step budget, cyclr only: no peers, no apt data,
no network. Calls the same ``main`` as ``python -m benchmarks --quick``, in process.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` lives at the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks.suite.cli import main  # noqa: E402


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["--quick", "--threads", "1", *args]) == 0
    return capsys.readouterr().err


def _row(report: str, first_cell: str) -> list[str]:
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starting with {first_cell!r} in:\n{report}")


@pytest.mark.slow
@pytest.mark.timeout(120)
def _clr_rows(clr: str) -> dict[tuple[str, str], list[str]]:
    """The CLR table's digits-mlp-sgd rows, by (bounds rule, schedule)."""
    rows = {}
    for line in clr.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "digits-mlp-sgd":
            rows[(cells[1], cells[5])] = cells
    return rows


def test_quick_suite_runs_and_resumes_from_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    out = tmp_path / "suite.md"
    log = _run(capsys, "--cache-dir", str(cache), "--out", str(out))
    assert "cyclr seed=0" in log
    report = out.read_text()

    # The oracle grid found an interior best LR on the quick task.
    oracle = _row(report, "digits-mlp-sgd")
    assert "(edge)" not in oracle[8]
    assert 0 < float(oracle[8]) < 1

    # cyclr's default suggestion was made, trained at, and scored against the oracle.
    section = report.split("### digits-mlp-sgd", 1)[1]
    default = _row(section, "cyclr-default")
    lr, regret = float(default[1]), float(default[4])
    assert 1e-5 < lr < 10
    assert math.isfinite(regret) and -100 < regret < 100
    assert default[6] == "0/1"  # no failure: a suggestion, and its run did not diverge

    # Both CLR schedules ran between clr_bounds() of both rules, over the oracle's budget
    # and over half of it; one-cycle beats chance at least.
    clr = report.split("## CLR claim", 1)[1]
    rows = _clr_rows(clr)
    kinds = ("triangular2", "exp_range", "onecycle")
    assert set(rows) == {
        (r, k + h) for r in ("smith", "bottom") for k in kinds for h in ("", "-half")
    }
    # 60 steps are under one epoch: every cyclical kind is one cycle over the run.
    assert {rows[("smith", k)][6] for k in kinds} == {"1"}
    assert float(rows[("smith", "onecycle")][7].split()[0]) > 20.0
    assert re.search(r"\| smith \| \d+/1: ", clr)  # the two figures of the claim

    # Loss shift never moves cyclr's suggestion.
    shift_row = _row(report.split("## Loss scale and shift", 1)[1], "digits-mlp-sgd")
    assert shift_row[3] == "1.00"

    # Every unit of work is cached as JSON...
    records = list(cache.rglob("*.json"))
    assert any("/finder/" in str(p) for p in records)
    assert all(isinstance(json.loads(p.read_text()), dict) for p in records)

    # ...so a read-only rerun recomputes nothing and reports the same numbers.
    again = _run(capsys, "--cache-dir", str(cache), "--out", str(out), "--report-only")
    assert "seed=0" not in again  # no training or range-test log lines

    def scores(text: str) -> str:  # everything but wall times
        return text.split("## Targets", 1)[1].split("## Cost", 1)[0]

    assert scores(out.read_text()) == scores(report)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_quick_suite_scores_the_one_call_confirmation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The cyclr-confirm family: range_test(..., held_out=...) on the validation split,
    # scored like any method and checked under loss scale and shift.
    out = tmp_path / "suite.md"
    phases = "oracle,finders,suggest,invariance"
    args = ("--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--phases", phases)
    log = _run(capsys, "--families", "cyclr-confirm", *args)
    assert "cyclr-confirm seed=0" in log
    report = out.read_text()

    summary = _row(report.split("## Per method", 1)[1], "cyclr-confirmed")
    assert summary[5] == "0/1"  # a suggestion, trained at without diverging
    steps = int(summary[7].split()[0])
    assert 250 <= steps <= 2000  # the sweep (100 steps, maybe rerun) plus 5 x 40 candidates

    row = _row(report.split("### digits-mlp-sgd", 1)[1], "cyclr-confirmed")
    assert 1e-5 < float(row[1]) < 10 and row[6] == "0/1" and int(row[7]) == steps
    assert "cyclr-confirmed-base" not in report  # bounds are recorded, not trained at

    invariance = report.split("## Loss scale and shift", 1)[1]
    cells = _row(invariance, "digits-mlp-sgd")
    assert cells[1] == "cyclr-confirmed" and cells[3] == "1.00"  # a shift never moves it


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_quick_suite_runs_clr_between_the_confirmed_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CLR rule `confirmed`: the schedules between result.clr_bounds() of
    # range_test(..., held_out=...), read from the cyclr-confirm family's record, next to
    # smith's bounds read from the cyclr family's record.
    cache, out = tmp_path / "cache", tmp_path / "suite.md"
    args = ("--cache-dir", str(cache), "--out", str(out), "--phases", "oracle,clr")
    _run(capsys, "--families", "cyclr,cyclr-confirm", "--clr-rules", "smith,confirmed", *args)
    clr = out.read_text().split("## CLR claim", 1)[1]
    rows = _clr_rows(clr)
    kinds = ("triangular2", "exp_range", "onecycle")
    assert set(rows) == {
        (r, k + h) for r in ("smith", "confirmed") for k in kinds for h in ("", "-half")
    }

    # The bounds are the cyclr-confirm record's, exactly as the user's result gives them.
    (path,) = cache.rglob("finder/cyclr-confirm-*-seed=0-scale=1.0-shift=0.0.json")
    sugg = json.loads(path.read_text())["suggestions"]
    base, peak = sugg["cyclr-confirmed-base"], sugg["cyclr-confirmed-max"]
    assert 0 < base < peak
    assert {rows[("confirmed", k)][2] for k in kinds} == {f"{base:.3g} .. {peak:.3g}"}
    assert rows[("confirmed", "onecycle")][2] != rows[("smith", "onecycle")][2]
    assert float(rows[("confirmed", "onecycle")][7].split()[0]) > 20.0  # beats chance
    assert re.search(r"\| confirmed \| \d+/1: ", clr)  # in the claim's two figures
    assert re.search(r"\| confirmed \| onecycle \| 1 \| ", clr)  # and in the summary

    # Without its family the rule is skipped, said so, and nothing is trained.
    log = _run(capsys, "--families", "cyclr", "--clr-rules", "confirmed", *args, "--report-only")
    assert "clr rule confirmed skipped: family cyclr-confirm is not run" in log
    assert "| confirmed |" not in out.read_text()
