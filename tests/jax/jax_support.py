"""The small least-squares problem the JAX confirmation tests share: data, loss, step."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import jax
import jax.numpy as jnp
import optax

X = jax.random.normal(jax.random.PRNGKey(0), (160, 4))
Y = X @ jnp.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (160,))
TRAIN = [(X[i : i + 16], Y[i : i + 16]) for i in range(0, 128, 16)]
HELD = [(X[128:144], Y[128:144]), (X[144:], Y[144:])]
OPTIMIZER = optax.inject_hyperparams(optax.sgd)(learning_rate=0.01, momentum=0.9)


def mse(params: Any, batch: Any) -> Any:
    """Mean squared error of the linear model ``x @ w + b``."""
    x, y = batch
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def train_step(params: Any, opt_state: Any, batch: Any, lr: Any) -> tuple[Any, Any, Any]:
    """One SGD step at ``lr`` (not jitted: each test jits it as it needs)."""
    opt_state.hyperparams["learning_rate"] = lr
    loss, grads = jax.value_and_grad(mse)(params, batch)
    updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss
