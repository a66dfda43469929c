"""A range-test result that carries a confirmation: what it answers, what it stores, and
what it refuses."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cyclr.errors import NoReliableSuggestionError
from cyclr.rangetest import RangeTestResult
from cyclr.rangetest.confirm import Confirmation
from cyclr.rangetest.confirm_stage import confirm_result, learned

LRS = np.logspace(-6, 0, 61)
LOSSES = 2.0 - np.tanh(np.log10(LRS) + 3.0) + 0.5 * (LRS > 0.1)


def _curve(**over: Any) -> RangeTestResult:
    fields: dict[str, Any] = {
        "lrs": LRS,
        "losses": LOSSES,
        "smoothed": LOSSES,
        "metrics": None,
        "stop_reason": "num_steps",
        "settings": {"steps_run_total": 61},
        "elapsed_s": 1.0,
    }
    fields.update(over)
    return RangeTestResult(**fields)


def _confirmation(lr: float = 2e-3) -> Confirmation:
    candidates = (1e-3, 2e-3, 4e-3)
    return Confirmation(
        lr,
        2e-3,
        candidates,
        (0.6, 0.5, math.inf),
        40,
        100,
        ((0.9, 0.6), (0.8, 0.5), (0.7,)),
    )


def test_a_confirmed_result_answers_from_its_confirmation() -> None:
    plain, confirmed = _curve(), _curve(confirmation=_confirmation())
    assert confirmed.suggest().method == "confirmed" and confirmed.suggest().lr == 2e-3
    assert confirmed.suggest().interval == (1e-3, 4e-3)
    assert confirmed.suggest("bottom") == plain.suggest() == plain.suggest("bottom")
    assert confirmed.clr_bounds() == (5e-4, 2e-3) == confirmed.clr_bounds(rule="confirmed")
    assert confirmed.clr_bounds(rule="smith") == plain.clr_bounds()
    schedule = confirmed.schedule("onecycle", steps_per_epoch=10, total_steps=100)
    assert schedule.max_lr == 2e-3  # type: ignore[attr-defined]
    assert confirmed.steps_spent == 161 and plain.steps_spent == 61
    assert confirmed != plain and "confirmed 0.002" in repr(confirmed)


@pytest.mark.parametrize("call", ["suggest", "clr_bounds"])
def test_confirmed_is_refused_without_a_confirmation(call: str) -> None:
    ask = {
        "suggest": lambda r: r.suggest("confirmed"),
        "clr_bounds": lambda r: r.clr_bounds(rule="confirmed"),
    }[call]
    name = "method" if call == "suggest" else "rule"
    with pytest.raises(ValueError, match=rf"{name}='confirmed' needs a confirmed result"):
        ask(_curve())


def test_the_confirmation_is_stored_exactly_and_a_plain_file_is_unchanged() -> None:
    confirmed = _curve(confirmation=_confirmation())
    text = confirmed.to_json()
    assert RangeTestResult.from_json_text(text) == confirmed
    assert json.loads(text)["confirmation"]["scores"] == [0.6, 0.5, "inf"]
    assert "confirmation" not in json.loads(_curve().to_json())


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda c: c.pop("steps"), r"field 'confirmation' must be an object with the keys"),
        (lambda c: c.update(steps=2.5), r"field 'confirmation'\['steps'\] must be an integer"),
        (lambda c: c.update(lr=0.5), r"lr must lie between the smallest and the largest candidate"),
        (lambda c: c.update(scores=[1.0]), r"candidates and scores must have the same length"),
        (lambda c: c.update(held_out_losses=5), r"held_out_losses'\] must be a list"),
        (lambda c: c.update(candidates=["x"]), r"confirmation.candidates'\[0\] must be a number"),
    ],
)
def test_a_malformed_confirmation_field_is_named(edit: Any, pattern: str) -> None:
    data = json.loads(_curve(confirmation=_confirmation()).to_json())
    edit(data["confirmation"])
    with pytest.raises(ValueError, match=pattern):
        RangeTestResult.from_json_text(json.dumps(data))


def test_a_confirmation_must_be_a_confirmation() -> None:
    with pytest.raises(TypeError, match="confirmation must be a Confirmation or None"):
        _curve(confirmation={"lr": 0.1})


def test_confirm_result_confirms_the_default_reading() -> None:
    seen: list[tuple[float, int]] = []

    def run(lr: float, steps: int) -> Confirmation:
        seen.append((lr, steps))
        return Confirmation(lr, lr, (lr,), (1.0,), steps, steps)

    got = confirm_result(_curve(), run, 3)
    assert seen == [(_curve().suggest().lr, 3)] and got.suggest().lr == seen[0][0]
    assert got.confirmation is not None and learned(_curve(), got.confirmation)


def _stuck_until(steps_needed: int, seen: list[int]) -> Any:
    """A confirmation whose candidates learn only with ``steps_needed`` steps or more."""
    untrained = float(np.mean(LOSSES[:10]))

    def run(lr: float, steps: int) -> Confirmation:
        seen.append(steps)
        score = 1.0 if steps >= steps_needed else untrained
        return Confirmation(lr, lr, (lr,), (score,), steps, 5 * steps)

    return run


def test_a_confirmation_where_nothing_learned_runs_again_three_times_longer() -> None:
    seen: list[int] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = confirm_result(_curve(), _stuck_until(30, seen), 10)
    assert seen == [10, 30]
    c = got.confirmation
    assert c is not None and c.steps == 30 and c.steps_spent == 5 * 10 + 5 * 30
    assert got.steps_spent == 61 + 200


def test_a_confirmation_that_never_learns_says_its_lr_is_a_guess() -> None:
    seen: list[int] = []
    with pytest.warns(RuntimeWarning, match=r"no candidate's held-out loss fell clearly.*guess"):
        got = confirm_result(_curve(), _stuck_until(1000, seen), 10)
    assert seen == [10, 30] and got.confirmation is not None
    assert got.confirmation.steps_spent == 200


def test_a_failed_longer_confirmation_keeps_the_first_on_the_exception() -> None:
    def run(lr: float, steps: int) -> Confirmation:
        if steps > 10:
            raise ValueError("data ran out")
        return Confirmation(lr, lr, (lr,), (float(np.mean(LOSSES[:10])),), steps, steps)

    with pytest.raises(ValueError, match="data ran out") as info:
        confirm_result(_curve(), run, 10)
    kept = info.value.result  # type: ignore[attr-defined]
    assert kept.confirmation is not None and kept.confirmation.steps == 10
    assert "result, confirmed" in "".join(getattr(info.value, "__notes__", []))


@given(
    shift=st.floats(-1e3, 1e3),
    scale=st.floats(1e-3, 1e3),
    score=st.floats(-5.0, 5.0),
)
def test_learned_ignores_the_losss_units(shift: float, scale: float, score: float) -> None:
    moved = _curve(losses=scale * LOSSES + shift, smoothed=scale * LOSSES + shift)
    c = Confirmation(0.1, 0.1, (0.1,), (score,), 5, 5)
    c_moved = Confirmation(0.1, 0.1, (0.1,), (scale * score + shift,), 5, 5)
    first = LOSSES[:10]
    margin = float(np.mean(first) - 2.0 * np.std(first, ddof=1)) - score
    assume(abs(margin) > 1e-6)
    assert learned(_curve(), c) == learned(moved, c_moved) == (margin > 0)


def test_confirm_result_warns_and_keeps_a_curve_with_no_suggestion() -> None:
    flat = _curve(losses=np.ones(61), smoothed=np.ones(61))
    with pytest.warns(RuntimeWarning, match="no suggestion to confirm.*flat"):
        got = confirm_result(flat, lambda lr, steps: pytest.fail("nothing to confirm"), 10)
    assert got is flat
    with warnings.catch_warnings():  # batches held aside (held_out="auto"): nothing unused
        warnings.simplefilter("error")
        unused = confirm_result(flat, lambda lr, steps: pytest.fail("no"), 10, held_aside=True)
    assert unused is flat


@given(
    n=st.integers(1, 8),
    pick=st.integers(0, 7),
    lr=st.floats(1e-6, 1.0),
)
def test_the_interval_is_the_chosen_candidates_neighbours(n: int, pick: int, lr: float) -> None:
    candidates = tuple(lr * 10.0 ** (0.25 * i) for i in range(n))
    i = min(pick, n - 1)
    s = Confirmation(candidates[i], lr, candidates, tuple(1.0 for _ in candidates), 5, 5 * n)
    low, high = s.suggestion().interval
    assert low <= s.lr <= high
    assert low == candidates[max(i - 1, 0)] and high == candidates[min(i + 1, n - 1)]


@given(n=st.integers(2, 8), where=st.floats(0.0, 1.0), lr=st.floats(1e-6, 1.0))
def test_a_fitted_lr_between_candidates_is_stored_exactly_and_bracketed(
    n: int, where: float, lr: float
) -> None:
    candidates = tuple(lr * 10.0 ** (0.25 * i) for i in range(n))
    fitted = min(
        max(candidates[0] * 10.0 ** (0.25 * (n - 1) * where), candidates[0]), candidates[-1]
    )
    c = Confirmation(fitted, lr, candidates, tuple(1.0 for _ in candidates), 5, 5 * n)
    low, high = c.suggestion().interval
    assert low <= fitted <= high
    assert low in candidates and high in candidates
    assert not any(low < v < high for v in candidates if v != fitted)
    result = _curve(confirmation=c)
    assert RangeTestResult.from_json_text(result.to_json()) == result


def test_schedule_can_read_the_curve_on_a_confirmed_result() -> None:
    confirmed = _curve(confirmation=_confirmation())
    smith = confirmed.schedule("onecycle", steps_per_epoch=10, total_steps=100, rule="smith")
    assert smith.max_lr == confirmed.clr_bounds(rule="smith")[1]  # type: ignore[attr-defined]
    assert confirmed.schedule("onecycle", 10, total_steps=100).max_lr == 2e-3  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"rule must be one of 'smith', 'bottom', 'confirmed'"):
        confirmed.schedule("onecycle", 10, total_steps=100, rule="edge")


def _window(anchor: float, scores: tuple[float, ...], start: float) -> Confirmation:
    """Three candidates a half decade apart around ``anchor`` (a window one decade wide)."""
    candidates = (anchor / 10**0.5, anchor, anchor * 10**0.5)
    runs = tuple((s,) for s in scores)
    return Confirmation(anchor, anchor, candidates, scores, 40, 120, runs, start_loss=start)


def test_a_window_past_the_edge_is_confirmed_again_one_window_lower() -> None:
    # Every candidate of the first window ends far above the loss it started from (3.0);
    # the window a decade lower learns. Training longer would not help, so it is not run.
    untrained = float(np.mean(LOSSES[:10]))
    seen: list[tuple[float, int]] = []

    def run(lr: float, steps: int) -> Confirmation:
        seen.append((lr, steps))
        if seen[1:]:  # the window below learns
            return _window(lr, (2.0, 1.0, 1.5), untrained)
        return _window(lr, (9.0, 12.0, 40.0), untrained)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = confirm_result(_curve(), run, 40)
    anchor = _curve().suggest().lr
    assert seen == [(anchor, 40), (pytest.approx(anchor / 10), 40)]
    c = got.confirmation
    assert c is not None and c.anchor == pytest.approx(anchor / 10)
    assert c.steps_spent == 240 and got.steps_spent == 61 + 240
    assert c.scores == (2.0, 1.0, 1.5)


def test_a_window_where_every_candidate_diverged_is_confirmed_one_window_lower() -> None:
    untrained = float(np.mean(LOSSES[:10]))
    seen: list[float] = []

    def run(lr: float, steps: int) -> Confirmation:
        seen.append(lr)
        if len(seen) == 1:
            exc = NoReliableSuggestionError("every candidate diverged")
            exc.steps_spent = 150  # type: ignore[attr-defined]  # as conclude() sets it
            raise exc
        return _window(lr, (2.0, 1.0, 1.5), untrained)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = confirm_result(_curve(), run, 40)
    assert seen[1] == pytest.approx(seen[0] / 10)  # the default window spans a decade
    c = got.confirmation
    assert c is not None and c.scores == (2.0, 1.0, 1.5)
    lower_only = _window(1.0, (2.0, 1.0, 1.5), untrained).steps_spent
    assert c.steps_spent == lower_only + 150  # the diverged window's steps counted too


def test_every_candidate_diverged_in_both_windows_raises_with_the_sweep_kept() -> None:
    def run(lr: float, steps: int) -> Confirmation:
        raise NoReliableSuggestionError(f"every candidate diverged around {lr:.3g}")

    with pytest.raises(NoReliableSuggestionError, match="diverged") as info:
        confirm_result(_curve(), run, 40)
    kept = info.value.result  # type: ignore[attr-defined]
    assert kept.confirmation is None and np.array_equal(kept.losses, LOSSES)


def test_a_lower_window_still_past_the_edge_says_its_lr_is_a_guess() -> None:
    untrained = float(np.mean(LOSSES[:10]))
    seen: list[float] = []

    def run(lr: float, steps: int) -> Confirmation:
        seen.append(lr)
        return _window(lr, (9.0, 12.0, 40.0), untrained)

    with pytest.warns(RuntimeWarning, match=r"also one window lower.*guess.*past the edge"):
        got = confirm_result(_curve(), run, 40)
    assert len(seen) == 2 and seen[1] == pytest.approx(seen[0] / 10)
    assert got.confirmation is not None and got.confirmation.steps_spent == 240


@pytest.mark.parametrize(
    ("scores", "start", "capped_scores"),
    [
        ((2.0, 3.5, 900.0), 3.0, (2.0, "ceiling", "ceiling")),  # two past the edge
        ((2.0, 2.5, math.inf), 3.0, (2.0, 2.5, math.inf)),  # diverged stays inf
        ((3.5, 3.6, 4.0), 3.0, None),  # every candidate past the edge
    ],
)
def test_scores_above_the_untrained_ceiling_are_brought_down_to_it(
    scores: tuple[float, ...], start: float, capped_scores: Any
) -> None:
    from cyclr.rangetest.confirm_stage import capped, untrained_ceiling

    confirmation = _window(1e-3, scores, start)
    got = capped(_curve(), confirmation)
    ceiling = untrained_ceiling(_curve(), confirmation)
    assert ceiling is not None and start < ceiling < start + 0.1
    if capped_scores is None:
        assert got is None
        return
    assert got is not None
    assert got.scores == tuple(ceiling if c == "ceiling" else c for c in capped_scores)
    # Shifting and scaling the loss (sweep and held-out alike) changes nothing.
    moved = _curve(losses=LOSSES * 7 + 2, smoothed=LOSSES * 7 + 2)
    shifted = capped(moved, _window(1e-3, tuple(7 * v + 2 for v in scores), 7 * start + 2))
    assert shifted is not None and shifted.lr == pytest.approx(got.lr, rel=1e-9)


def test_one_exploded_score_no_longer_steers_the_parabola() -> None:
    # Scores 0.3 at the smallest candidate, the rest past the edge, one by a factor of
    # 2,000: fitted as they are, the vertex lands inside the window; capped, the scores
    # say "the smallest" and the LR is the smallest candidate.
    from cyclr.rangetest.confirm import read_lr
    from cyclr.rangetest.confirm_stage import capped
    from cyclr.rangetest.scores import fitted_lr

    untrained = float(np.mean(LOSSES[:10]))
    candidates = (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2)
    scores = (0.3, 4.0, 5.0, 9.0, 2000.0)
    confirmation = Confirmation(
        fitted_lr(candidates, scores), 4e-3, candidates, scores, 40, 200, start_loss=untrained
    )
    assert confirmation.lr > 2e-3  # the parabola, steered by the exploded score
    assert read_lr(candidates, scores) == 1e-3  # the smallest scored lowest: it is the LR
    got = capped(_curve(), confirmation)
    assert got is not None and got.lr == 1e-3
    # Nothing above the ceiling: the same confirmation comes back.
    calm = dataclasses.replace(confirmation, scores=(0.3, 0.2, 0.25, 0.4, 0.5), lr=2e-3)
    assert capped(_curve(), calm) is calm


def test_the_start_loss_is_stored_exactly() -> None:
    confirmed = _curve(confirmation=_window(1e-3, (2.0, 1.0, 1.5), 2.0 / 3.0))
    text = confirmed.to_json()
    assert json.loads(text)["confirmation"]["start_loss"] == 2.0 / 3.0
    back = RangeTestResult.from_json_text(text)
    assert back == confirmed and back.confirmation is not None
    assert back.confirmation.start_loss == 2.0 / 3.0


def test_a_candidate_that_jumped_above_its_start_is_not_a_schedule_peak() -> None:
    # The larger candidate only fell after its first evaluation, but that evaluation was
    # far above the loss it started from: it is not steady, and the schedule's peak is
    # the confirmed LR, not it.
    runs = ((2.5, 1.0), (9.0, 0.9))
    c = Confirmation(1e-3, 1e-3, (1e-3, 3e-3), (1.0, 0.9), 40, 80, runs, start_loss=2.9)
    assert c.steady == (True, False) and c.bounds() == (2.5e-4, 1e-3)
    # Without the start (files written before it was measured): counted from v_1.
    old = dataclasses.replace(c, start_loss=None)
    assert old.steady == (True, True) and old.bounds() == (7.5e-4, 3e-3)
