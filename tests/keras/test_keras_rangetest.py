"""cyclr.keras.range_test: one batch's loss per step, at the sweep's LR; state put back."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import pytest
from keras import ops
from tests.keras import keras_probe
from tests.keras.keras_probe import other_probe_fixture, probe_fixture  # noqa: F401

from cyclr import OneCycle
from cyclr.keras import SGD, Schedule, range_test
from cyclr.rangetest import RangeTest

BATCHES = keras_probe.digits_batches()


def state(model: Any) -> list[np.ndarray]:
    variables = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
    return [np.array(ops.convert_to_numpy(v.value)) for v in variables]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_mid_training_the_state_comes_back_and_training_continues_as_without(
    probe: dict[str, Any],
) -> None:
    checked = probe["range_test"]
    assert checked["stop_reason"] in ("diverged", "non_finite")
    assert 10 < checked["num_recorded"] < 40
    assert checked["restored"]
    assert checked["continued"] == checked["twin_continued"]
    assert checked["weights"] == checked["twin_weights"]


def test_each_step_records_its_own_batch_loss_at_the_sweep_lr() -> None:
    model = keras_probe.digits_model(keras.optimizers.SGD(0.01, momentum=0.9))
    twin = keras_probe.digits_model(keras.optimizers.SGD(0.01, momentum=0.9))
    result = range_test(
        model, BATCHES, start_lr=1e-4, end_lr=0.5, num_steps=15, progress=False, held_out=None
    )
    sweep = RangeTest(1e-4, 0.5, 15).sweep.lrs()
    np.testing.assert_array_equal(result.lrs[:, 0], sweep)
    manual = []
    for i, (x, y) in enumerate(BATCHES * 2):
        if i == 15:
            break
        twin.optimizer.learning_rate = float(sweep[i])
        manual.append(twin.train_on_batch(x, y, return_dict=True)["loss"])
    assert result.stop_reason == "num_steps"
    np.testing.assert_array_equal(result.losses, np.array(manual, dtype=np.float64))
    # Keras' running epoch mean would lag: it is not what was recorded.
    running = np.cumsum(manual[:10]) / np.arange(1, 11)
    assert not np.allclose(result.losses[1:10], running[1:10])


class BoomError(Exception):
    pass


def exploding(after: int) -> Iterator[tuple[Any, Any]]:
    for i, batch in enumerate(BATCHES):
        if i == after:
            raise BoomError
        yield batch


@pytest.mark.parametrize("lr_kind", ["float", "schedule"])
def test_after_an_exception_everything_is_restored(lr_kind: str) -> None:
    lr: Any = 0.01 if lr_kind == "float" else Schedule(OneCycle(0.05, 40))
    model = keras_probe.digits_model(SGD(lr, momentum=0.9), dropout=True)
    model.fit(*map(np.concatenate, zip(*BATCHES[:4], strict=True)), batch_size=32, verbose=0)
    before = state(model)
    lr_object = model.optimizer._learning_rate
    rng = None
    if keras.backend.backend() == "torch":
        import torch

        rng = torch.get_rng_state()
    with pytest.raises(BoomError):
        range_test(model, exploding(after=6), num_steps=20, progress=False)
    assert same(before, state(model))
    assert model.optimizer._learning_rate is lr_object
    if rng is not None:
        import torch

        assert torch.equal(rng, torch.get_rng_state())
    step = int(ops.convert_to_numpy(model.optimizer.iterations))
    expected = 0.01 if lr_kind == "float" else float(np.float32(OneCycle(0.05, 40)(step)))
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(expected)


def test_an_unbuilt_model_is_built_on_the_first_batch() -> None:
    model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10)])
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    result = range_test(model, BATCHES, num_steps=12, max_steps=12, progress=False)
    assert model.built and result.num_recorded == 12
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 0


def test_metric_fn_is_recorded_every_eval_every_steps() -> None:
    model = keras_probe.digits_model(keras.optimizers.SGD(0.01))
    x_val, y_val = BATCHES[-1]
    calls = []

    def accuracy(m: Any) -> float:
        calls.append(1)
        logits = m.predict_on_batch(x_val)
        return float(np.mean(np.argmax(logits, axis=1) == y_val))

    result = range_test(
        model, BATCHES, num_steps=12, max_steps=12, metric_fn=accuracy, eval_every=3,
        progress=False,
    )  # fmt: skip
    assert result.metrics is not None and len(calls) == 4
    assert np.isfinite(result.metrics[2::3]).all() and np.isnan(result.metrics[0::3]).all()
    assert (
        result.settings["metric"]
        == "test_metric_fn_is_recorded_every_eval_every_steps.<locals>.accuracy"
    )


def test_settings_describe_the_run() -> None:
    model = keras_probe.digits_model(keras.optimizers.Adam(0.001))
    result = range_test(model, BATCHES[:4], num_steps=10, max_steps=10, progress=False)
    settings = result.settings
    assert settings["runner"] == "cyclr.keras.range_test"
    assert settings["keras_backend"] == keras.backend.backend()
    assert settings["optimizer"] == "Adam" and settings["data_restarts"] == 2
    assert settings["steps_run"] == 10 and settings["num_steps"] == 10


def test_errors_name_the_problem() -> None:
    compiled = keras_probe.digits_model(keras.optimizers.SGD(0.01))
    bare = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="model must be compiled"):
        range_test(bare, BATCHES)
    with pytest.raises(TypeError, match=r"model must be a keras\.Model"):
        range_test(object(), BATCHES)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be an iterable of batches"):
        range_test(compiled, "batches")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exhausted after 10 batches"):
        range_test(compiled, iter(BATCHES), num_steps=30, progress=False)
    with pytest.raises(ValueError, match="eval_every needs a metric_fn"):
        range_test(compiled, BATCHES, eval_every=2)
    with pytest.raises(ValueError, match="num_steps"):
        range_test(compiled, BATCHES, num_steps=1)
    accumulating = keras_probe.digits_model(
        keras.optimizers.SGD(0.01, gradient_accumulation_steps=2)
    )
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be None"):
        range_test(accumulating, BATCHES)


def test_a_curve_with_no_clear_fall_is_measured_again_longer() -> None:
    model = keras_probe.digits_model(keras.optimizers.SGD(0.01))
    before = [w.copy() for w in model.get_weights()]
    result = range_test(model, BATCHES, end_lr=1e-5, num_steps=10, progress=False)
    assert result.settings["steps_tried"] == [10, 30, 90]
    assert result.num_recorded == 90
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    with pytest.raises(ValueError, match=r"max_steps must be at least num_steps"):
        range_test(model, BATCHES, num_steps=10, max_steps=5)
