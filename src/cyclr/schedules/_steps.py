"""Host steps and host values: what a schedule accepts as a step and what it may return.

A step is a Python int (of any size) or a NumPy integer array, never negative. Both are
kept as integers, so a schedule can compute its position in a cycle exactly, at steps
far beyond what a float64 holds (``2**53``). Every value a schedule returns on the host
is checked: a NaN, an infinity or a negative learning rate never reaches an optimizer.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from .._validate import MAX_EXACT_INT, describe, describe_number

__all__ = [
    "MAX_NESTING",
    "check_host_values",
    "exact_float",
    "host_steps",
    "nesting_error",
]

IntArray = npt.NDArray[np.integer[Any]]

MAX_NESTING = 100
"""Most levels of :class:`~cyclr.Join` and :class:`~cyclr.Momentum` one schedule may nest."""

_FRAMEWORKS = ("torch", "jax", "keras", "tensorflow")
"""Modules whose tensors a schedule refuses with a pointer to the framework's adapter."""

_INT64_MAX = int(np.iinfo(np.int64).max)


def host_steps(step: Any) -> int | IntArray:
    """Validate ``step`` and return it as a Python int or an ``int64`` array.

    Raises:
        TypeError: If ``step`` is not an int or an integer array (a framework tensor
            gets a pointer to the framework's adapter).
        ValueError: If a step is negative, or an unsigned array holds a step past
            ``2**63 - 1`` (pass such steps one by one, as Python ints).
    """
    if isinstance(step, numbers.Integral) and not isinstance(step, (bool, np.bool_)):
        value = int(step)
        if value < 0:
            raise ValueError(f"step must be non-negative (got step={describe_number(step)})")
        return value
    if isinstance(step, np.ndarray):
        if not np.issubdtype(step.dtype, np.integer):
            raise TypeError(f"step must be an integer array (got step dtype={step.dtype})")
        if step.size and step.min() < 0:
            raise ValueError(f"step must be non-negative (got step min={int(step.min())})")
        if step.size and step.dtype == np.uint64 and int(step.max()) > _INT64_MAX:
            raise ValueError(
                "step arrays must hold steps below 2**63; pass larger steps as Python ints "
                f"(got step max={int(step.max())})"
            )
        return step.astype(np.int64)
    kind = type(step)
    if kind.__module__.startswith(_FRAMEWORKS):
        raise TypeError(
            "step must be an int or an integer numpy array (got step of type "
            f"{kind.__module__}.{kind.__qualname__}); a cyclr schedule computes on the host: "
            "inside a framework use cyclr.keras.Schedule(schedule), "
            "cyclr.jax.to_optax(schedule) or cyclr.torch.Scheduler(optimizer, schedule)"
        )
    raise TypeError(f"step must be an int or an integer numpy array (got step={describe(step)})")


def exact_float(name: str, value: Any, owner: str) -> Any:
    """Return an integer (or integer array) as float64, refusing what a float cannot hold.

    Args:
        name: What the value is, for the message (``"cycle"``, ``"step"``).
        value: A Python int or an integer array; floats pass through unchanged.
        owner: The schedule that needs the float, for the message.

    Raises:
        ValueError: If the value exceeds ``2**53``, where float64 loses integers.
    """
    if isinstance(value, int):
        if value > MAX_EXACT_INT:
            raise ValueError(
                f"{owner} passes the {name} to its scale_fn as a float, which is exact only "
                f"up to 2**53 (got {name}={describe_number(value)})"
            )
        return float(value)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer):
        if value.size and int(value.max()) > MAX_EXACT_INT:
            raise ValueError(
                f"{owner} passes the {name} to its scale_fn as a float, which is exact only "
                f"up to 2**53 (got {name}={int(value.max())})"
            )
        return value.astype(np.float64)
    return value


def check_host_values(owner: Any, what: str, steps: Any, values: Any) -> None:
    """Raise ``ValueError`` unless every value is a finite number ``>= 0``.

    Args:
        owner: The schedule (or scale function) that produced the values, for the message.
        what: The name of the values (``"lr"``, ``"scale_fn"`` result, ...).
        steps: The step or steps, aligned with ``values`` (broadcast if scalar).
        values: A float or an array of floats.
    """
    if isinstance(values, float):
        if 0.0 <= values < np.inf:
            return
        bad_step: Any = steps
        bad_value: Any = values
    else:
        array = np.asarray(values, dtype=np.float64)
        good = (array >= 0.0) & (array < np.inf)
        if good.all():
            return
        index = np.unravel_index(int(np.argmin(good)), array.shape) if array.ndim else ()
        bad_value = float(array[index])
        step_array = np.broadcast_to(np.asarray(steps), array.shape)
        bad_step = step_array[index].item()
    raise ValueError(
        f"{what} must be a finite number >= 0 at every step (got {what}={bad_value!r} at "
        f"step={describe_number(bad_step)} from {describe(owner)})"
    )


def nesting_error(depth: int) -> ValueError:
    """The error for a schedule (or its saved form) nested past :data:`MAX_NESTING`."""
    return ValueError(
        f"schedules may nest at most {MAX_NESTING} levels of join and momentum (got depth={depth})"
    )


def as_step_array(step: Any) -> Any:
    """``np.asarray(step)``, with a Python int past int64 saturated rather than an object."""
    if isinstance(step, int) and not isinstance(step, bool) and abs(step) >= 2**63:
        return np.asarray(float(np.sign(step)) * 2.0**63)
    return np.asarray(step)


def check_step_values(array: Any, step: Any) -> None:
    """Refuse a concrete framework step that is not a whole number ``>= 0``.

    Args:
        array: The step's value on the host (``np.asarray`` of it).
        step: The step as given, for the message.

    Raises:
        TypeError: If it is neither integer nor float (a bool, a string, ...).
        ValueError: If it is negative, fractional or not finite.
    """
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(
            f"step must be an integer or an integer array (got step={describe_number(step)})"
        )
    if not array.size:
        return
    if np.issubdtype(array.dtype, np.floating) and not (
        np.all(np.isfinite(array)) and np.all(array == np.floor(array))
    ):
        raise ValueError(f"step must hold whole numbers (got step={describe(step)})")
    if np.min(array) < 0:
        raise ValueError(f"step must be non-negative (got step={describe_number(step)})")
