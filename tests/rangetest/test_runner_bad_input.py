"""Every range-test runner names a bad setting and its value before the first step.

The settings are validated once, by :class:`cyclr.rangetest.spec.RangeTestSpec`; this
matrix drives the same bad values through the torch, Keras and JAX runners, the
Lightning callback and the spec itself, and checks that nothing trained.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from collections.abc import Callable
from typing import Any

import pytest

from cyclr.rangetest.spec import RangeTestSpec

# (id, keyword arguments, exception type, phrases the message must contain)
BAD: list[tuple[str, dict[str, Any], type[Exception], tuple[str, ...]]] = [
    ("start-zero", {"start_lr": 0.0}, ValueError, ("start_lr", "0.0")),
    ("start-negative", {"start_lr": -1e-3}, ValueError, ("start_lr", "-0.001")),
    ("start-nan", {"start_lr": float("nan")}, ValueError, ("start_lr", "nan")),
    ("start-inf", {"start_lr": float("inf")}, ValueError, ("start_lr", "inf")),
    ("start-str", {"start_lr": "1e-7"}, TypeError, ("start_lr", "'1e-7'")),
    ("start-huge-int", {"start_lr": 10**400}, ValueError, ("start_lr", "401 digits")),
    ("end-below-start", {"start_lr": 0.1, "end_lr": 0.01}, ValueError, ("end_lr", "0.01")),
    ("end-none", {"end_lr": None}, TypeError, ("end_lr", "None")),
    ("end-bool", {"end_lr": True}, TypeError, ("end_lr", "True")),
    (
        "end-within-rounding",
        {"start_lr": 1.0, "end_lr": 1.0000000000000002, "sweep": "linear"},
        ValueError,
        ("end_lr", "1.0000000000000002", "start_lr"),
    ),
    ("subnormal-sweep", {"start_lr": 5e-324, "end_lr": 1e-323}, ValueError, ("5e-324",)),
    ("steps-one", {"num_steps": 1}, ValueError, ("num_steps", "1")),
    ("steps-float", {"num_steps": 100.0}, TypeError, ("num_steps", "100.0")),
    ("steps-huge", {"num_steps": 10**9}, ValueError, ("num_steps", "1000000000")),
    ("steps-googol", {"num_steps": 10**400}, ValueError, ("num_steps", "401 digits")),
    ("max-below-num", {"num_steps": 50, "max_steps": 20}, ValueError, ("max_steps", "20")),
    ("max-huge", {"max_steps": 10**7}, ValueError, ("max_steps", "10000000")),
    ("max-str", {"max_steps": "900"}, TypeError, ("max_steps", "'900'")),
    ("sweep-unknown", {"sweep": "log"}, ValueError, ("sweep", "'log'")),
    ("smoothing-one", {"smoothing": 1.0}, ValueError, ("smoothing", "1.0")),
    ("smoothing-negative", {"smoothing": -0.1}, ValueError, ("smoothing", "-0.1")),
    ("diverge-one", {"diverge_factor": 1.0}, ValueError, ("diverge_factor", "1.0")),
    ("diverge-nan", {"diverge_factor": float("nan")}, ValueError, ("diverge_factor", "nan")),
    ("progress-str", {"progress": "yes"}, TypeError, ("progress", "'yes'")),
    ("eval-without-metric", {"eval_every": 5}, ValueError, ("eval_every", "5", "metric_fn")),
    ("metric-not-callable", {"metric_fn": 3}, TypeError, ("metric_fn", "3")),
    ("eval-zero", {"metric_fn": len, "eval_every": 0}, ValueError, ("eval_every", "0")),
]
SYNC_BAD = [
    ("sync-zero", {"sync_every": 0}, ValueError, ("sync_every", "0")),
    ("sync-float", {"sync_every": 2.5}, TypeError, ("sync_every", "2.5")),
]


def _torch_runner() -> Callable[..., Any]:
    import torch

    from cyclr.torch import range_test

    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    data = [(torch.randn(8, 3), torch.randn(8, 1))] * 4

    def run(**kwargs: Any) -> Any:
        try:
            return range_test(
                model,
                optimizer,
                data,
                torch.nn.functional.mse_loss,
                **{"progress": False, **kwargs},
            )
        finally:
            assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))

    return run


def _keras_runner() -> Callable[..., Any]:
    import keras
    import numpy as np

    from cyclr.keras import range_test

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.zeros((8, 3), dtype="float32")
    data = [(x, x[:, :1])] * 4

    def run(**kwargs: Any) -> Any:
        kwargs.pop("sync_every", None)
        return range_test(model, data, **{"progress": False, **kwargs})

    return run


def _jax_runner() -> Callable[..., Any]:
    import jax.numpy as jnp

    from cyclr.jax import range_test

    def train_step(w: Any, state: Any, batch: Any, lr: Any) -> Any:
        return w - lr, state, jnp.mean(w**2)

    def run(**kwargs: Any) -> Any:
        settings = {"progress": False, **kwargs}
        return range_test(train_step, jnp.ones(()), None, [None] * 4, **settings)

    return run


def _lightning_callback() -> Callable[..., Any]:
    from cyclr.lightning import RangeTestCallback

    def run(**kwargs: Any) -> Any:
        kwargs.pop("metric_fn", None)
        kwargs.pop("eval_every", None)
        return RangeTestCallback(**kwargs)

    return run


def _spec() -> Callable[..., Any]:
    return RangeTestSpec


RUNNERS = {
    "spec": _spec,
    "torch": _torch_runner,
    "keras": _keras_runner,
    "jax": _jax_runner,
    "lightning": _lightning_callback,
}
_NO_METRIC = {"lightning"}
_NO_SYNC = {"keras"}


def _cases() -> list[Any]:
    cases = []
    for runner in RUNNERS:
        for name, kwargs, exc, phrases in BAD + SYNC_BAD:
            if runner in _NO_METRIC and ("metric_fn" in kwargs or "eval_every" in kwargs):
                continue
            if runner in _NO_SYNC and "sync_every" in kwargs:
                continue
            cases.append(pytest.param(runner, kwargs, exc, phrases, id=f"{runner}-{name}"))
    return cases


@pytest.fixture(scope="module")
def runners() -> dict[str, Callable[..., Any]]:
    return {name: build() for name, build in RUNNERS.items()}


@pytest.mark.parametrize(("runner", "kwargs", "exc", "phrases"), _cases())
def test_a_bad_setting_is_named_with_its_value(
    runner: str,
    kwargs: dict[str, Any],
    exc: type[Exception],
    phrases: tuple[str, ...],
    runners: dict[str, Callable[..., Any]],
) -> None:
    with pytest.raises(exc) as info:
        runners[runner](**kwargs)
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, message


def _runner_functions() -> dict[str, Callable[..., Any]]:
    from cyclr import jax as cyclr_jax
    from cyclr import keras as cyclr_keras
    from cyclr import torch as cyclr_torch
    from cyclr.lightning import RangeTestCallback

    return {
        "torch": cyclr_torch.range_test,
        "keras": cyclr_keras.range_test,
        "jax": cyclr_jax.range_test,
        "lightning": RangeTestCallback.__init__,
    }


# Spec fields a runner fixes itself instead of taking them as arguments.
FIXED_BY_RUNNER = {
    "torch": set(),
    "keras": {"sync_every"},
    "jax": set(),
    "lightning": {"metric_fn", "eval_every"},
}


@pytest.mark.parametrize("runner", sorted(FIXED_BY_RUNNER))
def test_every_runner_takes_the_spec_settings_with_the_spec_defaults(runner: str) -> None:
    import dataclasses
    import inspect

    parameters = inspect.signature(_runner_functions()[runner]).parameters
    defaults = {f.name: f.default for f in dataclasses.fields(RangeTestSpec)}
    taken = set(defaults) & set(parameters)
    assert sorted(taken) == sorted(set(defaults) - FIXED_BY_RUNNER[runner])
    for name in taken:
        parameter = parameters[name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert parameter.default == defaults[name], name
