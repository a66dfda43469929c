r"""Smith's cyclical learning-rate policies: triangular, triangular2, exp_range, custom.

With ``it`` the 0-based step, ``total = step_size_up + step_size_down`` and
``ratio = step_size_up / total`` (torch's ``CyclicLR`` general form):

.. math::

    cycle = \lfloor 1 + it / total \rfloor, \quad x = 1 + it / total - cycle

    s = x / ratio \text{ if } x \le ratio \text{ else } (x - 1) / (ratio - 1)

    lr = base\_lr + (max\_lr - base\_lr) \cdot s \cdot scale(cycle \text{ or } it)

On the host the position in the cycle is exact: ``divmod(it, total)`` in integer
arithmetic gives the cycle and the position ``pos`` in it, and
``s = pos / up`` (rising) or ``(total - pos) / down`` (falling) is one correctly rounded
division, at any integer step (torch's float formula rounds ``it / total`` and loses
the position as ``it`` grows; past ``2**53`` it returns wrong values outright).

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .._validate import (
    MAX_EXACT_INT,
    check_above,
    check_choice,
    check_count,
    check_range_open,
    check_real,
    check_real_positive,
    describe,
    describe_number,
)
from ._steps import exact_float
from .base import Schedule
from .ops import SCALAR_OPS, Ops, is_host

__all__ = [
    "Cyclic",
    "ExpRange",
    "ScaleFn",
    "Triangular",
    "Triangular2",
    "register_scale_fn",
    "registered_scale_fns",
]

ScaleFn = Callable[[Any, Ops], Any]
"""A scale function ``fn(x, ops)``: ``x`` is the cycle number (from 1) or the step."""

_SCALE_FNS: dict[str, ScaleFn] = {}


def register_scale_fn(name: str, fn: ScaleFn) -> ScaleFn:
    """Register a custom scale function under a name, so schedules using it can be saved.

    The function takes ``(x, ops)`` and uses only ``ops`` functions, so it runs on
    NumPy, torch, Keras and JAX alike.

    Args:
        name: The name stored by :meth:`Cyclic.to_dict`.
        fn: The scale function.

    Returns:
        ``fn``, so this also works as ``register_scale_fn("name", fn)`` inline.

    Raises:
        ValueError: If ``name`` is empty or already taken by another function.
        TypeError: If ``fn`` is not callable.

    Example:
        >>> fn = register_scale_fn("half_life_3", lambda x, ops: ops.power(0.5, (x - 1) / 3))
        >>> Cyclic(0.1, 1.0, 10, scale_fn="half_life_3").to_dict()["scale_fn"]
        'half_life_3'
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string (got name={name!r})")
    if not callable(fn):
        raise TypeError(f"fn must be callable (got fn={fn!r})")
    existing = _SCALE_FNS.get(name)
    if existing is not None and existing is not fn:
        raise ValueError(
            f"name is already registered to another scale function (got name={name!r})"
        )
    _SCALE_FNS[name] = fn
    return fn


def registered_scale_fns() -> dict[str, ScaleFn]:
    """Return a copy of the registry of named scale functions."""
    return dict(_SCALE_FNS)


_NO_AMPLITUDE = 2048
"""Halvings past which ``2 ** -halvings`` is 0.0 in float64."""

_DECAYED = 2**62
"""A step past which ``gamma ** step`` is 0.0 for every float64 ``gamma < 1``."""

register_scale_fn("triangular", lambda x, ops: 1.0)
register_scale_fn("triangular2", lambda x, ops: ops.power(2.0, 1.0 - x))


@dataclasses.dataclass(frozen=True)
class _CyclicBase(Schedule):
    """Shared cycle arithmetic; subclasses only define the amplitude scale."""

    base_lr: float
    max_lr: float
    step_size_up: int = 2000
    step_size_down: int | None = None

    def __post_init__(self) -> None:
        base = check_real_positive("base_lr", self.base_lr)
        peak = check_real_positive("max_lr", self.max_lr)
        check_above("base_lr", base, "max_lr", peak)
        up = check_count("step_size_up", self.step_size_up)
        down = (
            up
            if self.step_size_down is None
            else check_count("step_size_down", self.step_size_down)
        )
        if up + down > MAX_EXACT_INT:
            raise ValueError(
                "step_size_up + step_size_down must be at most 2**53 (got "
                f"step_size_up={describe_number(up)}, step_size_down={describe_number(down)})"
            )
        object.__setattr__(self, "base_lr", base)
        object.__setattr__(self, "max_lr", peak)
        object.__setattr__(self, "step_size_up", up)
        object.__setattr__(self, "step_size_down", down)

    @property
    def cycle_steps(self) -> int:
        """Steps in one full cycle, ``step_size_up + step_size_down``."""
        return self.step_size_up + int(self.step_size_down or 0)

    def _scale(self, cycle: Any, step: Any, ops: Ops) -> Any:
        raise NotImplementedError

    def _shape(self, step: Any, ops: Ops) -> tuple[Any, Any]:
        """Return ``(s, scale)``: position in the cycle and amplitude factor.

        On the host the cycle (from 1) is an integer and ``s`` one exact division; the
        framework ops evaluate torch's float formula.
        """
        if is_host(ops):
            up, steps = self.step_size_up, self.cycle_steps
            index, pos = divmod(step, steps)
            s = ops.where(pos <= up, pos / up, (steps - pos) / (steps - up))
            return s, self._scale(index + 1, step, ops)
        total = float(self.cycle_steps)
        ratio = self.step_size_up / total
        cycle = ops.floor(1.0 + step / total)
        x = 1.0 + step / total - cycle
        s = ops.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
        return s, self._scale(cycle, step, ops)

    def evaluate(self, step: Any, ops: Ops) -> Any:
        """``base_lr + (max_lr - base_lr) * s * scale``."""
        s, scale = self._shape(step, ops)
        return self.base_lr + (self.max_lr - self.base_lr) * s * scale

    def evaluate_momentum(
        self, step: Any, ops: Ops, base_momentum: float, max_momentum: float
    ) -> Any:
        """``max_momentum - (max_momentum - base_momentum) * s * scale``."""
        s, scale = self._shape(step, ops)
        return max_momentum - (max_momentum - base_momentum) * s * scale


