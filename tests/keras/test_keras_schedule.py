"""cyclr.keras.Schedule: the float64 curve in float32 on every backend, and serializable."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import keras
import numpy as np
import pytest
from keras import ops
from tests.keras import keras_probe
from tests.keras.keras_probe import other_probe_fixture, probe_fixture  # noqa: F401

from cyclr import Cyclic, OneCycle, Triangular, join, warmup
from cyclr.keras import Schedule, evaluate

MAX_ULPS = 4.0


def test_every_kind_within_a_few_ulps_of_float64(probe: dict[str, Any]) -> None:
    steps = np.arange(keras_probe.NUM_STEPS)
    for name, schedule in keras_probe.kinds().items():
        numbers = probe["numbers"][name]
        reference = schedule(steps)
        assert keras_probe.ulps(numbers["vector"], reference) <= MAX_ULPS, (probe["backend"], name)
        if "used" in numbers:
            used = reference[list(keras_probe.USED_STEPS)]
            assert keras_probe.ulps(numbers["used"], used) <= MAX_ULPS, (probe["backend"], name)


def test_vector_of_steps_keeps_shape_and_float32() -> None:
    values = evaluate(Triangular(0.001, 0.006, 10), np.arange(40, dtype="int32").reshape(4, 10))
    assert tuple(ops.shape(values)) == (4, 10)
    assert ops.dtype(values) == "float32"
    expected = Triangular(0.001, 0.006, 10)(np.arange(40).reshape(4, 10))
    np.testing.assert_allclose(ops.convert_to_numpy(values), expected, rtol=3e-7)


def test_called_with_the_optimizer_counter_reads_its_value() -> None:
    schedule = OneCycle(max_lr=0.1, total_steps=1000)
    optimizer = keras.optimizers.SGD(learning_rate=Schedule(schedule))
    for step in (0, 299, 500, 999, 5000):
        optimizer.iterations.assign(step)
        value = float(ops.convert_to_numpy(optimizer.learning_rate))
        if keras.backend.backend() == "torch":
            # Eager PyTorch: computed in float64 on the host, rounded once.
            assert value == float(np.float32(schedule(step)))
        else:
            assert keras_probe.ulps([value], [schedule(step)]) <= MAX_ULPS


@pytest.mark.parametrize(
    "schedule",
    [
        Triangular(0.001, 0.006, 2000, 1000),
        OneCycle(0.1, 500, three_phase=True, anneal="linear").momentum(0.8, 0.9),
        warmup(OneCycle(0.1, 500), 20),
        join([Triangular(0.001, 0.006, 5), Triangular(0.001, 0.002, 7)], [10]),
        Cyclic(0.001, 0.006, 10, scale_fn="triangular2"),
    ],
    ids=["triangular", "momentum", "warmup", "join", "cyclic"],
)
def test_config_round_trips_through_keras_serialization(schedule: Any) -> None:
    wrapped = Schedule(schedule)
    assert wrapped.get_config() == schedule.to_dict()
    config = keras.saving.serialize_keras_object(wrapped)
    assert config["registered_name"] == "cyclr>Schedule"
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, Schedule)
    assert restored == wrapped and restored.schedule == schedule


def test_unregistered_scale_fn_cannot_be_saved() -> None:
    wrapped = Schedule(Cyclic(0.001, 0.006, 10, scale_fn=lambda x, o: 1.0))
    with pytest.raises(ValueError, match="register it"):
        keras.saving.serialize_keras_object(wrapped)


def test_rejects_what_is_not_a_cyclr_schedule() -> None:
    with pytest.raises(TypeError, match=r"schedule must be a cyclr Schedule \(got schedule=0.1\)"):
        Schedule(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="schedule must be a cyclr Schedule"):
        evaluate(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda m: keras.optimizers.Adam(beta_1=m),
        lambda m: keras.optimizers.Nadam(beta_1=m),
        lambda m: keras.optimizers.RMSprop(momentum=m),
    ],
    ids=["Adam", "Nadam", "RMSprop"],
)
def test_as_momentum_of_a_keras_optimizer_it_fails_with_the_fix(make: Any) -> None:
    momentum = Schedule(OneCycle(0.1, 100).momentum(0.85, 0.95))
    variable = keras.Variable(np.ones(3, dtype="float32"))
    with pytest.raises(TypeError, match=r"cyclr\.keras\.Adam\(beta_1=\.\.\.\)"):
        optimizer = make(momentum)
        optimizer.apply([ops.ones((3,))], [variable])


def test_repr_equality_and_hash() -> None:
    a, b = Schedule(Triangular(0.001, 0.006, 10)), Schedule(Triangular(0.001, 0.006, 10))
    assert a == b and hash(a) == hash(b) and a != Schedule(Triangular(0.001, 0.007, 10))
    assert repr(a).startswith("cyclr.keras.Schedule(Triangular(")
