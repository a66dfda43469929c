"""The run's length: the held-out minimum moved along the gradient-flow time ``lr * t``."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyclr.cli.main import main as cli_main
from cyclr.rangetest import RangeTestResult
from cyclr.rangetest.confirm import Confirmation
from cyclr.rangetest.confirm_stage import learning_bar
from cyclr.rangetest.horizon import (
    MIN_OVERFITTING,
    flow_path_end,
    overfitting_times,
    run_length_lr,
)

AT = (10, 20, 30, 40)
LRS = np.logspace(-6, 0, 61)
LOSSES = 2.0 - np.tanh(np.log10(LRS) + 3.0) + 0.5 * (LRS > 0.1)


def _overfitting_losses(lr: float, tau: float = 0.6) -> tuple[float, ...]:
    """A held-out loss that falls until the gradient-flow time ``tau``, then rises."""
    return tuple(1.0 + 0.01 * (math.log(lr * t / tau)) ** 2 for t in AT)


def _result(held_out: tuple[tuple[float, ...], ...], lr: float = 0.02) -> RangeTestResult:
    candidates = CANDIDATES
    scores = tuple(v[-1] for v in held_out)
    confirmation = Confirmation(lr, 0.02, candidates, scores, 40, 120, held_out)
    return RangeTestResult(
        LRS, LOSSES, LOSSES, None, "num_steps", {"steps_run_total": 61}, 1.0, confirmation
    )


CANDIDATES = (0.01, 0.02, 0.05)
OVERFIT = ((1.5, 1.3, 1.2, 1.1), (1.4, 1.0, 1.1, 1.2), (1.2, 1.3, 1.4, 1.5))
"""Still falling; a minimum at step 20 (time 0.4); at step 10 (time 0.5)."""
STEADY = ((1.5, 1.3, 1.2, 1.1), (1.4, 1.2, 1.1, 1.0), (1.3, 1.1, 1.05, 1.02))


def test_candidates_that_overfit_give_the_time_of_their_minimum() -> None:
    assert overfitting_times(CANDIDATES, OVERFIT, AT, bar=2.9) == (
        pytest.approx(0.4),
        pytest.approx(0.5),
    )


@pytest.mark.parametrize(
    ("losses", "why"),
    [
        ((1.2, 1.1, 1.0, 0.9), "still falling at the last evaluation"),
        ((1.2, 0.9, 1.0, 0.9), "back to its minimum: a bounce, not a rise"),
        ((1.2, 1.0, 0.9, 1.0), "above its minimum at one evaluation only"),
        ((1.2, 0.9, 1.0, math.inf), "not finite"),
        ((0.9,), "one evaluation shows no turn"),
        ((), "not recorded"),
        ((2.95, 2.94, 2.96, 2.97), "never went below the learning bar: a plateau's noise"),
    ],
)
def test_a_candidate_counts_only_on_unambiguous_evidence(
    losses: tuple[float, ...], why: str
) -> None:
    assert overfitting_times((0.01,), (losses,), AT, bar=2.9) == (), why


def test_no_bar_counts_any_rise() -> None:
    assert overfitting_times((0.01,), ((2.95, 2.94, 2.96, 2.97),), AT, bar=None) == (
        pytest.approx(0.2),
    )
    assert overfitting_times((0.01,), ((2.95, 2.94, 2.96, 2.97),), AT, bar=2.9) == ()


def test_fewer_than_the_minimum_agreeing_candidates_give_no_lr() -> None:
    one = (OVERFIT[0], OVERFIT[1], STEADY[2])
    horizon = run_length_lr(CANDIDATES, one, AT, 2.9, 300)
    assert len(horizon.times) == MIN_OVERFITTING - 1 and horizon.lr is None


def test_the_lr_puts_the_median_minimum_at_the_run_s_end() -> None:
    horizon = run_length_lr(CANDIDATES, OVERFIT, AT, 2.9, 450)
    assert horizon.total_steps == 450 and horizon.lr == pytest.approx(0.45 / 450)


@pytest.mark.parametrize(
    ("total_steps", "error", "message"),
    [
        (0, ValueError, "total_steps must be .*got total_steps=0"),
        (-300, ValueError, "total_steps must be .*got total_steps=-300"),
        (300.0, TypeError, "total_steps must be an integer.*got total_steps=300.0"),
        (True, TypeError, "total_steps must be an integer.*got total_steps=True"),
        ("300", TypeError, "total_steps must be an integer.*got total_steps='300'"),
    ],
)
def test_a_bad_total_steps_is_named(total_steps: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        run_length_lr((0.01,), ((1.0, 0.9),), (10, 20), None, total_steps)
    with pytest.raises(error, match=message):
        _result(OVERFIT).suggest(total_steps=total_steps)


@given(
    scale=st.floats(1e-4, 1e4),
    lr_scale=st.floats(1e-4, 1e4),
    shift=st.floats(-100.0, 100.0),
    total=st.integers(1, 10**7),
    taus=st.lists(st.floats(0.05, 5.0), min_size=3, max_size=3),
)
def test_the_lr_is_scale_free(
    scale: float, lr_scale: float, shift: float, total: int, taus: list[float]
) -> None:
    """Scaling or shifting the loss moves nothing; scaling every LR scales the answer;
    the answer times the run's length is the same for every length."""
    candidates = (0.01, 0.02, 0.04)
    losses = [_overfitting_losses(c, tau) for c, tau in zip(candidates, taus, strict=True)]
    base = run_length_lr(candidates, losses, AT, 2.9, total)
    moved = [tuple(scale * v + shift for v in run) for run in losses]
    assert run_length_lr(candidates, moved, AT, scale * 2.9 + shift, total) == base
    scaled = run_length_lr([c * lr_scale for c in candidates], losses, AT, 2.9, total)
    longer = run_length_lr(candidates, losses, AT, 2.9, 2 * total)
    if base.lr is None:
        assert scaled.lr is None and longer.lr is None
    else:
        assert scaled.lr == pytest.approx(base.lr * lr_scale, rel=1e-9)
        assert longer.lr == pytest.approx(base.lr / 2, rel=1e-9)


