"""The confirmation's line search: which candidates it trains, in which order, and why."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyclr.rangetest import RangeTestResult
from cyclr.rangetest.confirm import fitted_lr
from cyclr.rangetest.confirm_stage import learning_bar
from cyclr.rangetest.search import (
    SEARCH_FILL,
    SEARCH_MOVES,
    SEARCH_START,
    SEARCH_STRIDE,
    CandidateSearch,
)


def _run(search: CandidateSearch, score: Callable[[float], float]) -> list[float]:
    """Drive the search with a score of the offset (``inf``: diverged); the offsets tried."""
    tried = []
    for lr in search:
        offset = math.log10(lr / search.anchor)
        tried.append(round(offset, 9))
        value = score(offset)
        search.record([value] if math.isfinite(value) else [], finite=math.isfinite(value))
    return tried


def _bowl(centre: float) -> Callable[[float], float]:
    return lambda o: (o - centre) ** 2


def test_a_minimum_past_the_upper_end_moves_the_window_up_twice() -> None:
    tried = _run(CandidateSearch(0.01), _bowl(2.0))
    assert tried == [-0.5, 0.0, 0.5, 1.0, 1.5]


def test_a_minimum_below_moves_it_down() -> None:
    tried = _run(CandidateSearch(0.01), _bowl(-0.9))
    assert tried == [-0.5, 0.0, 0.5, -1.0, -1.5]


def test_an_inside_minimum_is_bracketed_towards_the_better_neighbour() -> None:
    tried = _run(CandidateSearch(0.01), _bowl(0.1))
    assert tried == [-0.5, 0.0, 0.5, 0.25, 0.125]


def test_every_candidate_diverging_moves_down() -> None:
    tried = _run(CandidateSearch(0.01), lambda o: 1.0 if o < -0.7 else math.inf)
    assert tried == [-0.5, 0.0, 0.5, -1.0, -1.5]


def test_a_diverged_upper_neighbour_sends_the_refinement_down() -> None:
    tried = _run(CandidateSearch(0.01), lambda o: math.inf if o > 0.2 else -o)
    assert tried == [-0.5, 0.0, 0.5, -0.25, -0.125]


def test_without_learning_the_window_fills_in_instead_of_moving() -> None:
    search = CandidateSearch(0.01, learned_below=0.5)
    tried = _run(search, lambda o: 1.0 + (o - 2.0) ** 2)  # every score above the bar
    assert tried == [*SEARCH_START, *SEARCH_FILL]
    learning = CandidateSearch(0.01, learned_below=3.0)  # 2.25 at o = 0.5 beats it
    assert _run(learning, _bowl(2.0)) == [-0.5, 0.0, 0.5, 1.0, 1.5]


def test_fixed_offsets_are_trained_in_order_and_nothing_is_added() -> None:
    tried = _run(CandidateSearch(0.01, (0.5, -1.0, 0.0)), _bowl(3.0))
    assert tried == [-1.0, 0.0, 0.5]


def test_conclude_reads_the_lr_from_every_recorded_score() -> None:
    search = CandidateSearch(0.01)
    _run(search, _bowl(0.3))
    got = search.conclude(40, 200)
    assert got.candidates == search.candidates and got.scores == search.scores
    assert got.anchor == 0.01 and got.steps == 40 and got.steps_spent == 200
    assert got.lr == pytest.approx(fitted_lr(got.candidates, got.scores))
    assert got.lr == pytest.approx(0.01 * 10**0.3)


def test_a_candidate_must_be_recorded_before_the_next() -> None:
    search = CandidateSearch(0.01)
    it = iter(search)
    next(it)
    with pytest.raises(RuntimeError, match="record"):
        next(it)
    with pytest.raises(RuntimeError, match="record"):
        CandidateSearch(0.01).record([1.0], finite=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"lr": 0.0}, ValueError, r"lr must be positive.*got lr=0.0"),
        ({"lr": "a"}, TypeError, r"lr must be a real number"),
        ({"lr": 0.01, "offsets": ()}, ValueError, r"offsets must hold 1 to 16"),
        ({"lr": 0.01, "offsets": (0.0, 0.0)}, ValueError, r"offsets must be distinct"),
        ({"lr": 0.01, "learned_below": math.nan}, ValueError, r"learned_below must be finite"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, error: type, pattern: str) -> None:
    lr = kwargs.pop("lr")
    with pytest.raises(error, match=pattern):
        CandidateSearch(lr, **kwargs)


@given(centre=st.floats(-1.5, 1.5), width=st.floats(0.1, 10.0))
def test_the_search_ends_next_to_a_bowls_minimum_within_its_reach(
    centre: float, width: float
) -> None:
    search = CandidateSearch(1e-3)
    tried = _run(search, lambda o: ((o - centre) / width) ** 2)
    assert len(tried) == len(set(tried)) == len(SEARCH_START) + SEARCH_MOVES
    nearest = min(abs(o - centre) for o in tried)
    assert nearest <= SEARCH_STRIDE / 2 + 1e-9
    got = search.conclude(10, 50)
    assert got.candidates[0] <= got.lr <= got.candidates[-1]


def test_learning_bar_is_the_untrained_loss_less_two_standard_deviations() -> None:
    losses = 2.3 + 0.01 * np.sin(np.arange(20))
    result = RangeTestResult(np.logspace(-7, -5, 20), losses, losses, None, None, {}, None)
    first = losses[:10]
    assert learning_bar(result) == pytest.approx(first.mean() - 2 * first.std(ddof=1))
    losses[1:] = np.inf
    blank = RangeTestResult(np.logspace(-7, -5, 20), losses, losses, None, None, {}, None)
    assert learning_bar(blank) is None