@dataclasses.dataclass(frozen=True)
class Triangular(_CyclicBase):
    """Fixed-amplitude triangle between ``base_lr`` and ``max_lr`` (``scale = 1``).

    Args:
        base_lr: The lower bound, reached at the start and end of each cycle.
        max_lr: The upper bound, reached after ``step_size_up`` steps.
        step_size_up: Steps from ``base_lr`` to ``max_lr``. Smith: 2 to 10 epochs.
        step_size_down: Steps back down; defaults to ``step_size_up``.

    Raises:
        ValueError: If an LR is not positive and finite, ``max_lr <= base_lr`` or a step
            size is not positive.
        TypeError: If a step size is not an integer.

    Example:
        >>> s = Triangular(base_lr=0.001, max_lr=0.006, step_size_up=2000)
        >>> [round(s(i), 6) for i in (0, 1000, 2000, 3000, 4000)]
        [0.001, 0.0035, 0.006, 0.0035, 0.001]

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        https://arxiv.org/abs/1506.01186
    """

    kind: ClassVar[str] = "triangular"

    def _scale(self, cycle: Any, step: Any, ops: Ops) -> Any:
        return 1.0


@dataclasses.dataclass(frozen=True)
class Triangular2(_CyclicBase):
    """Triangle whose amplitude halves every cycle: ``scale = 2 ** (1 - cycle)``.

    The power is computed as ``2 ** -(cycle - 1)``, which underflows smoothly to 0
    instead of overflowing (torch's ``1 / 2 ** (cycle - 1)`` raises after 1024 cycles).

    Args:
        base_lr: The lower bound.
        max_lr: The upper bound of the first cycle.
        step_size_up: Steps from the floor to the peak.
        step_size_down: Steps back down; defaults to ``step_size_up``.

    Example:
        >>> s = Triangular2(0.001, 0.006, step_size_up=2000)
        >>> s(2000), s(6000), s(10 ** 12)
        (0.006, 0.0035, 0.001)

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        https://arxiv.org/abs/1506.01186
    """

    kind: ClassVar[str] = "triangular2"

    def _scale(self, cycle: Any, step: Any, ops: Ops) -> Any:
        if is_host(ops):
            # 2 ** -(cycle - 1), exact; past 2**-1074 it is 0.0, so the exponent is capped.
            halvings = ops.minimum(cycle - 1, _NO_AMPLITUDE)
            if ops is SCALAR_OPS:
                return math.ldexp(1.0, -int(halvings))
            return np.ldexp(1.0, -np.asarray(halvings, dtype=np.int32))
        return ops.power(2.0, 1.0 - cycle)


@dataclasses.dataclass(frozen=True)
class ExpRange(_CyclicBase):
    """Triangle whose amplitude decays by ``gamma`` every step: ``scale = gamma ** it``.

    The power is computed in log space, ``exp(it * log(gamma))``, so float32 frameworks
    stay within a few ulps of float64 where ``gamma ** it`` in float32 does not.

    Args:
        base_lr: The lower bound.
        max_lr: The upper bound at step 0.
        step_size_up: Steps from the floor to the peak.
        step_size_down: Steps back down; defaults to ``step_size_up``.
        gamma: Per-step decay of the amplitude, in ``(0, 1]``.

    Example:
        >>> s = ExpRange(0.001, 0.006, step_size_up=2000, gamma=0.99994)
        >>> round(s(2000), 12)
        0.005434586218

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        https://arxiv.org/abs/1506.01186
    """

    kind: ClassVar[str] = "exp_range"

    gamma: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_real("gamma", self.gamma)
        gamma = check_range_open("gamma", self.gamma, 0.0, 1.0, closed_high=True)
        object.__setattr__(self, "gamma", gamma)

    def _scale(self, cycle: Any, step: Any, ops: Ops) -> Any:
        if is_host(ops):
            # gamma ** it is 0.0 long before 2**62 unless gamma == 1: cap the step there,
            # so a giant integer never meets a float conversion it cannot survive.
            return ops.exp(ops.minimum(step, _DECAYED) * math.log(self.gamma))
        return ops.exp(step * math.log(self.gamma))