def test_suggest_lowers_the_confirmed_lr_to_the_run_s_length() -> None:
    result = _result(OVERFIT)
    assert learning_bar(result) == pytest.approx(2.98, abs=0.02)
    plain = result.suggest()
    fitted = result.suggest(total_steps=450)
    assert plain.lr == 0.02 and "total_steps" not in plain.evidence
    assert fitted.method == "confirmed" and fitted.lr == pytest.approx(0.001)
    assert fitted.interval == pytest.approx((0.4 / 450, 0.5 / 450))
    assert fitted.evidence["chosen_by"] == "the run's length"
    assert fitted.evidence["total_steps"] == 450
    assert fitted.evidence["overfitting_times"] == pytest.approx([0.4, 0.5])
    assert result.suggest("confirmed", total_steps=450) == fitted


def test_overfitting_never_raises_the_lr_and_no_evidence_changes_nothing() -> None:
    short = _result(OVERFIT).suggest(total_steps=10)  # lr_T = 0.045 > 0.02
    assert short.lr == 0.02 and short.evidence["run_length_lr"] == pytest.approx(0.045)
    assert short.evidence["chosen_by"] == _result(OVERFIT).suggest().evidence["chosen_by"]
    assert short.evidence["flow_path_lr"] == 0.02  # overfitting: never raised to it
    steady = _result(STEADY).suggest(total_steps=10**6)
    assert steady == dataclasses.replace(
        _result(STEADY).suggest(),
        evidence={**steady.evidence},
    )
    assert steady.lr == 0.02 and "run_length_lr" not in steady.evidence
    assert steady.evidence["total_steps"] == 10**6 and steady.evidence["overfitting_times"] == []
    assert steady.evidence["flow_path_lr"] == 0.02  # on the path up to the chosen LR only


ON_PATH = ((1.8, 1.6, 1.45, 1.35), (1.6, 1.35, 1.2, 1.1), (1.45, 1.1, 1.0, 0.9))
"""Each candidate's loss after 20 steps equals the smaller one's at the same lr * t."""


