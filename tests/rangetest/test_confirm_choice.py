"""The confirmation stage's framework-free part: candidates, the choice, the result."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import cyclr
from cyclr.errors import NoReliableSuggestionError
from cyclr.rangetest.confirm import (
    CONFIRM_OFFSETS,
    Confirmation,
    candidate_lrs,
    choose,
    conclude,
    evaluation_steps,
    fitted_lr,
    held_out_score,
)


def test_default_candidates_are_quarter_decades_around_the_lr() -> None:
    got = candidate_lrs(0.01)
    want = [0.01 * 10**o for o in CONFIRM_OFFSETS]
    assert got == tuple(sorted(want))
    assert got[2] == 0.01


@given(
    lr=st.floats(1e-8, 1e2),
    offsets=st.lists(st.floats(-3, 3), min_size=1, max_size=16, unique=True),
)
def test_candidates_are_sorted_and_exact(lr: float, offsets: list[float]) -> None:
    got = candidate_lrs(lr, offsets)
    assert list(got) == sorted(lr * 10.0**o for o in offsets)
    assert all(a <= b for a, b in itertools.pairwise(got))


@pytest.mark.parametrize(
    ("args", "kind", "pattern"),
    [
        ((0.0,), ValueError, r"lr must be positive \(got lr=0.0\)"),
        ((-1e-3,), ValueError, r"lr must be positive \(got lr=-0.001\)"),
        ((math.nan,), ValueError, r"lr must be finite"),
        (("0.1",), TypeError, r"lr must be a real number"),
        ((0.1, ()), ValueError, r"offsets must hold 1 to 16 offsets \(got 0"),
        ((0.1, tuple(range(17))), ValueError, r"offsets must hold 1 to 16 offsets \(got 17"),
        ((0.1, (0.0, 0.0)), ValueError, r"offsets must be distinct \(got offsets=\[0.0, 0.0\]\)"),
        ((0.1, (0.0, math.inf)), ValueError, r"offsets\[1\] must be finite"),
        ((0.1, "ab"), TypeError, r"offsets must be a sequence of numbers \(got offsets='ab'\)"),
        ((0.1, (400.0,)), ValueError, r"every candidate lr \* 10\*\*offset must be positive"),
    ],
)
def test_bad_candidates_input_is_named(args: tuple[Any, ...], kind: type, pattern: str) -> None:
    with pytest.raises(kind, match=pattern):
        candidate_lrs(*args)


def test_choose_takes_the_lowest_finite_score_and_ties_to_the_smaller_lr() -> None:
    assert choose([1, 2, 3], [0.5, 0.2, 0.4]) == 1
    assert choose([1, 2, 3], [0.3, 0.3, 0.3]) == 0
    assert choose([1, 2, 3], [math.inf, math.nan, 0.9]) == 2


def test_choose_refuses_when_every_candidate_diverged() -> None:
    with pytest.raises(NoReliableSuggestionError, match="every candidate diverged"):
        choose([0.1, 0.2], [math.inf, math.nan])
    with pytest.raises(ValueError, match="same length"):
        choose([0.1, 0.2], [1.0])


@given(st.lists(st.one_of(st.floats(0, 10), st.just(math.inf)), min_size=1, max_size=8))
def test_choice_is_never_beaten(scores: list[float]) -> None:
    candidates = [float(i + 1) for i in range(len(scores))]
    if not any(math.isfinite(s) for s in scores):
        with pytest.raises(NoReliableSuggestionError):
            choose(candidates, scores)
        return
    i = choose(candidates, scores)
    assert all(scores[i] <= s for s in scores if math.isfinite(s))
    assert all(scores[j] > scores[i] for j in range(i))


def test_confirmation_reports_its_choice_and_cost() -> None:
    c = Confirmation(0.02, 0.02, (0.01, 0.02, 0.04), (1.0, 0.5, math.inf), 40, 95)
    assert c.best == 1
    text = str(c)
    assert "confirmed lr=0.02" in text and "0.04: diverged" in text and "95 steps spent" in text
    with pytest.raises(ValueError, match="same length"):
        Confirmation(0.02, 0.02, (0.01, 0.02), (1.0,), 40, 80)
    with pytest.raises(ValueError, match="steps must be positive"):
        Confirmation(0.02, 0.02, (0.02,), (1.0,), 0, 0)
    with pytest.raises(ValueError, match="held_out_losses must hold one sequence per candidate"):
        Confirmation(0.02, 0.02, (0.01, 0.02), (1.0, 0.5), 40, 80, ((1.0,),))


@pytest.mark.parametrize(
    ("steps", "marks"),
    [(1, (1,)), (9, (9,)), (10, (10,)), (25, (10, 20, 25)), (40, (10, 20, 30, 40))],
)
def test_candidates_are_evaluated_every_ten_steps_and_after_the_last(
    steps: int, marks: tuple[int, ...]
) -> None:
    assert evaluation_steps(steps) == marks


def test_the_score_adds_the_largest_bounce_to_the_last_loss() -> None:
    assert held_out_score([3.0, 2.0, 1.0]) == 1.0
    assert held_out_score([3.0, 1.0, 2.5, 1.5, 1.8]) == 1.8 + 1.5  # rose 1.0 to 2.5
    assert held_out_score([1.0, 1.2, 1.5]) == 1.5 + 0.5  # overfitting from the start
    assert math.isinf(held_out_score([]))
    assert math.isinf(held_out_score([1.0, math.nan]))
    assert math.isinf(held_out_score([1.0, math.inf]))


_LOSSES = st.lists(st.floats(0.0, 1e3), min_size=1, max_size=12)


@given(_LOSSES)
def test_score_is_the_last_loss_plus_the_largest_later_minus_earlier(losses: list[float]) -> None:
    largest_rise = max(later - v for i, v in enumerate(losses) for later in losses[i:])
    assert held_out_score(losses) == losses[-1] + largest_rise
    if all(b <= a for a, b in itertools.pairwise(losses)):
        assert held_out_score(losses) == losses[-1]


@given(_LOSSES, st.floats(1e-3, 1e3), st.floats(-1e3, 1e3))
def test_score_moves_with_the_loss_scale_and_shift(
    losses: list[float], scale: float, shift: float
) -> None:
    base = held_out_score(losses)
    assert held_out_score([scale * v for v in losses]) == pytest.approx(
        scale * base, rel=1e-9, abs=1e-9 * scale
    )
    assert held_out_score([v + shift for v in losses]) == pytest.approx(
        base + shift, rel=1e-9, abs=1e-6
    )


_CONFIRMED = Confirmation(0.02, 0.01, (0.01, 0.02), (0.9, 0.5), 40, 80)


def test_bounds_put_the_peak_at_the_confirmed_lr_and_the_base_at_a_quarter() -> None:
    assert _CONFIRMED.bounds() == (0.005, 0.02)


def test_schedules_run_between_the_confirmed_bounds_fitted_to_the_run() -> None:
    tri2 = _CONFIRMED.schedule("triangular2", 50, total_steps=1200)
    assert isinstance(tri2, cyclr.Triangular2)
    assert (tri2.base_lr, tri2.max_lr, tri2.cycle_steps) == (0.005, 0.02, 400)
    assert tri2(0) == 0.005 and tri2(200) == 0.02 and tri2(1200) == 0.005
    one = _CONFIRMED.schedule("onecycle", 50, total_steps=1200)
    assert isinstance(one, cyclr.OneCycle)
    assert one(0) == pytest.approx(0.005) and max(one(i) for i in range(1200)) == 0.02
    exp = _CONFIRMED.schedule("exp_range", 50, total_steps=1200)
    assert isinstance(exp, cyclr.ExpRange)
    assert exp.gamma**exp.step_size_up == pytest.approx(0.99994**2000)
    assert _CONFIRMED.schedule("triangular", 50, max_lr=0.03).max_lr == 0.03


@pytest.mark.parametrize(
    ("kind", "kwargs", "kind_error", "pattern"),
    [
        ("cosine", {}, ValueError, "kind must be one of"),
        ("onecycle", {}, ValueError, "needs total_steps"),
        ("triangular2", {"total_steps": 1201}, ValueError, "no whole number of cycles"),
        ("triangular", {"epochs_per_half_cycle": 20}, ValueError, r"must be in \[2, 10\]"),
    ],
)
def test_bad_schedule_requests_are_named(
    kind: str, kwargs: dict[str, Any], kind_error: type, pattern: str
) -> None:
    with pytest.raises(kind_error, match=pattern):
        _CONFIRMED.schedule(kind, 50, **kwargs)
    with pytest.raises(
        ValueError, match=r"steps_per_epoch must be positive \(got steps_per_epoch=0"
    ):
        _CONFIRMED.schedule("triangular", 0)


def test_the_peak_is_the_largest_candidate_that_trained_steadily() -> None:
    losses = ((2.0, 1.5), (2.0, 1.0), (1.5, 0.9), (1.0, 1.2), (1.0,))
    c = Confirmation(
        0.02, 0.02, (0.01, 0.02, 0.04, 0.08, 0.16), (1.5, 1.0, 0.9, 1.4, math.inf), 40, 160, losses
    )
    # 0.08 rose (1.0 -> 1.2) and 0.16 diverged: the peak is 0.04, above the chosen 0.02.
    assert c.steady == (True, True, True, False, False)
    assert c.bounds() == (0.01, 0.04)
    tri2 = c.schedule("triangular2", 50, total_steps=1200)
    assert (tri2.base_lr, tri2.max_lr) == (0.01, 0.04)


def test_the_peak_is_never_below_the_chosen_lr() -> None:
    # The chosen 0.02 bounced but still scored best; the only steady one is smaller.
    c = Confirmation(0.02, 0.02, (0.01, 0.02), (1.3, 1.2), 40, 80, ((1.5, 1.3), (0.9, 1.1)))
    assert c.steady == (True, False)
    assert c.bounds() == (0.005, 0.02)


def test_conclude_scores_chooses_and_keeps_the_evidence() -> None:
    runs = [([1.0, 0.8], True), ([1.0, 0.5, 0.7], True), ([0.9], False)]
    c = conclude(0.02, (0.01, 0.02, 0.04), runs, 30, 71)
    assert c.scores == (0.8, 0.7 + (0.7 - 0.5), math.inf)
    assert c.lr == 0.01 and c.anchor == 0.02 and c.steps_spent == 71
    assert c.held_out_losses == ((1.0, 0.8), (1.0, 0.5, 0.7), (0.9,))
    with pytest.raises(NoReliableSuggestionError) as info:
        conclude(0.02, (0.01,), [([0.9], False)], 30, 23)
    assert info.value.steps_spent == 23  # type: ignore[attr-defined]  # the steps it cost


def test_a_candidate_without_held_out_losses_is_not_steady() -> None:
    c = Confirmation(0.02, 0.02, (0.02, 0.04), (0.5, 0.4), 40, 80, ((0.9, 0.5), ()))
    assert c.steady == (True, False)
    assert Confirmation(0.02, 0.02, (0.02,), (0.5,), 40, 40).steady == (False,)


# -- the fitted vertex ------------------------------------------------------------------

GRID = candidate_lrs(0.01)


@given(
    vertex=st.floats(-2.45, -1.55),
    curvature=st.floats(0.1, 100.0),
    shift=st.floats(-1e3, 1e3),
)
def test_fitted_lr_recovers_the_vertex_of_exact_parabola_scores(
    vertex: float, curvature: float, shift: float
) -> None:
    scores = [curvature * (math.log10(c) - vertex) ** 2 + shift for c in GRID]
    assert math.log10(fitted_lr(GRID, scores)) == pytest.approx(vertex, abs=1e-6)


@given(
    scores=st.lists(st.one_of(st.floats(-1e3, 1e3), st.just(math.inf)), min_size=5, max_size=5),
    shift=st.floats(-1e3, 1e3),
    scale=st.floats(1e-3, 1e3),
)
def test_fitted_lr_ignores_the_losss_units_and_stays_in_the_finite_range(
    scores: list[float], shift: float, scale: float
) -> None:
    finite_scores = [s for s in scores if math.isfinite(s)]
    if finite_scores:  # differences the shift would round away are not a curve
        assume(
            max(finite_scores) - min(finite_scores) in (0.0,)
            or max(finite_scores) - min(finite_scores) > 1e-6 * (1.0 + abs(shift) / scale)
        )
    got = fitted_lr(GRID, scores)
    moved = fitted_lr(GRID, [scale * s + shift for s in scores])
    finite = [c for c, s in zip(GRID, scores, strict=True) if math.isfinite(s)]
    if got is None:
        assert moved is None or len(finite) >= 3
        return
    assert moved is not None and math.log10(moved) == pytest.approx(math.log10(got), abs=1e-6)
    assert len(finite) >= 3 and finite[0] <= got <= finite[-1]


def test_fitted_lr_has_no_answer_without_a_minimum_to_read() -> None:
    assert fitted_lr(GRID, [1.0, 0.5, math.inf, math.inf, math.inf]) is None  # two finite
    assert fitted_lr(GRID, [1.0, 2.0, 3.0, 2.0, 1.0]) is None  # opens downwards
    assert fitted_lr(GRID, [1.0] * 5) is None  # flat
    assert fitted_lr(GRID, [5.0, 4.0, 3.0, 2.0, 1.0]) is None  # a line: no curvature
    # A vertex past an end is the end candidate itself, exactly.
    assert fitted_lr(GRID, [(math.log10(c) + 1.0) ** 2 for c in GRID]) == GRID[-1]
    assert fitted_lr(GRID, [(math.log10(c) + 3.0) ** 2 for c in GRID]) == GRID[0]


def test_conclude_reads_the_vertex_and_falls_back_to_the_lowest_score() -> None:
    losses = [(2.0, 1.6), (2.0, 1.1), (2.0, 0.9), (2.0, 0.9), (2.0, 1.3)]
    c = conclude(0.01, GRID, [(v, True) for v in losses], 40, 200)
    scores = [held_out_score(v) for v in losses]
    assert c.lr == fitted_lr(GRID, scores) and GRID[2] < c.lr < GRID[3]
    s = c.suggestion()
    assert s.interval == (GRID[2], GRID[3]) and s.evidence["chosen_by"] == "fitted"
    assert c.chosen_by == "fitted" and dataclasses.replace(c, lr=0.011).chosen_by == "given"
    assert s.evidence["best_candidate"] == GRID[2] and "vertex of the parabola" in str(c)
    # Two finite scores: no parabola, the lowest score wins.
    runs = [((2.0, 1.0), True), ((2.0, 0.8), True)] + [((), False)] * 3
    c = conclude(0.01, GRID, runs, 40, 90)
    assert c.lr == GRID[1] and c.suggestion().evidence["chosen_by"] == "lowest score"
    # Scores falling to the largest candidate: the vertex is clipped to it.
    runs = [((9.0, (math.log10(c) + 1.0) ** 2), True) for c in GRID]
    c = conclude(0.01, GRID, runs, 40, 200)
    assert c.lr == GRID[-1] and c.chosen_by == "fitted, at an end"
    assert "falls to this end" in str(c)


def test_a_vertex_past_the_largest_candidate_that_did_not_score_lowest_is_not_read() -> None:
    # Steep on the left, nearly flat on the right: the parabola's vertex lies past the
    # largest candidate, whose score is above the fourth's. The scores show a minimum at
    # the fourth; the vertex is the parabola's extrapolation.
    losses = [(2.5, 2.0), (2.5, 1.6), (2.5, 0.8), (2.5, 0.4), (2.5, 0.45)]
    scores = [held_out_score(v) for v in losses]
    assert fitted_lr(GRID, scores) == GRID[-1]
    c = conclude(0.01, GRID, [(v, True) for v in losses], 40, 200)
    assert c.lr == GRID[3] and c.chosen_by == "lowest score"
    # The mirror image, past the smallest candidate: clipped to it (erring low is safe).
    mirrored = conclude(0.01, GRID, [(v, True) for v in reversed(losses)], 40, 200)
    assert mirrored.lr == GRID[0] and mirrored.chosen_by == "fitted, at an end"


def test_a_confirmation_lr_must_lie_within_its_candidates() -> None:
    Confirmation(0.015, 0.02, (0.01, 0.02), (1.0, 0.5), 40, 80)
    with pytest.raises(ValueError, match=r"lr must lie between the smallest and the largest"):
        Confirmation(0.03, 0.02, (0.01, 0.02), (1.0, 0.5), 40, 80)
