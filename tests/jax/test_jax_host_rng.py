"""cyclr.jax.range_test leaves NumPy's and Python's generators as they were, replays them
for every pass (a loader that shuffles with them holds batches aside), and its optax
schedules are exact to the last int32 step."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import random
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cyclr.jax
from cyclr import Triangular

X = np.random.default_rng(1).normal(size=(512, 4)).astype("float32")
Y = X.sum(1)


class Shuffled:
    """A re-iterable loader shuffling each pass with NumPy's global generator."""

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        order = np.random.permutation(512)
        for i in range(0, 512, 32):
            rows = order[i : i + 32]
            yield X[rows], Y[rows]


def _loss(w: Any, batch: Any) -> Any:
    return jnp.mean((batch[0] @ w - batch[1]) ** 2)


@jax.jit
def _step(w: Any, state: Any, batch: Any, lr: Any) -> Any:
    loss, grad = jax.value_and_grad(_loss)(w, batch)
    return w - lr * grad, state, loss


def test_a_loader_shuffling_with_numpy_is_held_aside_from_and_left_as_it_was() -> None:
    np.random.seed(0)
    random.seed(0)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    result = cyclr.jax.range_test(
        _step, jnp.zeros(4), None, Shuffled(), start_lr=1e-4, end_lr=10.0, num_steps=50,
        held_out="auto", eval_loss=jax.jit(_loss), progress=False,
    )  # fmt: skip
    assert result.settings["held_out"] == "auto: the first 3 batches (96 examples) held aside"
    assert result.confirmation is not None
    numpy_after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_before, numpy_after, strict=True))
    assert random.getstate() == python_before


@pytest.mark.parametrize("step", [2**31 - 256, 2**31 - 64, 2**31 - 2, 2**31 - 1])
def test_an_optax_schedule_is_exact_to_the_last_int32_step(step: int) -> None:
    schedule = Triangular(1e-4, 1e-2, 2000)
    got = float(cyclr.jax.to_optax(schedule)(jnp.int32(step)))
    assert got == pytest.approx(schedule(step), rel=1e-6)
