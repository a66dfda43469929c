"""cyclr.jax.to_optax: the float64 curve in float32, under jit, vmap and optax."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pickle
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cyclr import Constant, ExpRange, OneCycle, Triangular, Triangular2, warmup
from cyclr.jax import OptaxSchedule, evaluate, to_optax

MAX_ULPS = 4.0
STEPS = np.arange(6000)
KINDS = {
    "triangular": Triangular(0.001, 0.006, step_size_up=500, step_size_down=1500),
    "triangular2": Triangular2(0.001, 0.006, step_size_up=400),
    "exp_range": ExpRange(0.001, 0.006, step_size_up=400, gamma=0.9997),
    "onecycle": OneCycle(max_lr=0.1, total_steps=6000),
    "warmup": warmup(OneCycle(max_lr=0.1, total_steps=5000), 1000),
    "momentum": OneCycle(max_lr=0.1, total_steps=6000).momentum(0.85, 0.95),
}


def ulps(values: Any, reference: Any) -> float:
    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(values, dtype=np.float32).astype(np.float64)
    return float(np.max(np.abs(got - ref) / np.spacing(np.abs(ref).astype(np.float32))))


@pytest.mark.parametrize("name", list(KINDS))
def test_within_a_few_ulps_under_jit_vmap_and_eagerly(name: str) -> None:
    schedule = KINDS[name]
    reference = schedule(STEPS)
    optax_schedule = to_optax(schedule)
    steps = jnp.asarray(STEPS, dtype=jnp.int32)
    jitted = jax.jit(optax_schedule)(steps)
    mapped = jax.jit(jax.vmap(optax_schedule))(steps)
    assert jitted.dtype == jnp.float32 and jitted.shape == STEPS.shape
    assert ulps(jitted, reference) <= MAX_ULPS
    assert ulps(mapped, reference) <= MAX_ULPS
    few = [0, 1, 499, 500, 2000, 5999]
    assert ulps([optax_schedule(i) for i in few], reference[few]) <= MAX_ULPS


def test_plain_float32_evaluation_would_not_be() -> None:
    # The reason for the double-float ops: the same formula on float32 steps.
    schedule = KINDS["triangular"]
    x = jnp.asarray(STEPS, dtype=jnp.float32)
    cycle = jnp.floor(1.0 + x / 2000.0)
    pos = 1.0 + x / 2000.0 - cycle
    s = jnp.where(pos <= 0.25, pos / 0.25, (pos - 1.0) / (0.25 - 1.0))
    naive = 0.001 + (0.006 - 0.001) * s
    assert ulps(naive, schedule(STEPS)) > 5 * MAX_ULPS


def test_x64_mode_evaluates_in_float64() -> None:
    schedule = KINDS["onecycle"]
    with jax.enable_x64(True):
        values = jax.jit(to_optax(schedule))(jnp.arange(6000))
        assert values.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(values), schedule(STEPS), rtol=1e-13, atol=0)


def test_inject_hyperparams_steps_lr_and_b1_like_the_schedules() -> None:
    lr = OneCycle(max_lr=0.01, total_steps=200)
    momentum = lr.momentum(0.85, 0.95)
    optimizer = optax.inject_hyperparams(optax.adam)(
        learning_rate=to_optax(lr), b1=to_optax(momentum)
    )
    params = {"w": jnp.ones(3)}

    def step(state: Any, _: Any) -> tuple[Any, tuple[Any, Any]]:
        _, state = optimizer.update({"w": jnp.ones(3)}, state, params)
        return state, (state.hyperparams["learning_rate"], state.hyperparams["b1"])

    _, (lrs, b1s) = jax.jit(lambda s: jax.lax.scan(step, s, None, length=200))(
        optimizer.init(params)
    )
    steps = np.arange(200)
    assert ulps(lrs, lr(steps)) <= MAX_ULPS
    assert ulps(b1s, momentum(steps)) <= MAX_ULPS


def test_accepts_python_numpy_and_jax_integers() -> None:
    schedule = to_optax(Triangular(0.001, 0.006, 10))
    for step in (7, np.int64(7), jnp.int32(7), np.array([7, 7])):
        assert np.allclose(np.asarray(schedule(step)), 0.0045, rtol=1e-7)
    assert schedule(np.array([[1, 2], [3, 4]])).shape == (2, 2)


def test_refuses_bad_steps_and_non_schedules() -> None:
    schedule = to_optax(Constant(0.1))
    with pytest.raises(ValueError, match=r"step must be non-negative \(got step=-1\)"):
        schedule(-1)
    with pytest.raises(ValueError, match="step must hold whole numbers"):
        schedule(np.array([1.5]))
    with pytest.raises(TypeError, match="step must be an integer"):
        schedule(True)
    with pytest.raises(TypeError, match=r"schedule must be a cyclr Schedule \(got schedule=0.1\)"):
        to_optax(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="schedule must be a cyclr Schedule"):
        evaluate(optax.constant_schedule(0.1), 3)  # type: ignore[arg-type]


def test_pickles_compares_and_reads_like_the_schedule() -> None:
    schedule = to_optax(KINDS["warmup"])
    restored = pickle.loads(pickle.dumps(schedule))
    assert isinstance(restored, OptaxSchedule) and restored == schedule
    assert repr(schedule).startswith("OptaxSchedule(schedule=Join(")


def test_optax_training_loop_learns_digits() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = jnp.asarray(digits.data[:320] / 16.0, dtype=jnp.float32)
    y = jnp.asarray(digits.target[:320])
    steps = 60
    lr = OneCycle(max_lr=0.5, total_steps=steps)
    optimizer = optax.inject_hyperparams(optax.sgd)(
        learning_rate=to_optax(lr), momentum=to_optax(lr.momentum(0.85, 0.95))
    )
    params = {"w": jnp.zeros((64, 10)), "b": jnp.zeros(10)}

    def loss_fn(p: Any, xb: Any, yb: Any) -> Any:
        logits = xb @ p["w"] + p["b"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def train_step(p: Any, state: Any, i: Any) -> tuple[Any, Any, Any]:
        xb = jax.lax.dynamic_slice_in_dim(x, (i % 10) * 32, 32)
        yb = jax.lax.dynamic_slice_in_dim(y, (i % 10) * 32, 32)
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        updates, state = optimizer.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    state = optimizer.init(params)
    losses, lrs = [], []
    for i in range(steps):
        params, state, loss = train_step(params, state, i)
        losses.append(float(loss))
        lrs.append(float(state.hyperparams["learning_rate"]))
    assert ulps(lrs, lr(np.arange(steps))) <= MAX_ULPS
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
