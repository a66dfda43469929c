"""cyclr.keras.SGD / Adam / AdamW: momentum that follows a schedule, step by step."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import keras
import numpy as np
import pytest
from keras import ops

from cyclr import Constant, OneCycle, Triangular
from cyclr.keras import SGD, Adam, AdamW, Schedule

STEPS = 30
RNG = np.random.default_rng(0)
GRADS = RNG.normal(size=(STEPS, 5)).astype("float32")
START = RNG.normal(size=5).astype("float32")
LR = OneCycle(max_lr=0.05, total_steps=STEPS)
MOMENTUM = LR.momentum(0.8, 0.95)


def apply_all(optimizer: Any) -> np.ndarray:
    variable = keras.Variable(START.copy())
    for grad in GRADS:
        optimizer.apply([ops.convert_to_tensor(grad)], [variable])
    return np.asarray(ops.convert_to_numpy(variable.value), dtype=np.float64)


def sgd_reference(nesterov: bool) -> np.ndarray:
    w, v = START.astype(np.float64), np.zeros(5)
    for i, g in enumerate(GRADS.astype(np.float64)):
        lr, m = LR(i), MOMENTUM(i)
        v = m * v - g * lr
        w = w + (m * v - g * lr if nesterov else v)
    return w


def adam_reference(weight_decay: float | None = None) -> np.ndarray:
    w, m1, m2 = START.astype(np.float64), np.zeros(5), np.zeros(5)
    b2, eps = 0.999, 1e-7
    for i, g in enumerate(GRADS.astype(np.float64)):
        lr, b1, t = LR(i), MOMENTUM(i), i + 1
        if weight_decay:
            w = w * (1 - weight_decay * lr)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m1 = m1 + (g - m1) * (1 - b1)
        m2 = m2 + (g * g - m2) * (1 - b2)
        w = w - m1 * alpha / (np.sqrt(m2) + eps)
    return w


@pytest.mark.parametrize("nesterov", [False, True], ids=["plain", "nesterov"])
def test_sgd_momentum_follows_the_schedule_every_step(nesterov: bool) -> None:
    optimizer = SGD(learning_rate=Schedule(LR), momentum=MOMENTUM, nesterov=nesterov)
    np.testing.assert_allclose(apply_all(optimizer), sgd_reference(nesterov), rtol=1e-5, atol=1e-5)
    # The same run with the momentum frozen at its start differs: the schedule acts.
    frozen = SGD(learning_rate=Schedule(LR), momentum=0.95, nesterov=nesterov)
    assert np.max(np.abs(apply_all(frozen) - sgd_reference(nesterov))) > 1e-3


def test_adam_beta_1_follows_the_schedule_every_step() -> None:
    optimizer = Adam(learning_rate=Schedule(LR), beta_1=Schedule(MOMENTUM))
    np.testing.assert_allclose(apply_all(optimizer), adam_reference(), rtol=1e-5, atol=1e-5)


def test_adamw_beta_1_follows_the_schedule_with_decoupled_decay() -> None:
    optimizer = AdamW(learning_rate=Schedule(LR), weight_decay=0.1, beta_1=MOMENTUM)
    np.testing.assert_allclose(apply_all(optimizer), adam_reference(0.1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: SGD(0.01, momentum=Constant(0.9)), lambda: keras.optimizers.SGD(0.01, 0.9)),
        (lambda: SGD(0.01, momentum=0.9), lambda: keras.optimizers.SGD(0.01, 0.9)),
        (lambda: Adam(0.01, beta_1=Constant(0.9)), lambda: keras.optimizers.Adam(0.01, 0.9)),
        (lambda: AdamW(0.01, beta_1=0.9), lambda: keras.optimizers.AdamW(0.01, beta_1=0.9)),
    ],
    ids=["sgd-constant-schedule", "sgd-float", "adam-constant-schedule", "adamw-float"],
)
def test_a_constant_momentum_matches_the_keras_optimizer(ours: Any, theirs: Any) -> None:
    np.testing.assert_allclose(apply_all(ours()), apply_all(theirs()), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW], ids=lambda c: c.__name__)
def test_config_round_trips_with_the_schedules(cls: Any) -> None:
    key = "momentum" if cls is SGD else "beta_1"
    optimizer = cls(learning_rate=Schedule(LR), **{key: MOMENTUM})
    config = keras.saving.serialize_keras_object(optimizer)
    assert config["registered_name"] == f"cyclr>{cls.__name__}"
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is cls
    schedule_attr = "momentum_schedule" if cls is SGD else "beta_1_schedule"
    assert getattr(restored, schedule_attr) == MOMENTUM
    assert restored.learning_rate is not None and restored._learning_rate == Schedule(LR)


def test_float_momentum_keeps_the_keras_config() -> None:
    ours = SGD(0.01, momentum=0.9, nesterov=True).get_config()
    theirs = keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True).get_config()
    assert {k: v for k, v in ours.items() if k != "name"} == {
        k: v for k, v in theirs.items() if k != "name"
    }


@pytest.mark.parametrize(("cls", "key"), [(SGD, "momentum"), (Adam, "beta_1"), (AdamW, "beta_1")])
def test_a_schedule_must_start_inside_0_1(cls: Any, key: str) -> None:
    with pytest.raises(
        ValueError, match=rf"{key} must stay in \(0, 1\) \(got a {key} schedule starting at 1.5\)"
    ):
        cls(**{key: Constant(1.5)})
    # An LR schedule (values far below 1) is accepted as a momentum schedule as is.
    cls(**{key: Triangular(0.001, 0.006, 10)})
