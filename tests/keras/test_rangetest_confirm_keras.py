"""``cyclr.keras.range_test(..., held_out=...)``: the sweep, then the confirmation of its
suggestion, in one call; the result answers from the confirmation, everything is restored,
bad input is named before the first step."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import keras
import numpy as np
import pytest
from tests.keras import keras_probe

from cyclr.keras import confirm, range_test
from cyclr.rangetest.confirm import fitted_lr

BATCHES = keras_probe.digits_batches()
TRAIN, HELD = BATCHES[:8], BATCHES[8:]
SWEEP: dict[str, Any] = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 60, "progress": False}


def make_model() -> Any:
    """The digits classifier with SGD + momentum, its optimizer's and metrics' variables made
    (Keras makes them at the first step), so a state taken before a call can be compared."""
    model = keras_probe.digits_model(keras.optimizers.SGD(0.05, momentum=0.9))
    model.optimizer.build(model.trainable_variables)
    model.test_on_batch(*HELD[0])
    return model


state, assert_same = keras_probe.state, keras_probe.assert_same


def count_steps(model: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the model's ``train_on_batch`` calls (every training step of both stages)."""
    calls = {"n": 0}
    train_on_batch = model.train_on_batch

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return train_on_batch(*args, **kwargs)

    monkeypatch.setattr(model, "train_on_batch", counted)
    return calls


def test_held_out_confirms_the_curves_suggestion_and_restores_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = make_model()
    before = state(model)
    calls = count_steps(model, monkeypatch)
    got = range_test(model, TRAIN, held_out=HELD, confirm_steps=12, **SWEEP)
    assert_same(before, state(model))
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    c = got.confirmation
    assert c is not None and c.steps == 12
    assert c.anchor == got.suggest("bottom").lr
    suggestion = got.suggest()
    assert suggestion.method == "confirmed" and suggestion.lr == c.lr
    fitted = fitted_lr(c.candidates, c.scores)
    assert suggestion.lr == (c.candidates[c.best] if fitted is None else fitted)
    assert got.clr_bounds() == c.bounds() != got.clr_bounds(rule="smith")
    assert got.steps_spent == got.settings["steps_run_total"] + c.steps_spent
    assert calls["n"] == got.steps_spent


def test_one_call_is_the_sweep_then_confirm_around_its_suggestion() -> None:
    # Exact on Keras' torch backend on the CPU (no dropout: the same variables, batches
    # and float operations give the same numbers), and on JAX's CPU backend too.
    got = range_test(make_model(), TRAIN, held_out=HELD, confirm_steps=12, **SWEEP)
    model = make_model()
    plain = range_test(model, TRAIN, held_out=None, **SWEEP)
    assert plain.confirmation is None and plain.suggest().method == "bottom"
    again = confirm(model, TRAIN, lr=plain.suggest().lr, held_out=HELD, steps=12)
    assert got.confirmation == again
    assert (got.suggest().lr, got.confirmation.scores) == (again.lr, again.scores)
    np.testing.assert_array_equal(got.losses, plain.losses)


NOT_BATCHES = r"held_out must be an iterable of batches .*\(got held_out="


