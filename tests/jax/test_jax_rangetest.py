"""cyclr.jax.range_test: pure steps, the caller's state untouched, losses read in chunks."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cyclr.jax import range_test
from cyclr.rangetest import RangeTest

X = jnp.linspace(-1.0, 1.0, 128)
BATCHES = [(X[i : i + 32], 3.0 * X[i : i + 32] + 0.5) for i in range(0, 128, 32)]
OPTIMIZER = optax.inject_hyperparams(optax.sgd)(learning_rate=0.01, momentum=0.9)


def loss_fn(params: Any, batch: Any) -> Any:
    x, y = batch
    return jnp.mean((params["w"] * x + params["b"] - y) ** 2)


def train_step(params: Any, opt_state: Any, batch: Any, lr: Any) -> tuple[Any, Any, Any]:
    opt_state.hyperparams["learning_rate"] = lr
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def initial() -> tuple[Any, Any]:
    params = {"w": jnp.zeros(()), "b": jnp.zeros(())}
    return params, OPTIMIZER.init(params)


def leaves(tree: Any) -> list[np.ndarray]:
    return [np.array(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("jitted", ["jit", "jit-donating", "eager"])
def test_the_callers_params_and_state_are_untouched(jitted: str) -> None:
    step: Any = train_step
    if jitted == "jit":
        step = jax.jit(train_step)
    elif jitted == "jit-donating":
        step = jax.jit(train_step, donate_argnums=(0, 1))
    params, opt_state = initial()
    before = leaves((params, opt_state))
    result = range_test(
        step, params, opt_state, BATCHES, start_lr=1e-4, end_lr=10.0, num_steps=60, progress=False
    )
    assert result.stop_reason in ("diverged", "non_finite")
    after = leaves((params, opt_state))  # raises if a donated buffer was deleted
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert float(opt_state.hyperparams["learning_rate"]) == pytest.approx(0.01)


def test_step_i_gets_the_sweep_lr_of_step_i_as_a_float32_scalar() -> None:
    seen = []

    def spy(params: Any, state: Any, batch: Any, lr: Any) -> tuple[Any, Any, Any]:
        seen.append((jnp.shape(lr), lr.dtype))
        return params, state, 1.0 - lr  # the loss reveals the LR this step received

    result = range_test(
        jax.jit(spy),
        jnp.zeros(()),
        None,
        BATCHES,
        start_lr=1e-3,
        end_lr=1e-1,
        num_steps=25,
        progress=False,
    )
    sweep = RangeTest(1e-3, 1e-1, 25).sweep.lrs()
    assert result.stop_reason == "num_steps"
    np.testing.assert_array_equal(result.lrs[:, 0], sweep)
    np.testing.assert_array_equal(result.losses, np.float32(1.0) - sweep.astype(np.float32))
    assert seen[0] == ((), jnp.float32)


def sixty_steps(params: Any, opt_state: Any, *, sync_every: int) -> Any:
    """A 60-step sweep from 1e-4 to 10 that never reruns."""
    return range_test(
        jax.jit(train_step),
        params,
        opt_state,
        BATCHES,
        start_lr=1e-4,
        end_lr=10.0,
        num_steps=60,
        max_steps=60,
        sync_every=sync_every,
        progress=False,
    )


def test_losses_reach_the_host_only_every_sync_every_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []
    device_get = jax.device_get

    def counting(x: Any) -> Any:
        reads.append(np.shape(x))
        return device_get(x)

    monkeypatch.setattr(jax, "device_get", counting)
    params, opt_state = initial()
    with jax.transfer_guard_device_to_host("disallow"):
        result = sixty_steps(params, opt_state, sync_every=7)
    steps_run = result.settings["steps_run"]
    assert len(reads) == math.ceil(steps_run / 7)
    assert 0 <= steps_run - result.num_recorded < 7
    # Reading every step gives the same curve, without the steps past the stop.
    params, opt_state = initial()
    each = sixty_steps(params, opt_state, sync_every=1)
    np.testing.assert_array_equal(each.losses, result.losses)
    assert each.settings["steps_run"] == each.num_recorded


def test_a_nan_loss_stops_the_test() -> None:
    def step(params: Any, state: Any, batch: Any, lr: Any) -> tuple[Any, Any, Any]:
        return params, state, jnp.where(lr > 1e-2, jnp.nan, 1.0)

    result = range_test(
        step, jnp.zeros(()), None, BATCHES, start_lr=1e-4, end_lr=1.0, num_steps=50, progress=False
    )
    assert result.stop_reason == "non_finite" and math.isnan(result.losses[-1])


def test_metric_fn_every_eval_every_steps() -> None:
    params, opt_state = initial()
    result = range_test(
        jax.jit(train_step),
        params,
        opt_state,
        BATCHES,
        start_lr=1e-4,
        end_lr=0.1,
        num_steps=20,
        metric_fn=lambda p: -float(loss_fn(p, BATCHES[0])),
        eval_every=5,
        progress=False,
    )
    assert result.metrics is not None
    assert np.isfinite(result.metrics[4::5]).all() and np.isnan(result.metrics[0:4]).all()
    assert result.settings["eval_every"] == 5


def test_errors_name_the_problem() -> None:
    params, opt_state = initial()
    with pytest.raises(TypeError, match="train_step must be callable"):
        range_test(None, params, opt_state, BATCHES)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="batches must be an iterable of batches"):
        range_test(train_step, params, opt_state, 3)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"train_step must return a tuple \(params, opt_state, loss\)"
    ):
        range_test(lambda p, s, b, lr: 0.0, params, opt_state, BATCHES, progress=False)
    with pytest.raises(TypeError, match=r"\(got a tuple of 2\)"):
        range_test(lambda p, s, b, lr: (p, s), params, opt_state, BATCHES, progress=False)
    with pytest.raises(TypeError, match=r"batches must be .* not a tuple of arrays"):
        range_test(train_step, params, opt_state, BATCHES[0], progress=False)
    with pytest.raises(ValueError, match=r"scalar loss \(got loss of shape \(32,\)\)"):
        range_test(lambda p, s, b, lr: (p, s, b[0]), params, opt_state, BATCHES, progress=False)
    with pytest.raises(ValueError, match="batches was exhausted after 4 batches"):
        range_test(train_step, params, opt_state, iter(BATCHES), num_steps=10, progress=False)
    with pytest.raises(ValueError, match="eval_every needs a metric_fn"):
        range_test(train_step, params, opt_state, BATCHES, eval_every=3)
    with pytest.raises(ValueError, match="sync_every must be positive"):
        range_test(train_step, params, opt_state, BATCHES, sync_every=0)
