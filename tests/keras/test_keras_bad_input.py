"""Keras: the wrong door points to the right one, concrete bad steps are refused."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

import cyclr.keras as ck
from cyclr import Linear, Triangular

TRI = Triangular(0.001, 0.006, 10)
MOM = TRI.momentum(0.85, 0.95)

STEP_CASES = {
    "negative": (-1, ValueError, "step=-1"),
    "fraction": (2.5, ValueError, "step=2.5"),
    "nan": (float("nan"), ValueError, "step=nan"),
    "numpy-negative": (np.int64(-4), ValueError, "step=-4"),
    "array-negative": (np.array([1, -2]), ValueError, "step=array([ 1, -2])"),
    "array-fraction": (np.array([0.5]), ValueError, "step=array([0.5])"),
    "string": ("1", TypeError, "step='1'"),
    "minus-huge": (-(10**400), ValueError, "step=-1000...0 (401 digits)"),
}


@pytest.mark.parametrize("step, error, needle", list(STEP_CASES.values()), ids=list(STEP_CASES))
def test_keras_schedule_refuses_concrete_bad_steps(step: Any, error: type, needle: str) -> None:
    with pytest.raises(error) as info:
        ck.Schedule(TRI)(step)
    assert needle in str(info.value), str(info.value)


def test_keras_schedule_refuses_a_negative_eager_tensor_step() -> None:
    step = keras.ops.convert_to_tensor(-3)
    with pytest.raises(ValueError, match="step must be non-negative"):
        ck.Schedule(TRI)(step)


OPTIMIZER_CASES: dict[str, tuple[Callable[[], Any], type, tuple[str, ...]]] = {
    "SGD-bare-lr-schedule": (
        lambda: ck.SGD(learning_rate=TRI),
        TypeError,
        ("cyclr.keras.Schedule(schedule)", "learning_rate=Triangular"),
    ),
    "Adam-bare-lr-schedule": (
        lambda: ck.Adam(learning_rate=TRI),
        TypeError,
        ("cyclr.keras.Schedule(schedule)", "learning_rate=Triangular"),
    ),
    "AdamW-bare-lr-schedule": (
        lambda: ck.AdamW(learning_rate=TRI),
        TypeError,
        ("cyclr.keras.Schedule(schedule)", "learning_rate=Triangular"),
    ),
    "SGD-momentum-as-lr": (
        lambda: ck.SGD(learning_rate=ck.Schedule(MOM)),
        TypeError,
        ("momentum schedule", "learning_rate=Momentum"),
    ),
    "Adam-momentum-as-lr": (
        lambda: ck.Adam(learning_rate=ck.Schedule(MOM)),
        TypeError,
        ("momentum schedule", "learning_rate=Momentum"),
    ),
    "SGD-momentum=1.5": (lambda: ck.SGD(momentum=1.5), ValueError, ("momentum=1.5", "[0, 1]")),
    "SGD-momentum=-0.1": (lambda: ck.SGD(momentum=-0.1), ValueError, ("momentum=-0.1",)),
    "SGD-momentum=int": (lambda: ck.SGD(momentum=1), TypeError, ("momentum=1", "a float")),
    "SGD-momentum=str": (lambda: ck.SGD(momentum="0.9"), TypeError, ("momentum='0.9'",)),
    "SGD-momentum=None": (lambda: ck.SGD(momentum=None), TypeError, ("momentum=None",)),
    "Adam-beta_1=1.0": (lambda: ck.Adam(beta_1=1.0), ValueError, ("beta_1=1.0", "[0, 1)")),
    "Adam-beta_1=-0.5": (lambda: ck.Adam(beta_1=-0.5), ValueError, ("beta_1=-0.5",)),
    "AdamW-beta_1=2": (lambda: ck.AdamW(beta_1=2), ValueError, ("beta_1=2",)),
    "SGD-momentum-schedule-at-1": (
        lambda: ck.SGD(momentum=Linear(1.0, 0.5, 10)),
        ValueError,
        ("momentum must stay in (0, 1)", "starting at 1.0"),
    ),
}


@pytest.mark.parametrize(
    "build, error, needles", list(OPTIMIZER_CASES.values()), ids=list(OPTIMIZER_CASES)
)
def test_cyclr_optimizers_refuse_at_construction(
    build: Callable[[], Any], error: type, needles: tuple[str, ...]
) -> None:
    with pytest.raises(error) as info:
        build()
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_keras_optimizer_with_a_bare_schedule_names_the_wrapper_at_the_first_lr_read() -> None:
    # Keras runs no schedule code at construction; the first read of the LR fails clearly.
    optimizer = keras.optimizers.SGD(learning_rate=TRI)
    with pytest.raises(TypeError, match=r"called without a step.*cyclr\.keras\.Schedule"):
        _ = optimizer.learning_rate


def test_keras_adam_with_a_bare_momentum_schedule_names_the_cyclr_optimizer() -> None:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(beta_1=MOM), loss="mse")
    with pytest.raises(TypeError, match=r"not a number.*cyclr\.keras\.Adam\(beta_1=\.\.\.\)"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "keras-schedule"])
def test_schedules_refuse_float_conversion_naming_the_cyclr_optimizers(wrapped: bool) -> None:
    value = ck.Schedule(MOM) if wrapped else MOM
    with pytest.raises(TypeError, match=r"cyclr\.keras\.SGD\(momentum=\.\.\.\)"):
        float(value)
