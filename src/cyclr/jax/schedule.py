"""cyclr schedules as optax schedules: ``count -> jnp scalar``, traceable under jit and vmap.

The schedule's formula runs on ``jax.numpy`` in double-float arithmetic
(:mod:`cyclr.schedules.twofloat`), so the float32 value agrees with the float64 curve
to within a few ulps at any step, where the same formula evaluated directly in float32
drifts hundreds of ulps away at large steps. With ``jax_enable_x64`` on, the schedule is
evaluated in plain float64 and returns float64.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import check_type, describe_number
from ..schedules import Schedule
from ..schedules._steps import as_step_array, check_step_values
from ..schedules.ops import Ops
from ..schedules.twofloat import Float32Backend, TwoFloat, two_float_ops

__all__ = ["JAX_OPS", "OptaxSchedule", "evaluate", "to_optax"]


def _f32(value: float) -> jax.Array:
    # Opaque to XLA's algebraic simplifier, which re-associates float additions with
    # constants ((x + 1) - 1 -> x) and would erase the rounding errors two-sum captures.
    barrier: Any = jax.lax.optimization_barrier
    return barrier(jnp.asarray(value, dtype=jnp.float32))  # type: ignore[no-any-return]


def _truncate(x: jax.Array) -> jax.Array:
    bits = jax.lax.bitcast_convert_type(jnp.asarray(x, jnp.float32), jnp.int32)
    return jax.lax.bitcast_convert_type(bits & -4096, jnp.float32)


_BACKEND = Float32Backend.from_namespace("jax", jnp, asarray=_f32, truncate=_truncate)

JAX_OPS: Ops = two_float_ops(_BACKEND)
"""Double-float ``jax.numpy`` ops: float32 results within a few ulps of float64."""

_JAX_OPS_64 = Ops.from_namespace("jax-float64", jnp)


def _x64() -> bool:
    return bool(jax.config.read("jax_enable_x64"))  # type: ignore[no-untyped-call]


def _check_host_steps(step: Any) -> None:
    """Refuse negative, fractional or too large concrete steps; traced steps pass unchecked.

    A concrete JAX array is read back to check it (outside ``jit`` only); under ``jit``
    and ``vmap`` the step is a tracer with no value, and is not checked.
    """
    if isinstance(step, jax.core.Tracer):
        return
    array = as_step_array(step)
    check_step_values(array, step)
    if not array.size:
        return
    limit = 2**63 if _x64() else 2**31
    if np.max(array) >= limit:
        where = "jax_enable_x64 on: int64" if _x64() else "jax_enable_x64 off: JAX counts in int32"
        raise ValueError(
            f"step must be below 2**{limit.bit_length() - 1} ({where}) "
            f"(got step={describe_number(step)})"
        )


def evaluate(schedule: Schedule, step: Any) -> jax.Array:
    """Evaluate ``schedule`` at ``step`` (an integer, or an array of them) with ``jax.numpy``.

    Args:
        schedule: Any cyclr schedule.
        step: Optimizer step(s): a Python int, a NumPy or JAX integer array, or a traced
            value. Whole-valued float arrays are accepted too.

    Returns:
        A float32 array of the step's shape (float64 with ``jax_enable_x64``).

    Raises:
        TypeError: If ``schedule`` is not a cyclr schedule or ``step`` is not numeric.
        ValueError: If a concrete step (a Python or NumPy number, or a JAX array outside
            ``jit``) is negative, fractional or past the integer range JAX counts in
            (``2**31`` without ``jax_enable_x64``). Under ``jit``/``vmap`` the step is
            traced and has no value to check: a negative traced step gives the
            schedule's formula at that step, unchecked.

    Example:
        >>> from cyclr import Triangular
        >>> evaluate(Triangular(0.001, 0.006, 2000), 1000).dtype
        dtype('float32')
    """
    check_type("schedule", schedule, Schedule, "a cyclr Schedule")
    _check_host_steps(step)
    steps = jnp.asarray(step)
    if _x64():
        return jnp.asarray(
            schedule.evaluate(steps.astype(jnp.float64), _JAX_OPS_64), dtype=jnp.float64
        )
    if jnp.issubdtype(steps.dtype, jnp.integer):  # int32: without x64 JAX has no int64
        hi = steps.astype(jnp.float32)
        # steps - hi in two exact halves: near the top of int32, hi rounds to 2**31,
        # which does not convert back to int32.
        half = jnp.floor(hi * 0.5)
        rest = hi - half
        lo = ((steps - half.astype(steps.dtype)) - rest.astype(steps.dtype)).astype(jnp.float32)
    else:
        hi = steps.astype(jnp.float32)
        lo = jnp.zeros_like(hi)
    value = schedule.evaluate(TwoFloat(hi, lo, _BACKEND), JAX_OPS)
    if isinstance(value, TwoFloat):
        return jnp.asarray(value.value(), dtype=jnp.float32)
    return jnp.broadcast_to(jnp.asarray(value, dtype=jnp.float32), hi.shape)


@dataclasses.dataclass(frozen=True)
class OptaxSchedule:
    """A cyclr schedule as an optax schedule: ``schedule(count) -> jnp`` scalar.

    Pass it wherever optax takes a schedule (``learning_rate=`` of any optax optimizer),
    or as any hyper-parameter through ``optax.inject_hyperparams``, for example a
    momentum schedule as Adam's ``b1``. Unlike a closure it pickles, compares by value
    and has a readable repr.

    Attributes:
        schedule: The cyclr schedule it evaluates.
    """

    schedule: Schedule

    def __post_init__(self) -> None:
        check_type("schedule", self.schedule, Schedule, "a cyclr Schedule")

    def __call__(self, count: Any) -> jax.Array:
        """Return the value at step ``count`` (see :func:`evaluate`)."""
        return evaluate(self.schedule, count)


def to_optax(schedule: Schedule) -> OptaxSchedule:
    """Turn a cyclr schedule into an optax schedule (``count -> jnp`` scalar).

    The result traces under ``jax.jit`` and ``jax.vmap``; step ``count`` gets
    ``schedule(count)`` to within a few float32 ulps (float64 with x64 enabled).

    Args:
        schedule: Any cyclr schedule, including a momentum schedule
            (``schedule.momentum(0.85, 0.95)``) for ``optax.inject_hyperparams``.

    Returns:
        An :class:`OptaxSchedule`.

    Raises:
        TypeError: If ``schedule`` is not a cyclr schedule.

    Example:
        >>> import jax, optax
        >>> from cyclr import OneCycle
        >>> from cyclr.jax import to_optax
        >>> lr = OneCycle(max_lr=0.01, total_steps=1000)
        >>> opt = optax.inject_hyperparams(optax.adam)(
        ...     learning_rate=to_optax(lr), b1=to_optax(lr.momentum(0.85, 0.95)))
        >>> state = opt.init({"w": jax.numpy.zeros(3)})
        >>> float(state.hyperparams["b1"])
        0.949999988079071
        >>> values = jax.jit(jax.vmap(to_optax(lr)))(jax.numpy.arange(1000))
        >>> round(float(values.max()), 6)
        0.01
    """
    return OptaxSchedule(schedule)
