"""``cyclr.jax.range_test(..., held_out=..., eval_loss=...)``: the sweep, then the
confirmation of its suggestion, in one call; the result answers from the confirmation,
the caller's state is untouched, bad input is named before the first step."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.jax.jax_support import HELD, OPTIMIZER, TRAIN, mse
from tests.jax.jax_support import train_step as step_fn

from cyclr.jax import confirm, range_test
from cyclr.rangetest import RangeTestResult
from cyclr.rangetest.confirm import fitted_lr

SWEEP: dict[str, Any] = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 60, "progress": False}


train_step = jax.jit(step_fn)
EVAL_LOSS = jax.jit(mse)


def initial() -> tuple[Any, Any]:
    params = {"w": jnp.zeros(4), "b": jnp.zeros(())}
    return params, OPTIMIZER.init(params)


def leaves(tree: Any) -> list[np.ndarray]:
    return [np.array(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def counting(calls: dict[str, int]) -> Any:
    def step(params: Any, opt_state: Any, batch: Any, lr: Any) -> tuple[Any, Any, Any]:
        calls["n"] += 1
        return train_step(params, opt_state, batch, lr)

    return step


@pytest.mark.parametrize("donating", [False, True])
def test_held_out_confirms_the_curves_suggestion_and_leaves_the_state_untouched(
    donating: bool,
) -> None:
    step = jax.jit(step_fn, donate_argnums=(0, 1)) if donating else train_step
    params, opt_state = initial()
    before = leaves((params, opt_state))
    got = range_test(
        step,
        params,
        opt_state,
        TRAIN,
        held_out=HELD,
        eval_loss=EVAL_LOSS,
        confirm_steps=12,
        **SWEEP,
    )
    for a, b in zip(before, leaves((params, opt_state)), strict=True):  # raises if donated
        np.testing.assert_array_equal(a, b)
    c = got.confirmation
    assert c is not None and c.steps == 12 and c.steps_spent <= 5 * 12
    assert c.anchor == got.suggest("bottom").lr
    suggestion = got.suggest()
    assert suggestion.method == "confirmed" and suggestion.lr == c.lr
    fitted = fitted_lr(c.candidates, c.scores)
    assert suggestion.lr == (c.candidates[c.best] if fitted is None else fitted)
    assert got.clr_bounds() == c.bounds()
    assert got.steps_spent == got.settings["steps_run_total"] + c.steps_spent


def _one_call(**extra: Any) -> RangeTestResult:
    """``range_test(..., held_out=HELD, eval_loss=EVAL_LOSS, confirm_steps=12)`` from the start."""
    params, opt_state = initial()
    return range_test(
        train_step,
        params,
        opt_state,
        TRAIN,
        held_out=HELD,
        eval_loss=EVAL_LOSS,
        confirm_steps=12,
        **SWEEP,
        **extra,
    )


def test_the_one_call_is_the_sweep_then_confirm() -> None:
    params, opt_state = initial()
    got = _one_call()
    plain = range_test(train_step, params, opt_state, TRAIN, **SWEEP)
    assert plain.confirmation is None and plain.suggest().method == "bottom"
    again = confirm(
        train_step,
        params,
        opt_state,
        TRAIN,
        lr=plain.suggest().lr,
        held_out=HELD,
        eval_loss=EVAL_LOSS,
        steps=12,
    )
    c = got.confirmation
    assert c is not None
    assert (again.lr, again.scores, again.candidates) == (c.lr, c.scores, c.candidates)
    assert again == c


@pytest.mark.parametrize(
    ("over", "kind", "pattern"),
    [
        (
            {"confirm_steps": 0},
            ValueError,
            r"confirm_steps must be positive \(got confirm_steps=0\)",
        ),
        ({"confirm_steps": 1.5}, TypeError, r"confirm_steps must be an integer"),
        ({"held_out": []}, ValueError, r"held_out must hold at least one batch"),
        (
            {"held_out": "abc"},
            ValueError,
            r"held_out must be validation batches, 'auto' .*\(got held_out='abc'\)",
        ),
        (
            {"eval_loss": None},
            ValueError,
            r"held_out and eval_loss go together.*eval_loss=None with held_out of type list",
        ),
        (
            {"held_out": None},
            ValueError,
            r"held_out and eval_loss go together.*held_out=None with eval_loss=.*held_out='auto'",
        ),
        ({"eval_loss": 3}, TypeError, r"eval_loss must be callable \(got eval_loss=3\)"),
        ({"held_out": HELD[0][0]}, TypeError, r"held_out must be an iterable of batches"),
        (
            {"eval_loss": lambda p, b: (b[0] @ p["w"] - b[1]) ** 2},  # per-example losses
            ValueError,
            r"eval_loss must return a scalar.*of shape \(16,\)",
        ),
        (
            {"held_out": HELD[0]},  # (x, y) instead of [(x, y)]
            TypeError,
            r"held_out must be .* not a tuple of arrays",
        ),
        ({"total_steps": 0}, ValueError, r"total_steps must be positive \(got total_steps=0\)"),
        ({"total_steps": 300.0}, TypeError, r"total_steps must be an integer"),
        (
            {"held_out": None, "eval_loss": None, "total_steps": 300},
            ValueError,
            r"total_steps fits .*needs the confirmation.*\(got total_steps=300, held_out=None\)",
        ),
    ],
)
def test_bad_confirmation_input_is_named_before_the_first_step(
    over: dict[str, Any], kind: type, pattern: str
) -> None:
    params, opt_state = initial()
    calls = {"n": 0}
    kwargs: dict[str, Any] = {"held_out": HELD, "eval_loss": EVAL_LOSS, **SWEEP, **over}
    with pytest.raises(kind, match=pattern):
        range_test(counting(calls), params, opt_state, TRAIN, **kwargs)
    assert calls["n"] == 0


def test_without_held_out_there_is_no_confirmation() -> None:
    params, opt_state = initial()
    calls = {"n": 0}
    got = range_test(counting(calls), params, opt_state, TRAIN, **SWEEP)
    assert got.confirmation is None and got.suggest().method != "confirmed"
    assert calls["n"] == got.settings["steps_run_total"] == got.steps_spent


def test_a_curve_with_nothing_to_confirm_is_returned_with_a_warning() -> None:
    params, opt_state = initial()
    calls = {"n": 0}
    flat = SWEEP | {"start_lr": 1e-9, "end_lr": 1e-8, "max_steps": 60}  # the loss never moves
    with pytest.warns(RuntimeWarning, match="no suggestion to confirm"):
        got = range_test(
            counting(calls), params, opt_state, TRAIN, held_out=HELD, eval_loss=EVAL_LOSS, **flat
        )
    assert got.confirmation is None and calls["n"] == 60


def test_total_steps_is_kept_and_fits_the_confirmed_lr() -> None:
    got = _one_call(total_steps=900)
    assert got.settings["total_steps"] == 900
    assert got.suggest() == got.suggest(total_steps=900)
    assert got.suggest().evidence["total_steps"] == 900


def test_auto_holds_the_first_batches_aside_and_confirms_on_them() -> None:
    # HELD + TRAIN: ten batches, so a fifth of the pass, the first two, are held aside.
    got = _one_call_on(HELD + TRAIN, held_out="auto")
    assert got.settings["held_out"] == "auto: the first 2 batches (32 examples) held aside"
    explicit = _one_call_on(TRAIN, held_out=HELD)
    assert got.confirmation == explicit.confirmation
    np.testing.assert_array_equal(got.losses, explicit.losses)
    params, opt_state = initial()
    with pytest.raises(ValueError, match=r"held_out='auto' .* pass eval_loss="):
        range_test(train_step, params, opt_state, TRAIN, held_out="auto", **SWEEP)
    with pytest.raises(ValueError, match=r"held_out must be .*'auto'.*\(got held_out='val'\)"):
        range_test(train_step, params, opt_state, TRAIN, held_out="val", **SWEEP)


def _one_call_on(batches: list[Any], held_out: Any) -> RangeTestResult:
    params, opt_state = initial()
    return range_test(
        train_step, params, opt_state, batches, held_out=held_out, eval_loss=EVAL_LOSS,
        confirm_steps=12, **SWEEP,
    )  # fmt: skip
