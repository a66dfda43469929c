"""cyclr.jax.confirm: every candidate from copies of the same state and batches, the
caller's state untouched, the same choice as a hand-made run, bad input named."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.jax.jax_support import HELD, OPTIMIZER, TRAIN, mse, train_step

from cyclr.errors import NoReliableSuggestionError
from cyclr.jax import confirm
from cyclr.rangetest.confirm import evaluation_steps, fitted_lr, held_out_score


def initial() -> tuple[Any, Any]:
    params = {"w": jnp.zeros(4), "b": jnp.zeros(())}
    return params, OPTIMIZER.init(params)


def leaves(tree: Any) -> list[np.ndarray]:
    return [np.array(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def by_hand(lr: float, steps: int) -> list[float]:
    """The held-out losses of one candidate, trained without cyclr."""
    params, opt_state = initial()
    losses = []
    for step in range(1, steps + 1):
        params, opt_state, _ = train_step(
            params, opt_state, TRAIN[(step - 1) % len(TRAIN)], jnp.float32(lr)
        )
        if step in evaluation_steps(steps):
            losses.append(float(np.mean([float(mse(params, b)) for b in HELD])))
    return losses


@pytest.mark.parametrize("jitted", ["jit", "jit-donating", "eager"])
def test_candidates_match_a_hand_made_run_and_the_callers_state_is_untouched(
    jitted: str,
) -> None:
    step: Any = train_step
    if jitted == "jit":
        step = jax.jit(train_step)
    elif jitted == "jit-donating":
        step = jax.jit(train_step, donate_argnums=(0, 1))
    params, opt_state = initial()
    before = leaves((params, opt_state))
    got = confirm(
        step, params, opt_state, TRAIN, lr=0.02, held_out=HELD, eval_loss=jax.jit(mse), steps=25
    )
    for a, b in zip(before, leaves((params, opt_state)), strict=True):  # raises if donated
        np.testing.assert_array_equal(a, b)
    assert got.steps == 25 and got.steps_spent == 125 and got.anchor == 0.02
    start = float(np.mean([float(mse(params, b)) for b in HELD]))  # before training
    assert got.start_loss == pytest.approx(start, rel=1e-6)
    for lr, score, losses in zip(got.candidates, got.scores, got.held_out_losses, strict=True):
        assert losses == pytest.approx(by_hand(lr, 25), rel=1e-5)
        assert score == held_out_score(losses, got.start_loss)
    best = got.candidates[min(range(5), key=lambda i: (got.scores[i], i))]
    assert got.lr == (fitted_lr(got.candidates, got.scores) or best)


def test_a_diverging_candidate_scores_inf_and_stops_early() -> None:
    params, opt_state = initial()
    got = confirm(
        jax.jit(train_step),
        params,
        opt_state,
        TRAIN,
        lr=0.01,
        held_out=HELD,
        eval_loss=mse,
        steps=40,
        offsets=(0.0, 4.0),
    )
    assert math.isfinite(got.scores[0]) and math.isinf(got.scores[1])
    assert got.lr == got.candidates[0]
    assert got.steps_spent < 80


def test_every_candidate_diverging_is_refused() -> None:
    params, opt_state = initial()
    with pytest.raises(NoReliableSuggestionError, match="every candidate diverged"):
        confirm(
            train_step,
            params,
            opt_state,
            TRAIN,
            lr=1e4,
            held_out=HELD,
            eval_loss=mse,
            steps=30,
            offsets=(0.0, 1.0),
        )


def _call(**over: Any) -> None:
    params, opt_state = initial()
    kwargs: dict[str, Any] = {"lr": 0.01, "held_out": HELD, "eval_loss": mse, "steps": 2}
    kwargs.update(over)
    step = kwargs.pop("train_step", train_step)
    data = kwargs.pop("batches", TRAIN)
    confirm(step, params, opt_state, data, **kwargs)


@pytest.mark.parametrize(
    ("over", "kind", "pattern"),
    [
        ({"train_step": None}, TypeError, r"train_step must be callable \(got train_step=None\)"),
        ({"eval_loss": 3}, TypeError, r"eval_loss must be callable \(got eval_loss=3\)"),
        ({"steps": 0}, ValueError, r"steps must be positive \(got steps=0\)"),
        ({"lr": -1.0}, ValueError, r"lr must be positive \(got lr=-1.0\)"),
        ({"offsets": ()}, ValueError, r"offsets must hold 1 to 16"),
        ({"lr": 1e-30, "offsets": (-20.0,)}, ValueError, r"underflows in float32"),
        ({"held_out": []}, ValueError, r"held_out must hold at least one batch"),
        ({"held_out": "abc"}, TypeError, r"held_out must be an iterable of batches"),
        ({"batches": {"x": 1}}, TypeError, r"batches must be an iterable of batches"),
        ({"batches": iter(TRAIN[:2]), "steps": 5}, ValueError, r"fewer steps"),
        (
            {"train_step": lambda p, s, b, lr: (p, s)},
            TypeError,
            r"train_step must return a tuple \(params, opt_state, loss\)",
        ),
        (
            {"train_step": lambda p, s, b, lr: (p, s, jnp.zeros(3))},
            ValueError,
            r"train_step must return a scalar loss \(got loss of shape \(3,\)\)",
        ),
    ],
)
def test_bad_input_is_named(over: dict[str, Any], kind: type, pattern: str) -> None:
    with pytest.raises(kind, match=pattern):
        _call(**over)
