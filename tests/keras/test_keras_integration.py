"""A Dense model on sklearn digits trained with cyclr.keras, saved and resumed elsewhere."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import keras
import numpy as np
from keras import ops
from tests.keras import keras_probe
from tests.keras.keras_probe import other_probe_fixture, probe_fixture  # noqa: F401

from cyclr.keras import SGD

MAX_ULPS = 4.0


def test_training_applies_the_schedules_and_learns(probe: dict[str, Any]) -> None:
    lr = keras_probe.lr_schedule()
    momentum = lr.momentum(0.85, 0.95)
    saved = probe["saved"]
    records = [saved["before"], saved["after"]]
    steps = np.arange(2 * keras_probe.TRAIN_STEPS)
    lrs = np.concatenate([r["lr"] for r in records])
    momenta = np.concatenate([r["momentum"] for r in records])
    assert keras_probe.ulps(lrs, lr(steps)) <= MAX_ULPS
    assert keras_probe.ulps(momenta, momentum(steps)) <= MAX_ULPS
    losses = np.concatenate([r["loss"] for r in records])
    assert losses[-5:].mean() < 0.8 * losses[:5].mean()


def test_reloaded_in_its_process_it_continues_bit_for_bit(probe: dict[str, Any]) -> None:
    saved = probe["saved"]
    assert saved["reloaded_optimizer"] == "SGD"
    assert saved["reloaded"] == saved["after"]
    assert saved["weights_reloaded"] == saved["weights_after"]


def test_saved_mid_training_it_resumes_in_a_new_process(other_probe: dict[str, Any]) -> None:
    saved = other_probe["saved"]
    model = keras.models.load_model(saved["path"])
    # The compile config travels with the file; JAX's default jit_compile=True would make
    # PyTorch compile the step with torch.compile, which is beside the point here.
    model.jit_compile = False
    assert isinstance(model.optimizer, SGD)
    lr = keras_probe.lr_schedule()
    assert model.optimizer.momentum_schedule == lr.momentum(0.85, 0.95)
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == keras_probe.TRAIN_STEPS
    resumed = keras_probe.run_steps(model, keras_probe.digits_batches()[: keras_probe.TRAIN_STEPS])
    steps = np.arange(keras_probe.TRAIN_STEPS, 2 * keras_probe.TRAIN_STEPS)
    assert keras_probe.ulps(resumed["lr"], lr(steps)) <= MAX_ULPS
    assert keras_probe.ulps(resumed["lr"], saved["after"]["lr"]) <= 1.0
    # Another backend, another process: the same run up to float32 rounding.
    np.testing.assert_allclose(resumed["loss"], saved["after"]["loss"], rtol=1e-4)
    for ours, theirs in zip(keras_probe.weights(model), saved["weights_after"], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
