"""Keras setups found from outside: a loss scaler that skips updates, the fit that follows
the test, optimizer arguments of the wrong type, schedules at the top of int32."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import keras
import numpy as np
import pytest

import cyclr.keras
from cyclr import Triangular


def test_with_a_loss_scaler_each_point_has_the_lr_its_update_used() -> None:
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        x = np.random.default_rng(0).normal(size=(2048, 20)).astype("float32")
        y = (x @ np.linspace(1, 50, 20)).astype("float32")[:, None]  # float16 gradients overflow
        batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 2048, 32)]
        model = keras.Sequential(
            [keras.Input((20,)), keras.layers.Dense(64, activation="relu"),
             keras.layers.Dense(1, dtype="float32")]
        )  # fmt: skip
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        inner, applied = model.optimizer.inner_optimizer, []

        def updates(m: Any) -> float:  # after each recorded step: the updates applied so far
            applied.append(int(keras.ops.convert_to_numpy(inner.iterations)))
            return 0.0

        start = int(keras.ops.convert_to_numpy(inner.iterations))
        result = cyclr.keras.range_test(
            model, batches, start_lr=1e-6, end_lr=1.0, num_steps=60, max_steps=60,
            metric_fn=updates, held_out=None, progress=False,
        )  # fmt: skip
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # Step i is the (i+1)-th applied update, at the LR recorded for it; skipped ones
    # were taken again at the same LR.
    assert applied == list(range(start + 1, start + 1 + result.num_recorded))
    assert int(keras.ops.convert_to_numpy(inner.iterations)) == start  # restored


def _fit_after(range_test: bool) -> list[np.ndarray]:
    x = np.random.default_rng(0).normal(size=(640, 8)).astype("float32")
    y = x[:, :3].argmax(1)
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 640, 32)]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    if range_test:
        cyclr.keras.range_test(model, batches, start_lr=1e-5, end_lr=10.0, num_steps=60,
                               progress=False)  # fmt: skip
    keras.utils.set_random_seed(1)
    model.fit(x, y, batch_size=32, epochs=1, shuffle=True, verbose=0)
    return list(model.get_weights())


def test_the_first_fit_after_the_test_is_the_fit_without_it() -> None:
    # The test builds the compiled loss and metrics; left built, fit would skip reading
    # its first batch to build them, and shuffle differently.
    for a, b in zip(_fit_after(False), _fit_after(True), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value", ["0.9", b"0.9", True, None, [0.9]])
def test_an_adam_beta_that_is_not_a_number_is_refused_by_name(value: Any) -> None:
    with pytest.raises(
        TypeError, match=r"beta_1 must be a float in \[0, 1\), a tensor, a callable"
    ):
        cyclr.keras.Adam(0.01, beta_1=value)


@pytest.mark.parametrize("step", [2**31 - 256, 2**31 - 64, 2**31 - 2, 2**31 - 1])
def test_a_schedule_is_exact_to_the_last_int32_step(step: int) -> None:
    schedule = Triangular(1e-4, 1e-2, 2000)
    got = float(keras.ops.convert_to_numpy(cyclr.keras.evaluate(schedule, np.int32(step))))
    assert got == pytest.approx(schedule(step), rel=1e-6)
