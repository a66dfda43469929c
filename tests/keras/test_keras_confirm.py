"""cyclr.keras.confirm: each candidate from the same state and batches, the same held-out
losses as a hand-made run, everything put back (also when interrupted), bad input named."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import math
from typing import Any

import keras
import numpy as np
import pytest
from tests.keras import keras_probe

from cyclr.errors import NoReliableSuggestionError
from cyclr.keras import confirm
from cyclr.rangetest.confirm import evaluation_steps, held_out_score

BATCHES = keras_probe.digits_batches()
TRAIN, HELD = BATCHES[:8], BATCHES[8:]


def built(model: Any) -> Any:
    """The model with its optimizer's and metrics' variables made (Keras makes them at the
    first step)."""
    model.optimizer.build(model.trainable_variables)
    model.test_on_batch(*HELD[0])
    return model


state, assert_same = keras_probe.state, keras_probe.assert_same


def by_hand(lr: float, steps: int, *, dropout: bool) -> list[float]:
    model = keras_probe.digits_model(keras.optimizers.SGD(lr, momentum=0.9), dropout=dropout)
    losses = []
    for step in range(1, steps + 1):
        x, y = TRAIN[(step - 1) % len(TRAIN)]
        model.train_on_batch(x, y)
        if step in evaluation_steps(steps):
            losses.append(
                float(
                    np.mean([model.test_on_batch(x, y, return_dict=True)["loss"] for x, y in HELD])
                )
            )
    return losses


@pytest.mark.parametrize("dropout", [False, True])
def test_candidates_match_a_hand_made_run_and_everything_comes_back(dropout: bool) -> None:
    model = built(
        keras_probe.digits_model(keras.optimizers.SGD(0.05, momentum=0.9), dropout=dropout)
    )
    before = state(model)
    lr_before = float(model.optimizer.learning_rate)
    got = confirm(model, TRAIN, lr=0.05, held_out=HELD, steps=12, offsets=(-0.5, 0.0, 0.5))
    assert_same(before, state(model))
    assert float(model.optimizer.learning_rate) == lr_before
    assert got.steps == 12 and got.steps_spent == 36
    # The held-out loss before training, which every score's rise counts from.
    fresh = keras_probe.digits_model(keras.optimizers.SGD(0.05, momentum=0.9), dropout=dropout)
    start = np.mean([fresh.test_on_batch(x, y, return_dict=True)["loss"] for x, y in HELD])
    assert got.start_loss == pytest.approx(float(start), rel=1e-5)
    for lr, score, losses in zip(got.candidates, got.scores, got.held_out_losses, strict=True):
        assert len(losses) == 2
        if not dropout:  # dropout's masks come from the RNG, restored per candidate only
            assert losses == pytest.approx(by_hand(lr, 12, dropout=False), rel=1e-5)
        assert score == held_out_score(losses, got.start_loss)
    assert got.lr == got.candidates[min(range(3), key=lambda i: (got.scores[i], i))]


def test_training_goes_on_as_if_confirm_had_not_run() -> None:
    model = keras_probe.digits_model(keras.optimizers.SGD(0.05, momentum=0.9))
    twin = keras_probe.digits_model(keras.optimizers.SGD(0.05, momentum=0.9))
    for x, y in TRAIN[:2]:  # a populated optimizer state
        model.train_on_batch(x, y)
        twin.train_on_batch(x, y)
    confirm(model, TRAIN, lr=0.05, held_out=HELD, steps=5, offsets=(0.0, 0.5))
    for x, y in TRAIN[2:5]:
        model.train_on_batch(x, y)
        twin.train_on_batch(x, y)
    assert_same(state(twin), state(model))


def test_a_diverging_candidate_scores_inf_and_every_one_diverging_is_refused() -> None:
    model = built(keras_probe.digits_model(keras.optimizers.SGD(0.05)))
    got = confirm(model, TRAIN, lr=0.05, held_out=HELD, steps=10, offsets=(0.0, 30.0))
    assert math.isfinite(got.scores[0]) and math.isinf(got.scores[1])
    assert got.lr == got.candidates[0] and got.steps_spent < 20
    before = state(model)
    with pytest.raises(NoReliableSuggestionError, match="every candidate diverged"):
        confirm(model, TRAIN, lr=1e30, held_out=HELD, steps=10, offsets=(0.0, 1.0))
    assert_same(before, state(model))


def test_an_interrupt_puts_everything_back(monkeypatch: pytest.MonkeyPatch) -> None:
    model = built(keras_probe.digits_model(keras.optimizers.SGD(0.05, momentum=0.9)))
    before = state(model)
    calls = {"n": 0}
    train_on_batch = model.train_on_batch

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return train_on_batch(*args, **kwargs)

    monkeypatch.setattr(model, "train_on_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        confirm(model, TRAIN, lr=0.05, held_out=HELD, steps=5)
    assert_same(before, state(model))
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("over", "kind", "pattern"),
    [
        ({"model": "m"}, TypeError, r"model must be a keras.Model \(got model='m'\)"),
        ({"steps": 0}, ValueError, r"steps must be positive \(got steps=0\)"),
        ({"lr": 0.0}, ValueError, r"lr must be positive \(got lr=0.0\)"),
        ({"offsets": (0.0, 0.0)}, ValueError, r"offsets must be distinct"),
        ({"held_out": []}, ValueError, r"held_out must hold at least one batch"),
        ({"held_out": "abc"}, TypeError, r"held_out must be an iterable of batches"),
        ({"data": iter(TRAIN[:2]), "steps": 5}, ValueError, r"fewer steps"),
    ],
)
def test_bad_input_is_named(over: dict[str, Any], kind: type, pattern: str) -> None:
    kwargs: dict[str, Any] = {"lr": 0.05, "held_out": HELD, "steps": 2}
    kwargs.update(over)
    model = kwargs.pop("model", keras_probe.digits_model(keras.optimizers.SGD(0.05)))
    data = kwargs.pop("data", TRAIN)
    with pytest.raises(kind, match=pattern):
        confirm(model, data, **kwargs)


def test_an_uncompiled_model_is_refused() -> None:
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="model must be compiled"):
        confirm(model, TRAIN, lr=0.05, held_out=HELD)
