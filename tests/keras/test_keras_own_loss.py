"""A Keras model compiled without a loss (its own, ``add_loss``) is confirmed on batches of
``x`` alone; one with a compiled loss still needs targets, named."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import keras
import numpy as np
import pytest
from tests.keras import keras_probe

from cyclr.keras import range_test

X = np.concatenate([b[0] for b in keras_probe.digits_batches()])
SWEEP: dict[str, Any] = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 60, "progress": False}


class _AutoEncoder(keras.Model):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.encode = keras.layers.Dense(16, activation="relu")
        self.decode = keras.layers.Dense(64)

    def call(self, x: Any, training: bool | None = None) -> Any:
        out = self.decode(self.encode(x))
        self.add_loss(keras.ops.mean((out - x) ** 2))
        return out


def test_an_add_loss_model_is_confirmed_on_inputs_alone() -> None:
    keras.utils.set_random_seed(0)
    model = _AutoEncoder()
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))  # no loss: its own
    batches = [X[i : i + 32] for i in range(0, len(X), 32)]
    got = range_test(model, batches, **SWEEP)
    assert got.confirmation is not None and got.suggest().method == "confirmed"
    got = range_test(model, batches[2:], held_out=batches[:2], **SWEEP)
    assert got.confirmation is not None


def test_a_compiled_loss_still_needs_targets() -> None:
    model = keras_probe.digits_model(keras.optimizers.SGD(0.05))
    with pytest.raises(ValueError, match=r"held_out\[0\] must be an \(x, y\)"):
        range_test(model, keras_probe.digits_batches(), held_out=[X[:32]], **SWEEP)
