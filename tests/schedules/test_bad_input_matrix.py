"""A bad-input matrix: each case asserts the exception type and that the message names
the parameter and (an abbreviation of) the value."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cyclr import (
    Constant,
    Cyclic,
    ExpRange,
    Join,
    Linear,
    OneCycle,
    Triangular,
    Triangular2,
    join,
    schedule_from_dict,
    warmup,
)

HUGE = 10**400
HUGE_TEXT = "1000...0 (401 digits)"
NAN, INF = math.nan, math.inf

Case = tuple[Callable[[], Any], type[Exception], tuple[str, ...]]
CASES: dict[str, Case] = {}


def case(id_: str, build: Callable[[], Any], error: type[Exception], *needles: str) -> None:
    assert id_ not in CASES, id_
    CASES[id_] = (build, error, needles)


TRI = Triangular(0.001, 0.006, 10)
MOM = TRI.momentum(0.85, 0.95)

# Every LR-like float parameter of every class: huge ints, non-finite, sign, type.
LR_PARAMS: dict[str, Callable[[Any], Any]] = {
    "Triangular.base_lr": lambda v: Triangular(v, 0.006),
    "Triangular.max_lr": lambda v: Triangular(0.001, v),
    "Triangular2.base_lr": lambda v: Triangular2(v, 0.006),
    "Triangular2.max_lr": lambda v: Triangular2(0.001, v),
    "ExpRange.base_lr": lambda v: ExpRange(v, 0.006),
    "ExpRange.max_lr": lambda v: ExpRange(0.001, v),
    "Cyclic.base_lr": lambda v: Cyclic(v, 0.006),
    "Cyclic.max_lr": lambda v: Cyclic(0.001, v),
    "OneCycle.max_lr": lambda v: OneCycle(v, 100),
    "Constant.lr": lambda v: Constant(v),
    "Linear.start_lr": lambda v: Linear(v, 0.01, 10),
    "Linear.end_lr": lambda v: Linear(0.001, v, 10),
    "warmup.start_lr": lambda v: warmup(TRI, 10, start_lr=v),
}
for where, build in LR_PARAMS.items():
    name = where.split(".")[1]
    for label, value, error, text in (
        ("huge", HUGE, ValueError, HUGE_TEXT),
        ("minus-huge", -HUGE, ValueError, "-" + HUGE_TEXT),
        ("nan", NAN, ValueError, "nan"),
        ("inf", INF, ValueError, "inf"),
        ("-inf", -INF, ValueError, "-inf"),
        ("zero", 0.0, ValueError, "0.0"),
        ("negative", -0.5, ValueError, "-0.5"),
        ("string", "0.1", TypeError, "'0.1'"),
        ("none", None, TypeError, "None"),
        ("bool", True, TypeError, "True"),
        ("complex", 1j, TypeError, "1j"),
    ):
        if where == "warmup.start_lr" and value is None:
            continue  # None is start_lr's default
        case(
            f"{where}={label}",
            lambda b=build, v=value: b(v),
            error,
            f"{name}=",
            text,
        )

# Every count parameter: huge, past 2**53, zero, negative, float, bool, string.
COUNT_PARAMS: dict[str, Callable[[Any], Any]] = {
    "Triangular.step_size_up": lambda v: Triangular(0.001, 0.006, v),
    "Triangular.step_size_down": lambda v: Triangular(0.001, 0.006, 10, v),
    "Triangular2.step_size_up": lambda v: Triangular2(0.001, 0.006, v),
    "ExpRange.step_size_down": lambda v: ExpRange(0.001, 0.006, 10, v),
    "Cyclic.step_size_up": lambda v: Cyclic(0.001, 0.006, v),
    "OneCycle.total_steps": lambda v: OneCycle(0.1, v),
    "Linear.total_steps": lambda v: Linear(0.001, 0.01, v),
    "warmup.warmup_steps": lambda v: warmup(TRI, v),
    "Join.boundaries": lambda v: Join((Constant(0.1), Constant(0.1)), (v,)),
}
for where, build in COUNT_PARAMS.items():
    name = where.split(".")[1]
    for label, value, error, text in (
        ("huge", HUGE, ValueError, HUGE_TEXT),
        ("past-2**53", 2**53 + 1, ValueError, str(2**53 + 1)),
        ("zero", 0, ValueError, "0"),
        ("negative", -3, ValueError, "-3"),
        ("minus-huge", -HUGE, ValueError, "-" + HUGE_TEXT),
        ("float", 10.0, TypeError, "10.0"),
        ("bool", True, TypeError, "True"),
        ("string", "10", TypeError, "'10'"),
    ):
        case(f"{where}={label}", lambda b=build, v=value: b(v), error, f"{name}=", text)

# Other fractions and factors.
for label, value, error, text in (
    ("huge", HUGE, ValueError, HUGE_TEXT),
    ("nan", NAN, ValueError, "nan"),
    ("zero", 0.0, ValueError, "0.0"),
    ("above-1", 1.5, ValueError, "1.5"),
    ("string", "x", TypeError, "'x'"),
):
    case(
        f"ExpRange.gamma={label}",
        lambda v=value: ExpRange(0.001, 0.006, gamma=v),
        error,
        "gamma=",
        text,
    )
    case(
        f"OneCycle.pct_start={label}",
        lambda v=value: OneCycle(0.1, 100, pct_start=v),
        error,
        "pct_start=",
        text,
    )
for factor in ("div_factor", "final_div_factor"):
    for label, value, error, text in (
        ("huge", HUGE, ValueError, HUGE_TEXT),
        ("nan", NAN, ValueError, "nan"),
        ("below-1", 0.5, ValueError, "0.5"),
        ("string", "x", TypeError, "'x'"),
    ):
        case(
            f"OneCycle.{factor}={label}",
            lambda f=factor, v=value: OneCycle(0.1, 100, **{f: v}),
            error,
            f"{factor}=",
            text,
        )
for mom in ("base_momentum", "max_momentum"):
    for label, value, error, text in (
        ("huge", HUGE, ValueError, HUGE_TEXT),
        ("nan", NAN, ValueError, "nan"),
        ("above-1", 1.5, ValueError, "1.5"),
        ("negative", -0.1, ValueError, "-0.1"),
        ("string", "x", TypeError, "'x'"),
    ):
        kwargs = {"base_momentum": 0.8, "max_momentum": 0.9, mom: value}
        case(f"momentum.{mom}={label}", lambda k=kwargs: TRI.momentum(**k), error, f"{mom}=", text)

# OneCycle whose LR underflows to 0.0.
for label, kwargs in {
    "final-underflow": {"max_lr": 1e-300, "div_factor": 1e10, "final_div_factor": 1e20},
    "initial-underflow": {"max_lr": 1e-300, "div_factor": 1e300},
    "linear-annihilation-rounds-to-0": {
        "max_lr": 0.1,
        "final_div_factor": 1e300,
        "anneal": "linear",
    },
    "cos-warmup-rounds-to-0": {"max_lr": 0.1, "div_factor": 1e300},
}.items():
    case(
        f"OneCycle-{label}",
        lambda k=kwargs: OneCycle(total_steps=100, **k),
        ValueError,
        "max_lr=",
        "div_factor=",
        "final_div_factor=",
        "rounds to 0.0",
    )

# Steps.
for cls_name, sched in {"Triangular": TRI, "OneCycle": OneCycle(0.1, 100), "Momentum": MOM}.items():
    for label, step, error, needles in (
        ("negative", -1, ValueError, ("step=-1",)),
        ("minus-huge", -HUGE, ValueError, ("step=-" + HUGE_TEXT,)),
        ("float", 1.5, TypeError, ("step=1.5",)),
        ("string", "3", TypeError, ("step='3'",)),
        ("bool", True, TypeError, ("step=True",)),
        ("none", None, TypeError, ("step=None",)),
        ("float-array", np.array([1.0]), TypeError, ("step dtype=float64",)),
        ("negative-array", np.array([3, -2]), ValueError, ("step min=-2",)),
        (
            "uint64-past-int64",
            np.array([2**64 - 1], dtype=np.uint64),
            ValueError,
            ("step max=18446744073709551615",),
        ),
        ("missing", None, TypeError, ("called without a step", "cyclr.keras.Schedule")),
    ):
        call = (lambda s=sched: s()) if label == "missing" else (lambda s=sched, v=step: s(v))
        case(f"{cls_name}(step={label})", call, error, *needles)

# A scale function out of [0, 1] or not a number, on the scalar and the array path.
BAD_SCALES: dict[str, tuple[Callable[[Any, Any], Any], str, type[Exception]]] = {
    "nan": (lambda x, ops: x * math.nan, "nan", ValueError),
    "negative": (lambda x, ops: x * 0.0 - 0.5, "-0.5", ValueError),
    "above-1": (lambda x, ops: x * 0.0 + 2.0, "2.0", ValueError),
    "inf": (lambda x, ops: x * 0.0 + math.inf, "inf", ValueError),
    "none": (lambda x, ops: None, "None", TypeError),
}
for label, (fn, text, error) in BAD_SCALES.items():
    for mode in ("cycle", "iterations"):
        for path, step in (("scalar", 7), ("array", np.arange(3, 9))):
            case(
                f"Cyclic-scale_fn-{label}-{mode}-{path}",
                lambda f=fn, m=mode, s=step: Cyclic(0.001, 0.006, 10, scale_fn=f, scale_mode=m)(s),
                error,
                "scale_fn",
                text,
                *(("at step=3",) if error is ValueError and path == "array" else ()),
                *(("at step=7",) if error is ValueError and path == "scalar" else ()),
            )
case(
    "Cyclic-iterations-step-past-2**53",
    lambda: Cyclic(0.001, 0.006, 10, scale_fn=lambda x, o: 1.0, scale_mode="iterations")(2**53 + 1),
    ValueError,
    "step=" + str(2**53 + 1),
    "2**53",
)

# join / warmup of momentum schedules.
case(
    "join-lr-then-momentum",
    lambda: join([TRI, MOM], [20]),
    TypeError,
    "schedules[0]=Triangular",
    "schedules[1]=Momentum",
)
case(
    "join-momentum-then-lr",
    lambda: join([MOM, TRI], [20]),
    TypeError,
    "schedules[1]=Triangular",
    "schedules[0]=Momentum",
)
case("join-momentum-only", lambda: join([MOM, MOM], [20]), TypeError, "schedules[0]=Momentum")
case("warmup-of-momentum", lambda: warmup(MOM, 10), TypeError, "schedule=Momentum", "warmup")
case(
    "join-jump",
    lambda: join([Constant(0.1), Constant(0.2)], [5]),
    ValueError,
    "boundary 5",
    "0.1",
    "0.2",
)


# Deep nesting and bad saved forms.
def _deep_join(depth: int) -> Any:
    schedule: Any = Constant(0.1)
    for _ in range(depth):
        schedule = join([schedule, Constant(0.1)], [1])
    return schedule


def _deep_dict(depth: int) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": "constant", "lr": 0.1}
    for _ in range(depth):
        data = {
            "kind": "join",
            "schedules": [data, {"kind": "constant", "lr": 0.1}],
            "boundaries": [1],
        }
    return data


def _deep_list(depth: int) -> Any:
    data: Any = 0.1
    for _ in range(depth):
        data = [data]
    return data


case("join-3000-deep", lambda: _deep_join(3000), ValueError, "at most 100 levels", "depth=101")
case(
    "from_dict-3000-deep",
    lambda: schedule_from_dict(_deep_dict(3000)),
    ValueError,
    "at most 201",
    "depth=201",
)
case(
    "from_dict-deep-value",
    lambda: schedule_from_dict({"kind": "constant", "lr": _deep_list(3000)}),
    ValueError,
    "at most 201",
)
case("from_dict-deep-list", lambda: schedule_from_dict(_deep_list(3000)), ValueError, "at most 201")
case("from_dict-not-mapping", lambda: schedule_from_dict([1]), TypeError, "data=[1]")
case(
    "from_dict-unknown-kind",
    lambda: schedule_from_dict({"kind": "nope"}),
    ValueError,
    "kind='nope'",
)
case(
    "from_dict-huge-lr",
    lambda: schedule_from_dict({"kind": "constant", "lr": HUGE}),
    ValueError,
    "lr=" + HUGE_TEXT,
)
case(
    "from_dict-unknown-key",
    lambda: schedule_from_dict({"kind": "constant", "lr": 0.1, "x": 1}),
    ValueError,
    "unknown keys",
    "'x'",
)
case(
    "from_dict-missing-key",
    lambda: schedule_from_dict({"kind": "linear", "start_lr": 0.1}),
    ValueError,
    "missing keys",
    "end_lr",
)
case("float-of-schedule", lambda: float(TRI), TypeError, "Triangular", "not a number")
case("array-of-schedule", lambda: np.asarray(MOM), TypeError, "Momentum", "cyclr.keras.SGD")


@pytest.mark.parametrize("build, error, needles", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_refused_naming_parameter_and_value(
    build: Callable[[], Any], error: type[Exception], needles: tuple[str, ...]
) -> None:
    with pytest.raises(error) as info:
        build()
    assert type(info.value) is error or isinstance(info.value, error)
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert len(message) < 1200


def test_the_matrix_is_large() -> None:
    assert len(CASES) >= 250
