"""Every bad argument raises ValueError/TypeError naming the parameter and its value."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import cyclr

NAN, INF = math.nan, math.inf


def _got(name: str, value: Any) -> str:
    """The ``(got name=value)`` part of a message, as a regex."""
    return re.escape(f"(got {name}={value!r}")


def _cases() -> list[Any]:
    cases: list[Any] = []

    def case(id_: str, build: Callable[[], Any], error: type[Exception], pattern: str) -> None:
        cases.append(pytest.param(build, error, pattern, id=id_))

    def refused(
        name: str,
        build: Callable[[Any], Any],
        values: tuple[Any, ...],
        error: type[Exception],
        pattern: str,
    ) -> None:
        """One case per value: ``build(value)`` raises ``error``, naming ``name=value``."""
        for value in values:
            case(f"{name}={value!r}", lambda v=value: build(v), error, pattern + _got(name, value))

    # Cyclic policies: LRs, bounds, step sizes.
    for cls in (cyclr.Triangular, cyclr.Triangular2, cyclr.ExpRange):
        kind = cls.__name__
        for value in (0.0, -0.001):
            case(
                f"{kind}-base_lr={value}",
                lambda c=cls, v=value: c(v, 0.006),
                ValueError,
                r"base_lr must be positive " + _got("base_lr", value),
            )
            case(
                f"{kind}-max_lr={value}",
                lambda c=cls, v=value: c(0.001, v),
                ValueError,
                r"max_lr must be positive " + _got("max_lr", value),
            )
        for name, args in (("base_lr", (NAN, 0.006)), ("max_lr", (0.001, NAN))):
            case(
                f"{kind}-{name}=nan",
                lambda c=cls, a=args: c(*a),
                ValueError,
                rf"{name} must be finite " + _got(name, NAN),
            )
        for name, args in (("base_lr", (INF, 0.006)), ("max_lr", (0.001, INF))):
            case(
                f"{kind}-{name}=inf",
                lambda c=cls, a=args: c(*a),
                ValueError,
                rf"{name} must be finite " + _got(name, INF),
            )
        for name, args in (("base_lr", (True, 0.006)), ("max_lr", (0.001, "0.006"))):
            case(
                f"{kind}-{name}-type",
                lambda c=cls, a=args: c(*a),
                TypeError,
                rf"{name} must be a real number",
            )
        case(
            f"{kind}-max_lr<base_lr",
            lambda c=cls: c(0.1, 0.01),
            ValueError,
            re.escape("max_lr must be greater than base_lr (got base_lr=0.1, max_lr=0.01)"),
        )
        case(
            f"{kind}-max_lr=base_lr",
            lambda c=cls: c(0.1, 0.1),
            ValueError,
            re.escape("max_lr must be greater than base_lr (got base_lr=0.1, max_lr=0.1)"),
        )
        for name in ("step_size_up", "step_size_down"):
            for value in (0, -3):
                case(
                    f"{kind}-{name}={value}",
                    lambda c=cls, n=name, v=value: c(0.001, 0.006, **{n: v}),
                    ValueError,
                    rf"{name} must be positive " + _got(name, value),
                )
            for value in (2000.0, 1.5, True, "10", NAN):
                case(
                    f"{kind}-{name}={value!r}",
                    lambda c=cls, n=name, v=value: c(0.001, 0.006, **{n: v}),
                    TypeError,
                    rf"{name} must be an integer " + _got(name, value),
                )

    # exp_range's gamma in (0, 1].
    refused(
        "gamma",
        lambda v: cyclr.ExpRange(0.001, 0.006, gamma=v),
        (0.0, -0.5, 1.0000001, 2.0),
        ValueError,
        r"gamma must be in \(0.0, 1.0\] ",
    )
    refused(
        "gamma",
        lambda v: cyclr.ExpRange(0.001, 0.006, gamma=v),
        (NAN, INF),
        ValueError,
        r"gamma must be finite ",
    )

    # Cyclic: scale function and mode.
    case(
        "scale_mode",
        lambda: cyclr.Cyclic(0.001, 0.006, scale_mode="epoch"),
        ValueError,
        r"scale_mode must be one of 'cycle', 'iterations' " + _got("scale_mode", "epoch"),
    )
    case(
        "scale_fn-unknown",
        lambda: cyclr.Cyclic(0.001, 0.006, scale_fn="nope"),
        ValueError,
        r"scale_fn must be a registered name .*" + _got("scale_fn", "nope"),
    )
    case(
        "scale_fn-type",
        lambda: cyclr.Cyclic(0.001, 0.006, scale_fn=3),
        TypeError,
        r"scale_fn must be a name or a callable " + _got("scale_fn", 3),
    )

    # OneCycle.
    for value in (0.0, -1.0):
        case(
            f"onecycle-max_lr={value}",
            lambda v=value: cyclr.OneCycle(v, 100),
            ValueError,
            r"max_lr must be positive " + _got("max_lr", value),
        )
    for value in (NAN, INF):
        case(
            f"onecycle-max_lr={value}",
            lambda v=value: cyclr.OneCycle(v, 100),
            ValueError,
            r"max_lr must be finite " + _got("max_lr", value),
        )
    refused(
        "total_steps",
        lambda v: cyclr.OneCycle(0.1, v),
        (0, -5),
        ValueError,
        r"total_steps must be positive ",
    )
    refused(
        "total_steps",
        lambda v: cyclr.OneCycle(0.1, v),
        (100.0, 99.5, True, "100", None, NAN),
        TypeError,
        r"total_steps must be an integer ",
    )
    refused(
        "pct_start",
        lambda v: cyclr.OneCycle(0.1, 100, pct_start=v),
        (0.0, 1.0, -0.1, 1.5),
        ValueError,
        r"pct_start must be in the open interval \(0, 1\) ",
    )
    refused(
        "pct_start",
        lambda v: cyclr.OneCycle(0.1, 100, pct_start=v),
        (NAN, INF),
        ValueError,
        r"pct_start must be finite ",
    )
    case(
        "pct_start-too-few-steps",
        lambda: cyclr.OneCycle(0.1, 100, pct_start=0.005),
        ValueError,
        r"pct_start \* total_steps must exceed 1 .*got pct_start=0.005, total_steps=100",
    )
    case(
        "three_phase-pct_start",
        lambda: cyclr.OneCycle(0.1, 100, pct_start=0.6, three_phase=True),
        ValueError,
        r"three_phase needs .*got pct_start=0.6, total_steps=100",
    )
    case(
        "three_phase-type",
        lambda: cyclr.OneCycle(0.1, 100, three_phase="yes"),
        TypeError,
        r"three_phase must be a bool " + _got("three_phase", "yes"),
    )
    for name in ("div_factor", "final_div_factor"):
        for value in (0.5, 0.0, -2.0):
            case(
                f"{name}={value}",
                lambda n=name, v=value: cyclr.OneCycle(0.1, 100, **{n: v}),
                ValueError,
                rf"{name} must be at least 1 " + _got(name, value),
            )
        for value in (NAN, INF):
            case(
                f"{name}={value}",
                lambda n=name, v=value: cyclr.OneCycle(0.1, 100, **{n: v}),
                ValueError,
                rf"{name} must be finite " + _got(name, value),
            )
    case(
        "anneal",
        lambda: cyclr.OneCycle(0.1, 100, anneal="cosine"),
        ValueError,
        r"anneal must be one of 'cos', 'linear' " + _got("anneal", "cosine"),
    )

    # Constant and Linear.
    for value in (0.0, -0.1):
        case(
            f"constant-lr={value}",
            lambda v=value: cyclr.Constant(v),
            ValueError,
            r"lr must be positive " + _got("lr", value),
        )
    for value in (NAN, INF):
        case(
            f"constant-lr={value}",
            lambda v=value: cyclr.Constant(v),
            ValueError,
            r"lr must be finite " + _got("lr", value),
        )
    case(
        "constant-lr=True",
        lambda: cyclr.Constant(True),
        TypeError,
        r"lr must be a real number " + _got("lr", True),
    )
    case(
        "linear-start_lr",
        lambda: cyclr.Linear(0.0, 0.1, 10),
        ValueError,
        r"start_lr must be positive " + _got("start_lr", 0.0),
    )
    case(
        "linear-end_lr",
        lambda: cyclr.Linear(0.1, NAN, 10),
        ValueError,
        r"end_lr must be finite " + _got("end_lr", NAN),
    )
    case(
        "linear-total_steps=0",
        lambda: cyclr.Linear(0.1, 0.2, 0),
        ValueError,
        r"total_steps must be positive " + _got("total_steps", 0),
    )
    case(
        "linear-total_steps=1.0",
        lambda: cyclr.Linear(0.1, 0.2, 1.0),
        TypeError,
        r"total_steps must be an integer " + _got("total_steps", 1.0),
    )

    # Momentum.
    lr = cyclr.Triangular(0.001, 0.006, 10)
    refused(
        "base_momentum",
        lambda v: lr.momentum(v, 0.95),
        (-0.1, 1.0, 1.5),
        ValueError,
        r"base_momentum must be in \[0, 1\) ",
    )
    refused(
        "max_momentum",
        lambda v: cyclr.Momentum(lr, 0.0, v),
        (0.0, 1.0),
        ValueError,
        r"max_momentum must be in \(0, 1\) ",
    )
    case(
        "max_momentum<=base_momentum",
        lambda: lr.momentum(0.9, 0.85),
        ValueError,
        re.escape(
            "max_momentum must be greater than base_momentum (got base_momentum=0.9, "
            "max_momentum=0.85)"
        ),
    )
    for name, args in (("base_momentum", (NAN, 0.95)), ("max_momentum", (0.85, INF))):
        case(
            f"{name}-nonfinite",
            lambda a=args: lr.momentum(*a),
            ValueError,
            rf"{name} must be finite",
        )
    case(
        "momentum-of-momentum",
        lambda: lr.momentum().momentum(),
        TypeError,
        r"a Momentum schedule has no companion momentum",
    )
    case(
        "momentum-schedule-type",
        lambda: cyclr.Momentum(0.1, 0.85, 0.95),
        TypeError,
        r"schedule must be a learning-rate Schedule " + _got("schedule", 0.1),
    )

    # Composition.
    case(
        "warmup_steps=0",
        lambda: cyclr.warmup(lr, 0),
        ValueError,
        r"warmup_steps must be positive " + _got("warmup_steps", 0),
    )
    case(
        "warmup_steps=2.5",
        lambda: cyclr.warmup(lr, 2.5),
        TypeError,
        r"warmup_steps must be an integer " + _got("warmup_steps", 2.5),
    )
    case(
        "warmup-start_lr",
        lambda: cyclr.warmup(lr, 5, start_lr=-1.0),
        ValueError,
        r"start_lr must be positive " + _got("start_lr", -1.0),
    )
    case(
        "warmup-schedule",
        lambda: cyclr.warmup(0.1, 5),
        TypeError,
        r"schedule must be a Schedule " + _got("schedule", 0.1),
    )
    case(
        "join-jump",
        lambda: cyclr.join([cyclr.Constant(0.1), cyclr.Constant(0.2)], [5]),
        ValueError,
        r"schedules jump at boundary 5: schedule 0 ends at 0.1 but schedule 1 starts at 0.2",
    )
    case(
        "join-count",
        lambda: cyclr.join([cyclr.Constant(0.1), cyclr.Constant(0.1)], [5, 6]),
        ValueError,
        r"boundaries must have one entry fewer than schedules \(got 2 schedules, "
        r"boundaries=\[5, 6\]\)",
    )
    case(
        "join-order",
        lambda: cyclr.join([cyclr.Constant(0.1)] * 3, [6, 5]),
        ValueError,
        r"boundaries must increase strictly " + _got("boundaries", [6, 5]),
    )
    case(
        "join-boundary=0",
        lambda: cyclr.join([cyclr.Constant(0.1)] * 2, [0]),
        ValueError,
        r"boundaries must be positive " + _got("boundaries", 0),
    )
    case(
        "join-boundary-float",
        lambda: cyclr.join([cyclr.Constant(0.1)] * 2, [5.0]),
        TypeError,
        r"boundaries must be an integer " + _got("boundaries", 5.0),
    )
    case(
        "join-schedules",
        lambda: cyclr.Join((0.1, 0.2), (5,)),
        TypeError,
        r"schedules must be a non-empty sequence of Schedule",
    )

    # Registry.
    case(
        "register-name",
        lambda: cyclr.register_scale_fn("", lambda x, ops: 1.0),
        ValueError,
        r"name must be a non-empty string " + _got("name", ""),
    )
    case(
        "register-fn",
        lambda: cyclr.register_scale_fn("x_not_callable", 3),
        TypeError,
        r"fn must be callable " + _got("fn", 3),
    )
    case(
        "register-clash",
        lambda: cyclr.register_scale_fn("triangular", lambda x, ops: 2.0),
        ValueError,
        r"name is already registered to another scale function " + _got("name", "triangular"),
    )
    return cases


@pytest.mark.parametrize("build, error, pattern", _cases())
def test_bad_argument_is_named_with_its_value(
    build: Callable[[], Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        build()


SCHEDULE = cyclr.Triangular(0.001, 0.006, 10)


@pytest.mark.parametrize(
    "step, error, pattern",
    [
        pytest.param(-1, ValueError, r"step must be non-negative \(got step=-1\)", id="negative"),
        pytest.param(
            np.int64(-3), ValueError, r"step must be non-negative \(got step=", id="np-negative"
        ),
        pytest.param(
            1.0,
            TypeError,
            r"step must be an int or an integer numpy array \(got step=1.0\)",
            id="float",
        ),
        pytest.param(2.5, TypeError, r"\(got step=2.5\)", id="fractional"),
        pytest.param(NAN, TypeError, r"\(got step=nan\)", id="nan"),
        pytest.param(INF, TypeError, r"\(got step=inf\)", id="inf"),
        pytest.param(True, TypeError, r"\(got step=True\)", id="bool"),
        pytest.param(np.bool_(True), TypeError, r"\(got step=", id="np-bool"),
        pytest.param("3", TypeError, r"\(got step='3'\)", id="str"),
        pytest.param([1, 2], TypeError, r"\(got step=\[1, 2\]\)", id="list"),
        pytest.param(
            np.array([1.0, 2.0]),
            TypeError,
            r"step must be an integer array \(got step dtype=float64\)",
            id="float-array",
        ),
        pytest.param(np.array([True]), TypeError, r"got step dtype=bool", id="bool-array"),
        pytest.param(
            np.array([3, -2, 5]),
            ValueError,
            r"step must be non-negative \(got step min=-2\)",
            id="negative-array",
        ),
    ],
)
def test_bad_step_is_refused(step: Any, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        SCHEDULE(step)


@pytest.mark.parametrize("kind", ["lr", "momentum"])
def test_bad_step_is_refused_by_momentum_too(kind: str) -> None:
    schedule = SCHEDULE if kind == "lr" else SCHEDULE.momentum()
    with pytest.raises(ValueError, match=r"got step=-5"):
        schedule(-5)
    with pytest.raises(TypeError, match=r"got step=0.5"):
        schedule(0.5)


def test_valid_edges_are_accepted() -> None:
    assert cyclr.ExpRange(0.001, 0.006, gamma=1.0)(123) == cyclr.Triangular(0.001, 0.006)(123)
    assert cyclr.OneCycle(0.1, 100, div_factor=1.0, final_div_factor=1.0)(99) == 0.1
    assert cyclr.Momentum(SCHEDULE, 0.0, 0.5)(0) == 0.5
    assert cyclr.Triangular(0.001, 0.006, np.int64(5))(5) == 0.006


@pytest.mark.parametrize(
    "module", ["torch", "jax._src.core", "jaxlib._jax", "keras.src", "tensorflow"]
)
def test_a_framework_tensor_step_points_to_the_adapters(module: str) -> None:
    tensor_type = type("Tensor", (), {"__module__": module})
    pattern = (
        rf"step must be an int or an integer numpy array \(got step of type {re.escape(module)}"
        r"\.Tensor\); .*cyclr\.keras\.Schedule\(schedule\), cyclr\.jax\.to_optax\(schedule\) "
        r"or cyclr\.torch\.Scheduler\(optimizer, schedule\)"
    )
    with pytest.raises(TypeError, match=pattern):
        SCHEDULE(tensor_type())
    with pytest.raises(TypeError, match=pattern):
        SCHEDULE.momentum()(tensor_type())


def test_a_real_torch_tensor_step_points_to_the_adapters() -> None:
    import torch

    with pytest.raises(
        TypeError, match=r"got step of type torch\.Tensor\).*cyclr\.torch\.Scheduler"
    ):
        SCHEDULE(torch.tensor(3))