@dataclasses.dataclass(frozen=True)
class Cyclic(_CyclicBase):
    """A cyclical schedule with a custom amplitude ``scale_fn``.

    Args:
        base_lr: The lower bound.
        max_lr: The upper bound before scaling.
        step_size_up: Steps from the floor to the peak.
        step_size_down: Steps back down; defaults to ``step_size_up``.
        scale_fn: A registered name (see :func:`register_scale_fn`) or a callable
            ``fn(x, ops)`` returning a factor in ``[0, 1]``. An unregistered callable
            works but cannot be saved: :meth:`to_dict` raises.
        scale_mode: ``"cycle"`` passes the cycle number (from 1); ``"iterations"``
            passes the step.

    Example:
        >>> s = Cyclic(0.001, 0.006, 2000, scale_fn="triangular2", scale_mode="cycle")
        >>> s(6000) == Triangular2(0.001, 0.006, 2000)(6000)
        True
    """

    kind: ClassVar[str] = "cyclic"

    scale_fn: str | ScaleFn = "triangular"
    scale_mode: str = "cycle"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("scale_mode", self.scale_mode, ("cycle", "iterations"))
        if isinstance(self.scale_fn, str):
            if self.scale_fn not in _SCALE_FNS:
                known = ", ".join(sorted(_SCALE_FNS))
                raise ValueError(
                    f"scale_fn must be a registered name ({known}) or a callable "
                    f"(got scale_fn={self.scale_fn!r})"
                )
        elif not callable(self.scale_fn):
            raise TypeError(
                f"scale_fn must be a name or a callable (got scale_fn={self.scale_fn!r})"
            )

    def _resolve_fn(self) -> ScaleFn:
        fn = self.scale_fn
        return _SCALE_FNS[fn] if isinstance(fn, str) else fn

    def _scale(self, cycle: Any, step: Any, ops: Ops) -> Any:
        name = "cycle" if self.scale_mode == "cycle" else "step"
        x = cycle if self.scale_mode == "cycle" else step
        if not is_host(ops):
            return self._resolve_fn()(x, ops)
        x = exact_float(name, x, f"Cyclic(scale_mode={self.scale_mode!r})")
        scale = self._resolve_fn()(x, ops)
        self._check_scale(name, x, step, scale)
        return scale

    def _check_scale(self, name: str, x: Any, step: Any, scale: Any) -> None:
        """Refuse a scale outside ``[0, 1]`` (or NaN), naming the function, step and value."""
        fn = self.scale_fn if isinstance(self.scale_fn, str) else describe(self.scale_fn)
        if isinstance(scale, numbers.Real) and not isinstance(scale, (bool, np.bool_)):
            value = float(scale)
            if 0.0 <= value <= 1.0:
                return
            at_x, at_step = x, step
        elif isinstance(scale, np.ndarray) and np.issubdtype(scale.dtype, np.number):
            values = np.asarray(scale, dtype=np.float64)
            good = (values >= 0.0) & (values <= 1.0)
            if good.all():
                return
            shape = np.broadcast_shapes(values.shape, np.shape(step))
            index = int(np.argmin(np.broadcast_to(good, shape)))
            value = float(np.broadcast_to(values, shape).reshape(-1)[index])
            at_x = np.broadcast_to(np.asarray(x), shape).reshape(-1)[index].item()
            at_step = np.broadcast_to(np.asarray(step), shape).reshape(-1)[index].item()
        else:
            raise TypeError(
                f"scale_fn {fn} must return a float or a float array "
                f"(got scale_fn({name}={describe(x)})={describe(scale)})"
            )
        raise ValueError(
            f"scale_fn {fn} must return a factor in [0, 1] (got scale_fn({name}={at_x!r})="
            f"{value!r} at step={describe_number(at_step)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description; the scale function is saved by its name.

        Raises:
            ValueError: If ``scale_fn`` is a callable that was never registered.
        """
        data = super().to_dict()
        if not isinstance(self.scale_fn, str):
            names = [name for name, fn in _SCALE_FNS.items() if fn is self.scale_fn]
            if not names:
                raise ValueError(
                    "scale_fn is an unregistered callable and cannot be saved; register it "
                    "with cyclr.register_scale_fn('a_name', fn) and pass scale_fn='a_name' "
                    f"(got scale_fn={self.scale_fn!r})"
                )
            data["scale_fn"] = names[0]
        return data