def test_the_path_runs_while_equal_flow_time_gives_equal_loss() -> None:
    candidates = (0.01, 0.02, 0.04)
    assert flow_path_end(candidates, ON_PATH, AT, untrained=2.0, bar=1.9) == 2
    lagging = (*ON_PATH[:2], (1.7, 1.6, 1.5, 1.4))  # 1.6 where the path is at 1.1
    assert flow_path_end(candidates, lagging, AT, untrained=2.0, bar=1.9) == 1
    within = (*ON_PATH[:2], (1.5, 1.18, 1.1, 1.0))  # 0.08 above: under a tenth of 0.9
    assert flow_path_end(candidates, within, AT, untrained=2.0, bar=1.9) == 2
    plateau = ((1.95, 1.95, 1.95, 1.95), *ON_PATH[1:])  # the first did not learn
    assert flow_path_end(candidates, plateau, AT, untrained=2.0, bar=1.9) == 2
    assert flow_path_end(candidates, ON_PATH, AT, untrained=2.0, bar=1.0) == 2  # only 0.04
    assert flow_path_end(candidates, ON_PATH, AT, untrained=2.0, bar=0.5) is None
    diverged = (*ON_PATH[:2], (1.45, 1.1, math.inf))
    assert flow_path_end(candidates, diverged, AT, untrained=2.0, bar=1.9) == 1
    apart = (0.01, 0.05, 0.1)  # 0.05 * 20 = 1.0 lies past the first's 0.1-0.4
    assert flow_path_end(apart, ON_PATH, AT, untrained=2.0, bar=1.9) == 0


def test_the_path_s_end_is_reported_not_applied() -> None:
    scores = tuple(v[-1] for v in ON_PATH)
    confirmation = Confirmation(0.02, 0.02, (0.01, 0.02, 0.04), scores, 40, 120, ON_PATH)
    result = RangeTestResult(LRS, LOSSES, LOSSES, None, "num_steps", {}, 1.0, confirmation)
    fitted = result.suggest(total_steps=1000)
    assert fitted.evidence["flow_path_lr"] == 0.04
    assert fitted.lr == result.suggest().lr == 0.02
    assert fitted.evidence["chosen_by"] == result.suggest().evidence["chosen_by"]


@given(
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-10.0, 10.0),
    lr_scale=st.floats(1e-3, 1e3),
    lag=st.floats(0.0, 0.5),
)
def test_the_path_is_scale_free(scale: float, shift: float, lr_scale: float, lag: float) -> None:
    runs = (*ON_PATH[:2], (1.45, 1.1 + lag, 1.0 + lag, 0.9 + lag))
    base = flow_path_end((0.01, 0.02, 0.04), runs, AT, untrained=2.0, bar=1.9)
    moved = [tuple(scale * v + shift for v in run) for run in runs]
    assert (
        flow_path_end((0.01, 0.02, 0.04), moved, AT, scale * 2.0 + shift, scale * 1.9 + shift)
        == base
    )
    lrs = tuple(lr_scale * c for c in (0.01, 0.02, 0.04))
    assert flow_path_end(lrs, runs, AT, untrained=2.0, bar=1.9) == base


def test_total_steps_needs_the_confirmed_lr() -> None:
    plain = dataclasses.replace(_result(OVERFIT), confirmation=None)
    with pytest.raises(ValueError, match=r"needs a confirmed result .*stage.*confirmed=False"):
        plain.suggest(total_steps=300)
    with pytest.raises(ValueError, match=r"got total_steps=300, method='bottom', confirmed=True"):
        _result(OVERFIT).suggest("bottom", total_steps=300)


def test_a_saved_result_fits_the_same_lr(tmp_path: Path) -> None:
    path = tmp_path / "lr.json"
    _result(OVERFIT).to_json(path)
    back = RangeTestResult.from_json(path)
    assert back.suggest(total_steps=450) == _result(OVERFIT).suggest(total_steps=450)
    assert json.loads(path.read_text())["confirmation"]["held_out_losses"]


