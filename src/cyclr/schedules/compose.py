"""Composition: simple ramps, joining schedules end to end, and a warm-up.

:func:`join` refuses a jump: each schedule must end where the next begins (relative
tolerance ``1e-9``), which is the bug torch's ``SequentialLR`` has with ``OneCycleLR``.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from .._validate import check_count, check_real_positive, check_type, describe
from .base import Momentum, Schedule, schedule_from_dict, set_nesting
from .ops import SCALAR_OPS, Ops, is_host

__all__ = ["Constant", "Join", "Linear", "join", "warmup"]

_CONTINUITY_RTOL = 1e-9


@dataclasses.dataclass(frozen=True)
class Constant(Schedule):
    """A fixed learning rate. Its companion momentum is ``max_momentum``.

    Example:
        >>> Constant(0.01)(12345)
        0.01
    """

    kind: ClassVar[str] = "constant"

    lr: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", check_real_positive("lr", self.lr))

    def evaluate(self, step: Any, ops: Ops) -> Any:
        """``lr`` at every step."""
        return _constant(step, ops, self.lr)

    def evaluate_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> Any:
        """``max_momentum`` at every step."""
        return _constant(step, ops, max_momentum)


def _constant(step: Any, ops: Ops, value: float) -> Any:
    """``value`` in the shape of ``step`` (a Python int step of any size gives the float)."""
    if ops is SCALAR_OPS:
        return value
    return step * 0.0 + value


@dataclasses.dataclass(frozen=True)
class Linear(Schedule):
    r"""A straight line from ``start_lr`` to ``end_lr`` over ``total_steps``, then held.

    .. math:: p = \min(step / total\_steps, 1), \quad lr = start \cdot (1 - p) + end \cdot p

    Its companion momentum is ``max_momentum`` throughout (a warm-up keeps momentum high).

    Example:
        >>> s = Linear(0.001, 0.01, total_steps=9)
        >>> s(0), s(9), s(100)
        (0.001, 0.01, 0.01)
    """

    kind: ClassVar[str] = "linear"

    start_lr: float
    end_lr: float
    total_steps: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_lr", check_real_positive("start_lr", self.start_lr))
        object.__setattr__(self, "end_lr", check_real_positive("end_lr", self.end_lr))
        object.__setattr__(self, "total_steps", check_count("total_steps", self.total_steps))

    def evaluate(self, step: Any, ops: Ops) -> Any:
        """Interpolate, then hold ``end_lr``."""
        if is_host(ops):  # the integer step is capped first: exact at any step
            progress = ops.minimum(step, self.total_steps) / float(self.total_steps)
        else:
            progress = ops.minimum(step / float(self.total_steps), 1.0)
        return self.start_lr * (1.0 - progress) + self.end_lr * progress

    def evaluate_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> Any:
        """``max_momentum`` at every step."""
        return step * 0.0 + max_momentum


@dataclasses.dataclass(frozen=True)
class Join(Schedule):
    """Schedules run one after another; each restarts its own step count at its boundary.

    Schedule ``i`` covers steps ``[boundaries[i - 1], boundaries[i])`` and is called
    with ``step - boundaries[i - 1]``. Build it with :func:`join`, which checks that no
    boundary jumps.
    """

    kind: ClassVar[str] = "join"

    schedules: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        schedules = tuple(self.schedules) if isinstance(self.schedules, (list, tuple)) else None
        if not schedules or not all(isinstance(s, Schedule) for s in schedules):
            raise TypeError(
                "schedules must be a non-empty sequence of Schedule "
                f"(got schedules={describe(self.schedules)})"
            )
        _check_one_family(schedules)
        if not isinstance(self.boundaries, (list, tuple)):
            raise TypeError(
                "boundaries must be a sequence of ints "
                f"(got boundaries={describe(self.boundaries)})"
            )
        boundaries = tuple(check_count("boundaries", b) for b in self.boundaries)
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                "boundaries must have one entry fewer than schedules "
                f"(got {len(schedules)} schedules, boundaries={list(boundaries)!r})"
            )
        if any(b <= a for a, b in itertools.pairwise(boundaries)):
            raise ValueError(
                f"boundaries must increase strictly (got boundaries={list(boundaries)!r})"
            )
        object.__setattr__(self, "schedules", schedules)
        object.__setattr__(self, "boundaries", boundaries)
        set_nesting(self, schedules)

    def _piecewise(self, step: Any, ops: Ops, part: Callable[[Schedule, Any], Any]) -> Any:
        """``part(schedule, local_step)`` of the schedule active at each step."""
        # Integer boundaries: on the host an integer step's local step stays exact.
        bounds = self.boundaries
        if ops is SCALAR_OPS:
            # One step: evaluate only the active schedule (the first boundary above it).
            index = bisect.bisect_right(bounds, step)
            start = bounds[index - 1] if index else 0
            return part(self.schedules[index], ops.maximum(step - start, 0))
        starts = (0, *bounds)
        result = part(self.schedules[-1], ops.maximum(step - bounds[-1], 0))
        for index in range(len(bounds) - 1, -1, -1):
            local = ops.maximum(step - starts[index], 0)
            result = ops.where(step < bounds[index], part(self.schedules[index], local), result)
        return result

    def evaluate(self, step: Any, ops: Ops) -> Any:
        """The active schedule at its local step."""
        return self._piecewise(step, ops, lambda sch, local: sch.evaluate(local, ops))

    def evaluate_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> Any:
        """Each schedule's own companion momentum, joined at the same boundaries."""
        return self._piecewise(
            step,
            ops,
            lambda sch, local: sch.evaluate_momentum(local, ops, base_momentum, max_momentum),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description, the parts nested."""
        return {
            "kind": self.kind,
            "schedules": [s.to_dict() for s in self.schedules],
            "boundaries": list(self.boundaries),
        }

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Schedule:
        parts = check_type("schedules", fields.get("schedules"), list, "a list")
        return join([schedule_from_dict(p) for p in parts], fields.get("boundaries"))  # type: ignore[arg-type]


def _check_one_family(schedules: tuple[Schedule, ...]) -> None:
    """Refuse a join that mixes momentum schedules with learning-rate schedules."""
    kinds = [isinstance(s, Momentum) for s in schedules]
    if not any(kinds):
        return
    lr_index = kinds.index(False) if not all(kinds) else None
    momentum_index = kinds.index(True)
    if lr_index is None:
        raise TypeError(
            "join takes learning-rate schedules: join them and take the momentum of the "
            "join, join([...]).momentum(0.85, 0.95) "
            f"(got schedules[{momentum_index}]={describe(schedules[momentum_index])})"
        )
    raise TypeError(
        "join cannot mix a learning-rate schedule with a momentum schedule: join the "
        "learning-rate schedules and take join([...]).momentum(0.85, 0.95) (got "
        f"schedules[{lr_index}]={describe(schedules[lr_index])}, "
        f"schedules[{momentum_index}]={describe(schedules[momentum_index])})"
    )


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Join:
    """Run ``schedules`` one after another, switching at ``boundaries``, with no jump.

    Args:
        schedules: Two or more schedules.
        boundaries: The global steps at which the next schedule starts, increasing.

    Returns:
        The joined schedule.

    Raises:
        TypeError: If a schedule is not a learning-rate schedule (a :class:`~cyclr.Momentum`
            joins as ``join(lr_schedules, boundaries).momentum(...)``).
        ValueError: If a schedule does not end where the next starts: at boundary ``b``
            the outgoing schedule's value at its local step ``b - start`` must equal the
            incoming schedule's value at 0 within a relative ``1e-9``.

    Example:
        >>> from cyclr import OneCycle
        >>> oc = OneCycle(max_lr=0.1, total_steps=100)
        >>> s = join([Linear(1e-4, oc(0), 10), oc], [10])
        >>> s(10) == oc(0), s(109) == oc(99)
        (True, True)
    """
    joined = Join(tuple(schedules) if isinstance(schedules, list) else schedules, boundaries)  # type: ignore[arg-type]
    starts = [0, *joined.boundaries]
    for index, boundary in enumerate(joined.boundaries):
        outgoing = joined.schedules[index](boundary - starts[index])
        incoming = joined.schedules[index + 1](0)
        if not math.isclose(outgoing, incoming, rel_tol=_CONTINUITY_RTOL):
            raise ValueError(
                f"schedules jump at boundary {boundary}: schedule {index} ends at {outgoing!r} "
                f"but schedule {index + 1} starts at {incoming!r}"
            )
    return joined


def warmup(schedule: Schedule, warmup_steps: int, *, start_lr: float | None = None) -> Join:
    """Prepend a linear warm-up that ends exactly where ``schedule`` starts.

    Args:
        schedule: The schedule to run after the warm-up.
        warmup_steps: Steps of warm-up.
        start_lr: LR at step 0; defaults to ``schedule(0) / 100``.

    Returns:
        ``join([Linear(start_lr, schedule(0), warmup_steps), schedule], [warmup_steps])``.

    Raises:
        TypeError: If ``schedule`` is not a learning-rate schedule (a momentum schedule
            is warmed up through its LR: ``warmup(lr, n).momentum(...)``).

    Example:
        >>> from cyclr import Triangular
        >>> s = warmup(Triangular(0.001, 0.006, 100), 50, start_lr=1e-5)
        >>> s(0), s(50), s(150)
        (1e-05, 0.001, 0.006)
    """
    check_type("schedule", schedule, Schedule, "a Schedule")
    if isinstance(schedule, Momentum):
        raise TypeError(
            "warmup ramps a learning rate, and a momentum schedule is not one: warm up the "
            "learning-rate schedule and take warmup(lr, n).momentum(0.85, 0.95) "
            f"(got schedule={describe(schedule)})"
        )
    steps = check_count("warmup_steps", warmup_steps)
    target = schedule(0)
    first = target / 100 if start_lr is None else check_real_positive("start_lr", start_lr)
    return join([Linear(first, target, steps), schedule], [steps])