@pytest.mark.parametrize(
    ("over", "kind", "pattern"),
    [
        (
            {"confirm_steps": 0},
            ValueError,
            r"confirm_steps must be positive \(got confirm_steps=0\)",
        ),
        ({"confirm_steps": 1.5}, TypeError, r"confirm_steps must be an integer \(got .*=1.5\)"),
        ({"held_out": []}, ValueError, r"held_out must hold at least one batch \(got an empty"),
        ({"held_out": iter([])}, ValueError, r"held_out must hold at least one batch"),
        (
            {"held_out": "abc"},
            ValueError,
            r"held_out must be validation batches, 'auto' .*\(got held_out='abc'\)",
        ),
        ({"held_out": 5}, TypeError, NOT_BATCHES + r"5\)"),
        ({"held_out": {"x": HELD[0][0]}}, TypeError, NOT_BATCHES + r"\{'x'"),
        ({"held_out": np.zeros((4, 2))}, TypeError, NOT_BATCHES + r"ndarray of shape \(4, 2\)"),
        ({"held_out": [HELD[0][0]]}, ValueError, r"held_out\[0\] must be an \(x, y\)"),
        (
            {"held_out": [(HELD[0][0][:, :10], HELD[0][1])]},  # 10 features, the model takes 64
            (TypeError, ValueError, RuntimeError),
            r"held_out\[0\] cannot be scored",
        ),
        ({"total_steps": 0}, ValueError, r"total_steps must be positive \(got total_steps=0\)"),
        ({"total_steps": 300.0}, TypeError, r"total_steps must be an integer"),
        (
            {"held_out": None, "total_steps": 300},
            ValueError,
            r"total_steps fits .*needs the confirmation.*\(got total_steps=300, held_out=None\)",
        ),
    ],
)
def test_bad_confirmation_input_is_named_before_the_first_step(
    over: dict[str, Any], kind: type, pattern: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model()
    before = state(model)
    calls = count_steps(model, monkeypatch)
    kwargs: dict[str, Any] = {"held_out": HELD, **SWEEP, **over}
    with pytest.raises(kind, match=pattern):
        range_test(model, TRAIN, **kwargs)
    assert calls["n"] == 0
    assert_same(before, state(model))


def test_held_out_none_is_the_curve_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model()
    calls = count_steps(model, monkeypatch)
    got = range_test(model, TRAIN, held_out=None, **SWEEP)
    assert got.confirmation is None
    assert got.suggest().method == "bottom"
    assert got.clr_bounds() == got.clr_bounds(rule="smith")
    assert got.steps_spent == got.settings["steps_run_total"] == calls["n"]


def test_a_curve_with_nothing_to_confirm_is_returned_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = make_model()
    calls = count_steps(model, monkeypatch)
    flat = SWEEP | {"start_lr": 1e-9, "end_lr": 1e-8, "max_steps": 60}  # the loss never moves
    with pytest.warns(RuntimeWarning, match="no suggestion to confirm"), warnings.catch_warnings():
        # pytest.warns re-raises the other warnings it caught without their module, so
        # the configured ignore of Keras' own DeprecationWarnings would no longer match.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="keras")
        got = range_test(model, TRAIN, held_out=HELD, **flat)
    assert got.confirmation is None and calls["n"] == 60


def test_total_steps_is_kept_and_fits_the_confirmed_lr() -> None:
    got = range_test(make_model(), TRAIN, held_out=HELD, confirm_steps=12, total_steps=900, **SWEEP)
    assert got.settings["total_steps"] == 900
    assert got.suggest() == got.suggest(total_steps=900)
    assert got.suggest().evidence["total_steps"] == 900


def test_by_default_the_first_batches_are_held_aside_and_confirmed_on() -> None:
    # HELD + TRAIN: ten batches, so a fifth of the pass, the first two, are held aside.
    got = range_test(make_model(), HELD + TRAIN, confirm_steps=12, **SWEEP)  # held_out="auto"
    assert got.settings["held_out"] == "auto: the first 2 batches (64 examples) held aside"
    explicit = range_test(make_model(), TRAIN, held_out=HELD, confirm_steps=12, **SWEEP)
    assert got.confirmation == explicit.confirmation
    np.testing.assert_array_equal(got.losses, explicit.losses)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # too few batches: no warning
        short = range_test(make_model(), TRAIN[:4], held_out="auto", **SWEEP)
    assert short.confirmation is None and short.settings["held_out"].startswith("none held")
    with pytest.raises(ValueError, match=r"held_out must be .*'auto'.*\(got held_out='val'\)"):
        range_test(make_model(), TRAIN, held_out="val", **SWEEP)
