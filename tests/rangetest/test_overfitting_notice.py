"""Without the run's length, a confirmation whose candidates overfit says how soon."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
from tests.rangetest.test_horizon import AT, CANDIDATES, LOSSES, LRS, OVERFIT, STEADY, _result

from cyclr.cli.main import main as cli_main
from cyclr.rangetest import RangeTestResult
from cyclr.rangetest.confirm import Confirmation
from cyclr.rangetest.confirm_stage import after_sweep
from cyclr.rangetest.horizon import MIN_OVERFITTING, Horizon, run_length_lr

FLOW_TIME = 0.45
"""The median of OVERFIT's two minima, at gradient-flow times 0.4 and 0.5."""


def test_the_flow_time_needs_the_minimum_number_of_overfitting_candidates() -> None:
    assert Horizon(None, (0.4, 0.5), None).flow_time == pytest.approx(FLOW_TIME)
    assert Horizon(None, (0.4,) * (MIN_OVERFITTING - 1), None).flow_time is None
    assert Horizon(None, (0.4, 0.5), None).minimum_steps(0.01) == 45
    assert Horizon(None, (), None).minimum_steps(0.01) is None


def test_without_the_run_s_length_the_times_are_read_and_no_lr_is_fitted() -> None:
    unknown = run_length_lr(CANDIDATES, OVERFIT, AT, 2.9, None)
    known = run_length_lr(CANDIDATES, OVERFIT, AT, 2.9, 450)
    assert unknown.total_steps is None and unknown.lr is None
    assert unknown.times == known.times and unknown.flow_time == known.flow_time
    assert known.lr == pytest.approx(FLOW_TIME / 450)


def test_the_default_suggestion_says_after_how_many_steps_its_run_passes_the_minimum() -> None:
    plain = _result(OVERFIT).suggest()
    assert plain.lr == 0.02 and "total_steps" not in plain.evidence
    assert plain.evidence["overfitting_times"] == pytest.approx([0.4, 0.5])
    assert plain.evidence["held_out_minimum_steps"] == round(FLOW_TIME / 0.02)
    fitted = _result(OVERFIT).suggest(total_steps=450)  # lowered: its run ends at the minimum
    assert fitted.evidence["held_out_minimum_steps"] == 450
    short = _result(OVERFIT).suggest(total_steps=10)  # not raised: the minimum is further
    assert short.lr == 0.02 and short.evidence["held_out_minimum_steps"] == 22
    assert "held_out_minimum_steps" not in _result(STEADY).suggest().evidence
    assert str(plain).endswith("; a run at it is past its held-out minimum after about 22 steps")
    assert "held-out minimum" not in str(fitted) + str(_result(STEADY).suggest())


def _confirming(held_out: tuple[tuple[float, ...], ...]):  # type: ignore[no-untyped-def]
    def run(lr: float, steps: int) -> Confirmation:
        scores = tuple(v[-1] for v in held_out)
        return Confirmation(0.02, lr, CANDIDATES, scores, steps, steps * 3, held_out)

    return run


def _swept() -> RangeTestResult:
    return RangeTestResult(LRS, LOSSES, LOSSES, None, "num_steps", {"steps_run_total": 61}, 1.0)


def test_range_test_warns_once_when_the_candidates_overfit_and_the_length_is_unknown() -> None:
    with pytest.warns(RuntimeWarning) as caught:
        result = after_sweep(_swept(), None, _confirming(OVERFIT), 40, None)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "turned up within the confirmation's 40 steps at 2 candidates" in messages[0]
    assert "confirmed LR 0.02 is past its held-out minimum after about 22 steps" in messages[0]
    assert "total_steps=" in messages[0]
    assert caught[0].filename == __file__  # the caller's line, not the library's
    assert result.suggest().lr == 0.02  # a notice: the LR is left alone


@pytest.mark.parametrize(
    ("held_out", "run_length"), [(OVERFIT, 450), (STEADY, None), (STEADY, 450)]
)
def test_no_notice_with_the_run_s_length_or_without_overfitting(
    held_out: tuple[tuple[float, ...], ...], run_length: int | None
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = after_sweep(_swept(), None, _confirming(held_out), 40, run_length)
    lowered = held_out is OVERFIT and run_length is not None
    assert result.suggest().lr == (pytest.approx(FLOW_TIME / 450) if lowered else 0.02)


def test_cyclr_suggest_prints_the_notice_only_without_total_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lr.json"
    _result(OVERFIT).to_json(path)
    assert cli_main(["suggest", str(path)]) == 0
    out = capsys.readouterr().out
    assert "held_out_minimum_steps=22" in out
    assert "a run at 0.02 is past its held-out minimum after about 22 steps" in out
    assert "pass --total-steps" in out
    assert cli_main(["suggest", str(path), "--total-steps", "450"]) == 0
    fitted = capsys.readouterr().out
    assert "held_out_minimum_steps=450" in fitted and "pass --total-steps" not in fitted
    _result(STEADY).to_json(path)
    assert cli_main(["suggest", str(path)]) == 0
    assert "held-out minimum" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("lr", "error", "message"),
    [
        (0.0, ValueError, r"lr must be positive .*got lr=0.0"),
        (-0.01, ValueError, r"lr must be positive .*got lr=-0.01"),
        (math.nan, ValueError, r"lr must be .*got lr=nan"),
        (math.inf, ValueError, r"lr must be .*got lr=inf"),
        (1e-320, ValueError, r"lr is too small to count steps at \(got lr=1e-320\)"),
        ("0.01", TypeError, r"lr must be a real number.*got lr='0.01'"),
    ],
)
def test_a_bad_lr_for_the_steps_is_named(lr: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Horizon(None, (0.4, 0.5), None).minimum_steps(lr)  # type: ignore[arg-type]


def test_the_steps_are_at_least_one() -> None:
    assert Horizon(None, (0.4, 0.5), None).minimum_steps(100.0) == 1


def test_no_notice_when_the_confirmed_lr_is_a_guess() -> None:
    # Every candidate learned, then rose far above where it started: each score is past
    # the untrained ceiling, also one window lower, and range_test says the LR is a guess.
    rising = (2.9, 2.5, 2.96, 2.97)
    with pytest.warns(RuntimeWarning) as caught:
        result = after_sweep(_swept(), None, _confirming((rising,) * 3), 40, None)
    messages = [str(w.message) for w in caught]
    assert result.confirmation is not None
    assert any("is a guess" in m for m in messages), messages
    assert not any("held-out minimum" in m for m in messages), messages
