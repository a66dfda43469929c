"""The :class:`Schedule` contract: a pure function of the optimizer step.

A schedule maps a 0-based optimizer step to a learning rate. It knows nothing of
optimizers, epochs or frameworks. Subclasses are frozen dataclasses: picklable, with
a readable repr, and :meth:`Schedule.to_dict` doubles as torch state and Keras config.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, overload

import numpy as np
import numpy.typing as npt

from .._validate import check_above, check_real, describe
from ._steps import MAX_NESTING, check_host_values, host_steps, nesting_error
from .ops import NUMPY_OPS, SCALAR_OPS, Ops

__all__ = ["Momentum", "Schedule", "schedule_from_dict"]

_KINDS: dict[str, type[Schedule]] = {}

_CHUNK = 16384
"""Steps per vectorized chunk: temporaries stay in cache instead of being allocated anew."""

IntArray = npt.NDArray[np.integer[Any]]
FloatArray = npt.NDArray[np.float64]


class _NoStep:
    """The default of :meth:`Schedule.__call__`'s step: a call without one is refused."""

    def __repr__(self) -> str:
        return "<no step>"


_NO_STEP = _NoStep()


def _no_step_error(schedule: Schedule) -> TypeError:
    return TypeError(
        f"{describe(schedule)} was called without a step: a cyclr schedule is a function of "
        "the optimizer step, schedule(step). Keras calls a plain callable learning_rate with "
        "no argument: pass learning_rate=cyclr.keras.Schedule(schedule); in optax use "
        "cyclr.jax.to_optax(schedule); in torch cyclr.torch.Scheduler(optimizer, schedule)"
    )


def _not_a_number_error(schedule: Schedule) -> TypeError:
    return TypeError(
        f"{describe(schedule)} is a schedule of the optimizer step, not a number: its value "
        "is schedule(step). As a framework hyper-parameter use cyclr.torch.Scheduler, "
        "cyclr.keras.Schedule (learning_rate), cyclr.keras.SGD(momentum=...), "
        "cyclr.keras.Adam(beta_1=...) / AdamW(beta_1=...), or cyclr.jax.to_optax(schedule)"
    )


def nesting(schedule: Schedule) -> int:
    """Levels of :class:`~cyclr.Join` / :class:`Momentum` in ``schedule`` (1 for a leaf)."""
    return int(getattr(schedule, "_nesting", 1))


def set_nesting(schedule: Schedule, parts: tuple[Schedule, ...]) -> None:
    """Record ``schedule``'s nesting depth from its parts; refuse past the limit."""
    depth = 1 + max(nesting(part) for part in parts)
    if depth > MAX_NESTING:
        raise nesting_error(depth)
    object.__setattr__(schedule, "_nesting", depth)


