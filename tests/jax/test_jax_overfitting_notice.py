"""cyclr.jax.range_test says, without the run's length, how soon its confirmed LR overfits."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import jax
import jax.numpy as jnp
import optax
from tests.notice_checks import SWEEP, assert_one_notice

import cyclr.jax

D = 48
OPT = optax.inject_hyperparams(optax.sgd)(learning_rate=0.01)


def _mse(params: Any, batch: Any) -> Any:
    x, y = batch
    return jnp.mean((x @ params["w"] - y) ** 2)


def _step(params: Any, state: Any, batch: Any, lr: float) -> tuple[Any, Any, Any]:
    state.hyperparams["learning_rate"] = lr
    loss, grads = jax.value_and_grad(_mse)(params, batch)
    updates, state = OPT.update(grads, state, params)
    return optax.apply_updates(params, updates), state, loss


def test_the_notice_names_the_steps_the_evidence_holds_and_the_caller_s_line() -> None:
    # 40 noisy examples of a sparse linear target in 48 dimensions: a fit overfits soon.
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    w = jax.random.normal(keys[0], (D,)) * (jnp.arange(D) < 8)
    x = jax.random.normal(keys[1], (40, D))
    y = x @ w + 1.5 * jax.random.normal(keys[2], (40,))
    x_val = jax.random.normal(keys[3], (400, D))
    params = {"w": jnp.zeros(D)}
    with warnings.catch_warnings(record=True) as caught:  # the framework's own, too
        warnings.simplefilter("always")
        result = cyclr.jax.range_test(
            _step,
            params,
            OPT.init(params),
            [(x, y)],
            held_out=[(x_val, x_val @ w)],
            eval_loss=_mse,
            **SWEEP,
        )
    assert_one_notice(caught, result, __file__)
