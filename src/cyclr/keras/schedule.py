"""cyclr schedules as Keras 3 ``LearningRateSchedule`` objects, on every Keras backend.

The schedule's formula runs on ``keras.ops`` in double-float arithmetic
(:mod:`cyclr.schedules.twofloat`), so the float32 LR the optimizer reads agrees with
the float64 curve to within a few ulps at any step, inside a compiled train step on the
JAX backend as well as eagerly on the PyTorch backend.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from .._validate import check_type
from ..schedules import Schedule as CyclrSchedule
from ..schedules import schedule_from_dict
from ..schedules._steps import as_step_array, check_step_values
from ..schedules.ops import Ops
from ..schedules.twofloat import Float32Backend, TwoFloat, two_float_ops

__all__ = ["Schedule", "evaluate"]

_MASK = -4096


def _generic_asarray(value: float) -> Any:
    return ops.convert_to_tensor(value, "float32")


def _generic_truncate(x: Any) -> Any:
    bits = ops.view(ops.convert_to_tensor(x, "float32"), "int32")
    return ops.view(ops.bitwise_and(bits, _MASK), "float32")


def _torch_truncate(x: Any) -> Any:
    import torch

    bits = x.to(torch.float32).contiguous().view(torch.int32)
    return (bits & _MASK).view(torch.float32)


@functools.cache
def _backend(name: str) -> tuple[Float32Backend, Ops]:
    """The float32 primitives of the active Keras backend (fixed once keras is imported)."""
    asarray: Callable[[float], Any] = _generic_asarray
    truncate: Callable[[Any], Any] = _generic_truncate
    if name == "jax":  # the primitives of cyclr.jax, opaque to XLA's simplifier
        from ..jax import schedule as jax_schedule

        asarray, truncate = jax_schedule._BACKEND.asarray, jax_schedule._BACKEND.truncate
    elif name == "torch":
        truncate = _torch_truncate
    backend = Float32Backend.from_namespace(
        f"keras-{name}", ops, asarray=asarray, truncate=truncate
    )
    return backend, two_float_ops(backend)


def _concrete_step(step: Any) -> np.ndarray | None:
    """The step's value on the host, or ``None`` when it is traced or compiled.

    Host numbers and eager PyTorch tensors are read; a JAX-backend step is read only when
    it is a concrete array (never under ``jit``); other backends are not read.
    """
    if isinstance(step, (numbers.Number, np.generic, np.ndarray, str, bytes)):
        return np.asarray(as_step_array(step))
    name = keras.backend.backend()
    if name == "torch":
        import torch

        compiler = getattr(torch, "compiler", None)
        is_compiling = getattr(compiler, "is_compiling", None) or torch._dynamo.is_compiling
        if is_compiling():
            return None
        return np.asarray(ops.convert_to_numpy(ops.convert_to_tensor(step)))
    if name == "jax":
        import jax

        value = step.value if isinstance(step, keras.Variable) else step
        if isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer):
            return np.asarray(value)
    return None


def evaluate(schedule: CyclrSchedule, step: Any) -> Any:
    """Evaluate a cyclr schedule at ``step`` with ``keras.ops``, as a float32 tensor.

    Args:
        schedule: Any cyclr schedule.
        step: The optimizer step: an int, an integer tensor (any shape) or a Keras
            variable such as ``optimizer.iterations``.

    Returns:
        A float32 tensor of the step's shape, within a few ulps of ``schedule(step)``.

    Raises:
        TypeError: If ``schedule`` is not a cyclr schedule.
    """
    check_type("schedule", schedule, CyclrSchedule, "a cyclr Schedule")
    backend, two_float = _backend(keras.backend.backend())
    steps = ops.convert_to_tensor(step)
    hi = ops.cast(steps, "float32")
    if "int" in str(ops.dtype(steps)):
        # steps - hi in two exact halves: near the top of int32, hi rounds to 2**31,
        # which does not convert back to int32.
        half = ops.floor(hi * 0.5)
        rest = hi - half
        kind = ops.dtype(steps)
        lo = ops.cast((steps - ops.cast(half, kind)) - ops.cast(rest, kind), "float32")
    else:
        lo = hi * 0.0
    value = schedule.evaluate(TwoFloat(hi, lo, backend), two_float)
    if isinstance(value, TwoFloat):
        return value.value()
    return ops.cast(ops.broadcast_to(value, ops.shape(hi)), "float32")


@keras.saving.register_keras_serializable(package="cyclr", name="Schedule")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """A cyclr schedule as a Keras ``LearningRateSchedule``.

    The optimizer calls it with its step counter before every update, so update ``i``
    (0-based) uses ``schedule(i)``. It is registered as serializable: a model saved
    with ``model.save("m.keras")`` keeps its schedule and its optimizer's step count,
    and continues with the same LRs after ``keras.models.load_model`` (import
    ``cyclr.keras`` first, so Keras knows the class).

    Keras' own optimizers take it as ``learning_rate`` only. A bare cyclr schedule as
    ``learning_rate`` is a plain callable to Keras, which it calls with no step: that
    call raises a ``TypeError`` naming this class (at the first update; a Keras
    optimizer runs no code of the schedule at construction, cyclr's own ``SGD``/``Adam``
    refuse it at once). For a scheduled momentum use :class:`cyclr.keras.SGD`,
    :class:`cyclr.keras.Adam` or :class:`cyclr.keras.AdamW`: ``keras.optimizers.SGD``
    refuses anything but a float momentum with its own message before any cyclr code
    runs, and ``keras.optimizers.Adam(beta_1=...)`` reaches this schedule's ``__array__``
    at the first update, which raises a ``TypeError`` naming the cyclr optimizers.

    Args:
        schedule: Any cyclr schedule (its ``to_dict()`` is the Keras config).

    Raises:
        TypeError: If ``schedule`` is not a cyclr schedule.

    Example:
        >>> import keras
        >>> from cyclr import Triangular
        >>> from cyclr.keras import Schedule
        >>> lr = Schedule(Triangular(base_lr=0.001, max_lr=0.006, step_size_up=2000))
        >>> optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=0.9)
        >>> round(float(lr(2000)), 6)
        0.006
        >>> Schedule.from_config(lr.get_config()).schedule == lr.schedule
        True
    """

    def __init__(self, schedule: CyclrSchedule) -> None:
        check_type("schedule", schedule, CyclrSchedule, "a cyclr Schedule")
        self.schedule = schedule

    def __call__(self, step: Any) -> Any:
        """Return the float32 value at ``step`` (see :func:`evaluate`).

        On the PyTorch backend outside ``torch.compile`` the optimizer's step is read on
        the host and the value computed in float64, then rounded once to float32: an
        eager PyTorch update already reads its LR on the host, and this skips a few
        hundred tiny tensor operations per step.

        Raises:
            ValueError: If a concrete step (a host number, an eager PyTorch tensor, a
                JAX array outside ``jit``) is negative or fractional. A traced step
                (inside a compiled train step on the JAX backend) has no value to check.
        """
        value = _concrete_step(step)
        if value is not None:
            check_step_values(value, step)
            eager_torch = keras.backend.backend() == "torch"
            if eager_torch and value.ndim == 0 and np.issubdtype(value.dtype, np.integer):
                return ops.convert_to_tensor(self.schedule(int(value)), "float32")
        return evaluate(self.schedule, step)

    def get_config(self) -> dict[str, Any]:
        """Return ``schedule.to_dict()``, which :meth:`from_config` rebuilds."""
        return self.schedule.to_dict()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        """Rebuild from :meth:`get_config` output."""
        return cls(schedule_from_dict(config))

    def __repr__(self) -> str:
        return f"cyclr.keras.Schedule({self.schedule!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return bool(self.schedule == other.schedule)

    def __hash__(self) -> int:
        return hash(self.schedule)

    # A Keras optimizer that takes a hyper-parameter other than the learning rate as a
    # number converts, casts or compares it; each of those fails here with the fix.
    def _not_a_number(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"cyclr.keras.Schedule({self.schedule.kind!r}) is a schedule of the optimizer "
            "step: Keras optimizers accept it as "
            "learning_rate only. For a scheduled momentum use cyclr.keras.SGD(momentum=...), "
            "cyclr.keras.Adam(beta_1=...) or cyclr.keras.AdamW(beta_1=...); other Keras "
            "optimizers take a fixed momentum"
        )

    __array__ = _not_a_number
    __jax_array__ = _not_a_number
    __float__ = _not_a_number
    __lt__ = _not_a_number
    __le__ = _not_a_number
    __gt__ = _not_a_number
    __ge__ = _not_a_number