class Schedule(abc.ABC):
    """Base class of every cyclr schedule: ``lr = schedule(step)``.

    Subclasses implement :meth:`evaluate` once against an :class:`~cyclr.schedules.ops.Ops`
    namespace; calling the schedule picks the scalar or the NumPy ops.
    """

    kind: ClassVar[str]
    """Name under which :func:`schedule_from_dict` finds the class."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            _KINDS[kind] = cls

    @overload
    def __call__(self, step: int) -> float: ...

    @overload
    def __call__(self, step: IntArray) -> FloatArray: ...

    def __call__(self, step: int | IntArray | _NoStep = _NO_STEP) -> float | FloatArray:
        """Return the value at ``step`` (an int) or at every element of an integer array.

        The scalar and the array path are the same function of the step, bit for bit.
        Integer steps stay integers: a cycle position is exact at any step, even past
        ``2**53`` where a float64 no longer holds every integer.

        Raises:
            TypeError: If ``step`` is missing (Keras calls a plain callable
                ``learning_rate`` without one: wrap it in ``cyclr.keras.Schedule``), or
                not an int or an integer array, for example a framework tensor (use the
                framework's adapter instead).
            ValueError: If a step is negative, or the value is not a finite number
                ``>= 0`` (a custom ``scale_fn`` or subclass gone wrong).
        """
        if isinstance(step, _NoStep):
            raise _no_step_error(self)
        steps = host_steps(step)
        if isinstance(steps, int):
            value = float(self.evaluate(steps, SCALAR_OPS))
            check_host_values(self, self._value_name, steps, value)
            return value
        if steps.size <= _CHUNK:
            out = np.asarray(self.evaluate(steps, NUMPY_OPS), dtype=np.float64)
            out = np.broadcast_to(out, steps.shape).copy() if out.shape != steps.shape else out
        else:
            # Element-wise math in cache-sized chunks: the same values, without the cost of
            # allocating every temporary at full size.
            flat = steps.reshape(-1)
            out = np.empty(flat.shape, dtype=np.float64)
            for start in range(0, flat.size, _CHUNK):
                out[start : start + _CHUNK] = self.evaluate(flat[start : start + _CHUNK], NUMPY_OPS)
            out = out.reshape(steps.shape)
        check_host_values(self, self._value_name, steps, out)
        return out

    _value_name: ClassVar[str] = "lr"
    """What the schedule's values are, for error messages."""

    def __float__(self) -> float:
        raise _not_a_number_error(self)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_a_number_error(self)

    @abc.abstractmethod
    def evaluate(self, step: Any, ops: Ops) -> Any:
        """Evaluate the formula on already validated, non-negative steps.

        On the host (:data:`~cyclr.schedules.ops.SCALAR_OPS`,
        :data:`~cyclr.schedules.ops.NUMPY_OPS`) the step is a Python int or an ``int64``
        array (floats work too); adapters call this with their own ops (``keras.ops``,
        ``jax.numpy``) and float steps.
        """

    @abc.abstractmethod
    def evaluate_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> Any:
        """Evaluate the companion momentum, which moves opposite to the learning rate."""

    def evaluate_with_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> tuple[Any, Any]:
        """Evaluate the LR and its companion momentum together, as a training loop asks.

        The values are those of :meth:`evaluate` and :meth:`evaluate_momentum`; a subclass
        may compute what the two share only once.
        """
        return (
            self.evaluate(step, ops),
            self.evaluate_momentum(step, ops, base_momentum, max_momentum),
        )

    def momentum(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> Momentum:
        """Return the companion momentum schedule: high LR, low momentum.

        Args:
            base_momentum: Momentum when the LR is at its peak.
            max_momentum: Momentum when the LR is at its floor.

        Returns:
            A :class:`Momentum` schedule with the same step axis as this one.
        """
        return Momentum(self, base_momentum, max_momentum)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description that :func:`schedule_from_dict` rebuilds."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {"kind": self.kind, **fields}

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Schedule:
        return cls(**fields)


@dataclasses.dataclass(frozen=True)
class Momentum(Schedule):
    """The momentum that accompanies a learning-rate schedule, moving opposite to it.

    Where the LR is at its floor the momentum is ``max_momentum``; where it peaks, it is
    ``base_momentum`` (Smith 2018, section 4.2). For the cyclic policies this is
    torch's ``CyclicLR(cycle_momentum=True)`` formula:
    ``m = max_momentum - (max_momentum - base_momentum) * s * scale``.

    Args:
        schedule: The learning-rate schedule to mirror.
        base_momentum: Momentum at peak LR, in ``[0, 1)``.
        max_momentum: Momentum at the LR floor, in ``(base_momentum, 1)``.

    Example:
        >>> from cyclr import Triangular
        >>> m = Triangular(0.001, 0.006, step_size_up=10).momentum(0.85, 0.95)
        >>> round(m(0), 12), round(m(10), 12)
        (0.95, 0.85)

    References:
        L. N. Smith, "A disciplined approach to neural network hyper-parameters: Part 1",
        https://arxiv.org/abs/1803.09820
    """

    kind: ClassVar[str] = "momentum"
    _value_name: ClassVar[str] = "momentum"

    schedule: Schedule
    base_momentum: float = 0.85
    max_momentum: float = 0.95

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule) or isinstance(self.schedule, Momentum):
            raise TypeError(
                f"schedule must be a learning-rate Schedule (got schedule={self.schedule!r})"
            )
        base = check_real("base_momentum", self.base_momentum)
        high = check_real("max_momentum", self.max_momentum)
        if not 0 <= base < 1:
            raise ValueError(f"base_momentum must be in [0, 1) (got base_momentum={base!r})")
        if not 0 < high < 1:
            raise ValueError(f"max_momentum must be in (0, 1) (got max_momentum={high!r})")
        check_above("base_momentum", base, "max_momentum", high)
        object.__setattr__(self, "base_momentum", base)
        object.__setattr__(self, "max_momentum", high)
        set_nesting(self, (self.schedule,))

    def evaluate(self, step: Any, ops: Ops) -> Any:
        """Evaluate the mirrored momentum curve."""
        return self.schedule.evaluate_momentum(step, ops, self.base_momentum, self.max_momentum)

    def evaluate_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> Any:
        """A momentum schedule has no momentum of its own."""
        raise TypeError("a Momentum schedule has no companion momentum")

    def momentum(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> Momentum:
        """A momentum schedule has no momentum of its own."""
        raise TypeError("a Momentum schedule has no companion momentum")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description, the LR schedule nested."""
        return {
            "kind": self.kind,
            "schedule": self.schedule.to_dict(),
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Schedule:
        fields = dict(fields)
        fields["schedule"] = schedule_from_dict(fields.get("schedule"))
        return cls(**fields)


_MAX_DATA_DEPTH = 2 * MAX_NESTING + 1
"""Containers (mappings and lists) the saved form of a schedule may nest."""


def _check_data_depth(data: Any) -> None:
    """Refuse data nested past :data:`_MAX_DATA_DEPTH` containers, without recursing."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_DATA_DEPTH:
            raise ValueError(
                f"schedule data may nest at most {_MAX_DATA_DEPTH} mappings and lists "
                f"({MAX_NESTING} levels of join and momentum) (got data nested deeper than "
                f"depth={_MAX_DATA_DEPTH})"
            )
        if isinstance(item, Mapping):
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((value, depth + 1) for value in item)


def schedule_from_dict(data: Mapping[str, Any] | Any) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_dict` output.

    Args:
        data: A mapping with a ``"kind"`` key and the schedule's fields.

    Returns:
        The schedule, validated as if constructed directly.

    Raises:
        TypeError: If ``data`` is not a mapping.
        ValueError: If the kind is unknown, keys are missing or unexpected, or the data
            nests deeper than schedules may (:data:`MAX_NESTING` levels of join and
            momentum, each a mapping and a list).

    Example:
        >>> from cyclr import Triangular2
        >>> s = Triangular2(0.001, 0.006, step_size_up=2000)
        >>> schedule_from_dict(s.to_dict()) == s
        True
    """
    _check_data_depth(data)
    if not isinstance(data, Mapping):
        raise TypeError(f"schedule data must be a mapping (got data={describe(data)})")
    kind = data.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(_KINDS))
        raise ValueError(f"kind must be one of {known} (got kind={describe(kind)})")
    fields = {k: v for k, v in data.items() if k != "kind"}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ValueError(f"unknown keys for kind {kind!r}: {unknown}")
    try:
        return cls._from_fields(fields)
    except TypeError as exc:
        if "required positional argument" in str(exc) or "missing" in str(exc):
            missing = sorted(
                f.name
                for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                if f.name not in fields
                and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING
            )
            raise ValueError(f"missing keys for kind {kind!r}: {missing}") from None
        raise