def test_cyclr_suggest_fits_the_confirmed_lr_to_total_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lr.json"
    _result(OVERFIT).to_json(path)
    assert cli_main(["suggest", str(path), "--total-steps", "450"]) == 0
    out = capsys.readouterr().out
    confirmed = next(line for line in out.splitlines() if line.strip().startswith("confirmed"))
    assert "0.001 " in confirmed and "(default)" in confirmed
    assert "chosen_by=the run's length" in out and "total_steps=450" in out
    assert "result.schedule(kind, steps_per_epoch, total_steps=450) scales both bounds" in out
    dataclasses.replace(_result(OVERFIT), confirmation=None).to_json(path)
    assert cli_main(["suggest", str(path), "--total-steps", "700"]) == 2
    err = capsys.readouterr().err
    assert "--total-steps" in err and "no confirmation" in err and "700" in err


@pytest.mark.parametrize("kind", ["triangular2", "exp_range", "onecycle"])
def test_a_schedule_s_flow_time_is_brought_down_to_the_held_out_minimum_s(kind: str) -> None:
    result = _result(OVERFIT)
    window = result.confirmation.schedule(kind, steps_per_epoch=10, total_steps=600)  # type: ignore[union-attr]
    fitted = result.schedule(kind, steps_per_epoch=10, total_steps=600)
    steps = np.arange(600)
    assert float(np.sum(window(steps))) > 0.45
    assert float(np.sum(fitted(steps))) == pytest.approx(0.45, rel=1e-9)
    ratio = fitted.max_lr / window.max_lr  # type: ignore[attr-defined]
    assert ratio < 1 and fitted(0) == pytest.approx(window(0) * ratio, rel=1e-12)


def test_a_schedule_is_left_alone_without_evidence_or_when_its_bounds_are_given() -> None:
    def peak(result: RangeTestResult, kind: str = "onecycle", **kw: Any) -> float:
        schedule = result.schedule(kind, steps_per_epoch=10, total_steps=600, **kw)
        return float(schedule.max_lr)  # type: ignore[attr-defined]

    overfit, steady = _result(OVERFIT), _result(STEADY)
    window_peak = overfit.confirmation.bounds()[1]  # type: ignore[union-attr]
    assert peak(steady) == steady.confirmation.bounds()[1]  # type: ignore[union-attr]
    assert peak(overfit, max_lr=0.03) == 0.03
    assert peak(overfit, "triangular2", base_lr=0.001) == window_peak
    assert peak(overfit, rule="smith") == overfit.clr_bounds(rule="smith")[1]
    short = overfit.schedule("onecycle", steps_per_epoch=10, total_steps=20)
    assert short.max_lr == window_peak  # type: ignore[attr-defined]


def test_a_candidate_whose_training_diverged_counts_for_nothing() -> None:
    result = _result(OVERFIT)
    confirmation = dataclasses.replace(
        result.confirmation,  # type: ignore[arg-type]
        scores=(1.1, 1.2, math.inf),
    )
    horizon = confirmation.horizon(450, 2.9)
    assert horizon.times == (pytest.approx(0.4),) and horizon.lr is None


def test_more_held_out_losses_than_evaluations_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"held_out_losses\[0\] must hold at most one loss .*4 for steps=40; got 5"
    ):
        Confirmation(0.02, 0.02, (0.02,), (1.0,), 40, 40, ((1.0, 0.9, 0.8, 0.7, 0.6),))


@pytest.mark.parametrize(
    ("stored", "error"),
    [(0, ValueError), (-5, ValueError), (450.0, TypeError), ("450", TypeError), (True, TypeError)],
)
def test_a_malformed_stored_run_length_is_named(stored: Any, error: type) -> None:
    text = (
        _result(OVERFIT)
        .to_json()
        .replace('"settings": {', f'"settings": {{"total_steps": {json.dumps(stored)}, ', 1)
    )
    with pytest.raises(error, match=r"settings\['total_steps'\] must be"):
        RangeTestResult.from_json_text(text)


def test_a_stored_run_length_fits_the_suggestion() -> None:
    plain = _result(OVERFIT)
    kept = dataclasses.replace(plain, settings={**plain.settings, "total_steps": 450})
    assert kept.suggest() == plain.suggest(total_steps=450) != plain.suggest()
    assert kept.suggest(total_steps=10).lr == plain.suggest().lr  # an explicit length wins
    assert kept.suggest("bottom") == plain.suggest("bottom")  # a curve reading ignores it
