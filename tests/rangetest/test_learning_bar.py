"""The learning bar of a confirmation: the noise of a held-out mean, below its start."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cyclr.rangetest import RangeTestResult
from cyclr.rangetest.confirm import Confirmation
from cyclr.rangetest.confirm_stage import learned, learning_bar
from cyclr.rangetest.scores import held_out_bar

LRS = np.logspace(-6, 0, 61)
LOSSES = 2.0 - np.tanh(np.log10(LRS) + 3.0) + 0.5 * (LRS > 0.1)
LOSSES[:10] += 0.3 * np.sin(np.arange(10))  # batch-to-batch noise of the untrained loss
SIGMA = float(np.std(LOSSES[:10], ddof=1))


def _curve(losses: np.ndarray = LOSSES) -> RangeTestResult:
    return RangeTestResult(LRS, losses, losses, None, "num_steps", {}, 1.0)


def _confirmation(score: float, start: float | None, steps: float | None) -> Confirmation:
    return Confirmation(0.1, 0.1, (0.1,), (score,), 40, 40, start_loss=start, held_out_steps=steps)


@given(
    start=st.floats(1.0, 3.0),
    m=st.floats(0.5, 400.0) | st.none(),
    drop=st.floats(0.0, 1.5),
)
def test_learned_means_below_the_start_by_the_noise_of_a_mean_of_m_steps(
    start: float, m: float | None, drop: float
) -> None:
    bar = start - 2.0 * SIGMA / math.sqrt(max(1.0, m or 1.0))
    score = start - drop
    assume(abs(score - bar) > 1e-9)
    c = _confirmation(score, start, m)
    assert learning_bar(_curve(), c) == pytest.approx(bar)
    assert learned(_curve(), c) == (score < bar)


def test_a_held_out_mean_that_fell_by_half_has_learned_on_a_noisy_loss() -> None:
    # Batches whose loss varies by 0.2 around 1.0 (a small regression in batches of 32):
    # a held-out MSE over 64 examples that fell from 1.33 to 0.74 has learned.
    noisy = LOSSES.copy()
    noisy[:10] = 1.0 + 0.2 * np.array([1, -1, 1, -1, 0.5, -0.5, 1, -1, 0, 0]) / 0.7
    c = _confirmation(0.74, 1.33, 2.0)
    assert learned(_curve(noisy), c)
    # The bar from the sweep's mean without the size of the mean (before) said it had not.
    assert float(np.mean(noisy[:10]) - 2.0 * np.std(noisy[:10], ddof=1)) <= 0.74


@given(shift=st.floats(-1e3, 1e3), scale=st.floats(1e-3, 1e3), m=st.floats(1.0, 100.0))
def test_the_bar_moves_with_the_losss_units(shift: float, scale: float, m: float) -> None:
    bar = held_out_bar(LOSSES, 2.5, m)
    moved = held_out_bar(scale * LOSSES + shift, scale * 2.5 + shift, m)
    assert bar is not None and moved is not None
    assert moved == pytest.approx(scale * bar + shift, rel=1e-9, abs=1e-9 * scale)


def test_without_a_confirmation_the_bar_is_the_sweeps_own() -> None:
    expected = float(np.mean(LOSSES[:10]) - 2.0 * SIGMA)
    assert learning_bar(_curve()) == pytest.approx(expected)
    assert held_out_bar(LOSSES) == pytest.approx(expected)
    assert held_out_bar(LOSSES[:1]) is None


def test_the_held_out_size_is_stored_exactly_and_older_files_lack_it() -> None:
    c = dataclasses.replace(_confirmation(1.0, 2.0, 10.0 / 3.0), held_out_losses=((1.0,),))
    confirmed = dataclasses.replace(_curve(), confirmation=c)
    text = confirmed.to_json()
    assert json.loads(text)["confirmation"]["held_out_steps"] == 10.0 / 3.0
    back = RangeTestResult.from_json_text(text)
    assert back == confirmed and back.confirmation is not None
    assert back.confirmation.held_out_steps == 10.0 / 3.0
    older = json.loads(text)
    del older["confirmation"]["held_out_steps"]
    again = RangeTestResult.from_json_text(json.dumps(older))
    assert again.confirmation is not None and again.confirmation.held_out_steps is None


@pytest.mark.parametrize("bad", [0.0, -2.0, math.inf, math.nan])
def test_a_held_out_size_that_is_not_positive_is_named(bad: float) -> None:
    with pytest.raises(ValueError, match=r"held_out_steps must be"):
        _confirmation(1.0, 2.0, bad)
