"""cyclr.keras.range_test says, without the run's length, how soon its confirmed LR overfits."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import keras
import numpy as np
from tests.notice_checks import SWEEP, assert_one_notice

import cyclr.keras

D = 48


def _data() -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]:
    """40 noisy examples of a sparse linear target in 48 dimensions: a fit overfits soon."""
    rng = np.random.default_rng(0)
    w = np.zeros(D)
    w[:8] = rng.normal(size=8)
    x = rng.normal(size=(40, D)).astype("float32")
    y = (x @ w + 1.5 * rng.normal(size=40)).astype("float32")
    x_val = rng.normal(size=(400, D)).astype("float32")
    return [(x, y[:, None])], [(x_val, (x_val @ w).astype("float32")[:, None])]


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((D,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def test_the_notice_names_the_steps_the_evidence_holds_and_the_caller_s_line() -> None:
    train, held_out = _data()
    with warnings.catch_warnings(record=True) as caught:  # the framework's own, too
        warnings.simplefilter("always")
        result = cyclr.keras.range_test(
            _model(),
            train,
            held_out=held_out,
            **SWEEP,
        )
    assert_one_notice(caught, result, __file__)
