"""to_dict is JSON-safe and schedule_from_dict rebuilds every kind."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from tests.strategies import PROPERTY_SETTINGS, any_schedules, momentum_schedules

import cyclr

STEPS = np.array([0, 1, 7, 500, 999, 1000, 1001, 4321, 10**5, 10**7], dtype=np.int64)


def _quarter_life(x: Any, ops: Any) -> Any:
    return ops.power(0.5, (x - 1) / 4)


def _step_half_life(x: Any, ops: Any) -> Any:
    return ops.power(0.5, x / 400)


cyclr.register_scale_fn("test_quarter_life", _quarter_life)
cyclr.register_scale_fn("test_step_half_life", _step_half_life)

ONECYCLE = cyclr.OneCycle(0.1, 1000, pct_start=0.25, anneal="linear", three_phase=True)

EXAMPLES: dict[str, cyclr.Schedule] = {
    "triangular": cyclr.Triangular(0.001, 0.006, 2000),
    "triangular-asymmetric": cyclr.Triangular(0.001, 0.006, 1000, 3000),
    "triangular2": cyclr.Triangular2(0.001, 0.006, 2000),
    "exp_range": cyclr.ExpRange(0.001, 0.006, 2000, gamma=0.99994),
    "cyclic-named": cyclr.Cyclic(0.001, 0.006, 100, scale_fn="triangular2"),
    "cyclic-registered-name": cyclr.Cyclic(0.001, 0.006, 100, scale_fn="test_quarter_life"),
    "cyclic-registered-callable": cyclr.Cyclic(
        0.001, 0.006, 100, scale_fn=_step_half_life, scale_mode="iterations"
    ),
    "onecycle": cyclr.OneCycle(0.1, 1000),
    "onecycle-3phase-linear": ONECYCLE,
    "constant": cyclr.Constant(0.01),
    "linear": cyclr.Linear(0.001, 0.01, 50),
    "join": cyclr.join(
        [cyclr.Linear(1e-4, ONECYCLE(0), 10), ONECYCLE, cyclr.Constant(ONECYCLE(999))], [10, 1010]
    ),
    "warmup": cyclr.warmup(cyclr.Triangular2(0.001, 0.006, 100), 50, start_lr=1e-5),
    "warmup-default-start": cyclr.warmup(cyclr.OneCycle(0.1, 1000), 100),
    "momentum": cyclr.OneCycle(0.1, 1000).momentum(0.85, 0.95),
    "momentum-of-warmup": cyclr.warmup(cyclr.Triangular(0.001, 0.006, 100), 20).momentum(0.8, 0.9),
    "momentum-of-cyclic-callable": cyclr.Cyclic(
        0.001, 0.006, 100, scale_fn=_quarter_life
    ).momentum(),
}


def _round_trip(schedule: cyclr.Schedule) -> cyclr.Schedule:
    text = json.dumps(schedule.to_dict(), allow_nan=False)
    return cyclr.schedule_from_dict(json.loads(text))


def _assert_plain(value: Any) -> None:
    """Only JSON types, all the way down."""
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for item in value.values():
            _assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), repr(value)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_to_dict_is_plain_json(name: str) -> None:
    data = EXAMPLES[name].to_dict()
    _assert_plain(data)
    assert json.loads(json.dumps(data, allow_nan=False)) == data


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_round_trip_rebuilds_the_same_schedule(name: str) -> None:
    schedule = EXAMPLES[name]
    rebuilt = _round_trip(schedule)
    assert type(rebuilt) is type(schedule)
    assert rebuilt.to_dict() == schedule.to_dict()
    np.testing.assert_array_equal(rebuilt(STEPS), schedule(STEPS))
    assert [rebuilt(int(i)) for i in STEPS] == [schedule(int(i)) for i in STEPS]
    if "callable" not in name:  # a callable comes back as its registered name
        assert rebuilt == schedule


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_schedules_pickle(name: str) -> None:
    schedule = EXAMPLES[name]
    clone = pickle.loads(pickle.dumps(schedule))
    assert clone == schedule
    np.testing.assert_array_equal(clone(STEPS), schedule(STEPS))


def test_round_trip_of_every_registered_kind_is_covered() -> None:
    kinds = {EXAMPLES[name].to_dict()["kind"] for name in EXAMPLES}
    assert kinds >= {
        "triangular",
        "triangular2",
        "exp_range",
        "cyclic",
        "onecycle",
        "constant",
        "linear",
        "join",
        "momentum",
    }


def test_unregistered_callable_raises_a_clear_error_at_to_dict() -> None:
    schedule = cyclr.Cyclic(0.001, 0.006, 100, scale_fn=lambda x, ops: 1.0 / x)
    assert schedule(150) > 0.001  # usable without saving
    with pytest.raises(
        ValueError, match=r"scale_fn is an unregistered callable.*register_scale_fn"
    ):
        schedule.to_dict()
    with pytest.raises(ValueError, match="unregistered callable"):
        schedule.momentum().to_dict()
    with pytest.raises(ValueError, match="unregistered callable"):
        cyclr.warmup(schedule, 10).to_dict()


@pytest.mark.parametrize(
    "data, error, pattern",
    [
        pytest.param(
            {"kind": "nope"}, ValueError, r"kind must be one of .*got kind='nope'", id="kind"
        ),
        pytest.param({}, ValueError, r"got kind=None", id="no-kind"),
        pytest.param(
            {"kind": "triangular", "base_lr": 0.1, "max_lr": 1.0, "color": 1},
            ValueError,
            r"unknown keys for kind 'triangular': \['color'\]",
            id="unknown-key",
        ),
        pytest.param(
            {"kind": "onecycle", "max_lr": 0.1},
            ValueError,
            r"missing keys for kind 'onecycle': \['total_steps'\]",
            id="missing-key",
        ),
        pytest.param([("kind", "constant")], TypeError, r"must be a mapping", id="not-a-mapping"),
        pytest.param(
            {"kind": "constant", "lr": -1.0},
            ValueError,
            r"lr must be positive \(got lr=-1.0\)",
            id="bad-value",
        ),
        pytest.param(
            {
                "kind": "join",
                "schedules": [{"kind": "constant", "lr": 0.1}, {"kind": "constant", "lr": 0.2}],
                "boundaries": [5],
            },
            ValueError,
            r"jump at boundary 5",
            id="join-jump",
        ),
        pytest.param(
            {"kind": "cyclic", "base_lr": 0.1, "max_lr": 1.0, "scale_fn": "never_registered"},
            ValueError,
            r"scale_fn must be a registered name .*got scale_fn='never_registered'",
            id="unknown-scale-fn",
        ),
    ],
)
def test_schedule_from_dict_rejects_bad_data(data: Any, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        cyclr.schedule_from_dict(data)


def test_schedule_from_dict_is_reexported() -> None:
    assert cyclr.schedule_from_dict is cyclr.schedule_from_dict


@PROPERTY_SETTINGS
@given(any_schedules())
def test_round_trip_property(schedule: cyclr.Schedule) -> None:
    rebuilt = _round_trip(schedule)
    assert rebuilt == schedule
    np.testing.assert_array_equal(rebuilt(STEPS), schedule(STEPS))


@PROPERTY_SETTINGS
@given(momentum_schedules())
def test_round_trip_property_momentum(schedule: cyclr.Schedule) -> None:
    rebuilt = _round_trip(schedule)
    assert rebuilt == schedule
    np.testing.assert_array_equal(rebuilt(STEPS), schedule(STEPS))
