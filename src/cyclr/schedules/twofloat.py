"""Float64-grade schedule values from float32 frameworks, through double-float arithmetic.

Keras and JAX evaluate schedules in float32 inside compiled training steps. Evaluated
naively there, the cyclical formulas lose the cycle position at large steps
(``1 + step / total - cycle`` cancels) and one-cycle's cosine loses its last phase
(``cos(pi * pct) + 1`` near ``pct = 1`` keeps no significant digit), hundreds of ulps
away from the float64 curve.

:func:`two_float_ops` builds an :class:`~cyclr.schedules.ops.Ops` namespace whose values
are :class:`TwoFloat` pairs ``hi + lo`` of float32 tensors (about 44 significant bits):
error-free transformations (Knuth's two-sum, Dekker's two-product) for ``+ - * /``, and
transcendental functions that keep the result accurate where it cancels (the cosine is
reduced to ``[-pi/4, pi/4]`` and returned as ``1 - 2 sin^2(r/2)``). Each schedule's
formula runs unchanged; only the final value is rounded to float32, so it agrees with
the float64 schedule to within a few float32 ulps at any step below ``2 ** 44``.

The algorithms assume IEEE float32 with round-to-nearest and no re-association, which
holds for eager PyTorch and for XLA (JAX, Keras on JAX) without fast-math flags.

References:
    T. J. Dekker, "A floating-point technique for extending the available precision",
    Numerische Mathematik 18, 1971, https://doi.org/10.1007/BF01397083

    Y. Hida, X. S. Li and D. H. Bailey, "Library for double-double and quad-double
    arithmetic", 2007 (the ``dd_real`` algorithms used here).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .ops import Ops

__all__ = ["Float32Backend", "TwoFloat", "two_float_ops"]

Array = Any

_LOW_BITS_MASK = -4096
"""``~0xFFF`` as an int32: clears the 12 low bits of a float32's significand."""


@dataclass(frozen=True)
class Float32Backend:
    """The element-wise float32 primitives of one framework.

    Python operators (``+ - * / < <= == | &``) on its tensors must act element-wise in
    float32 with round-to-nearest. Compilers may contract ``a * b + c`` into a fused
    multiply-add (XLA does): the arithmetic here stays exact regardless, because every
    product whose rounding matters is of two 12-bit halves, which no rounding touches.

    Attributes:
        name: A label for reprs and error messages.
        asarray: Converts a Python float (already representable in float32) to a
            float32 scalar tensor.
        floor: Round down.
        where: ``where(cond, a, b)``.
        exp: Exponential.
        log: Natural logarithm.
        cos: Cosine.
        sin: Sine.
        power: ``power(base, exponent)``.
        truncate: Clears the 12 low bits of each float32's significand (a bit mask on
            its int32 view), leaving a 12-bit leading part.
    """

    name: str
    asarray: Callable[[float], Array]
    floor: Callable[[Array], Array]
    where: Callable[[Array, Array, Array], Array]
    exp: Callable[[Array], Array]
    log: Callable[[Array], Array]
    cos: Callable[[Array], Array]
    sin: Callable[[Array], Array]
    power: Callable[[Array, Array], Array]
    truncate: Callable[[Array], Array]

    @classmethod
    def from_namespace(
        cls,
        name: str,
        namespace: Any,
        *,
        asarray: Callable[[float], Array],
        truncate: Callable[[Array], Array],
    ) -> Float32Backend:
        """Take the element-wise functions of the same name from ``namespace``.

        Args:
            name: The backend's label.
            namespace: An array module with ``floor``, ``where``, ``exp``, ``log``,
                ``cos``, ``sin`` and ``power`` (``jax.numpy``, ``keras.ops``).
            asarray: See the class attributes.
            truncate: See the class attributes.

        Example:
            >>> backend = Float32Backend.from_namespace(
            ...     "numpy", np, asarray=np.float32, truncate=lambda x: x)
            >>> backend.sin is np.sin
            True
        """
        given = ("name", "asarray", "truncate")
        functions = {f.name: getattr(namespace, f.name) for f in fields(cls) if f.name not in given}
        return cls(name=name, asarray=asarray, truncate=truncate, **functions)


def _split_float(value: float) -> tuple[float, float]:
    """Split a float64 into ``hi + lo``, each exactly representable in float32."""
    hi = float(np.float32(value))
    return hi, float(np.float32(value - hi))


def _two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """``s + e == a + b`` exactly, ``s = fl(a + b)`` (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """``s + e == a + b`` exactly, assuming ``|a| >= |b|`` (Dekker)."""
    s = a + b
    return s, b - (s - a)


def _two_prod(a: Array, b: Array, truncate: Callable[[Array], Array]) -> tuple[Array, Array]:
    """``p + e == a * b`` to within ``2 ** -48`` relative, contraction-proof.

    Each operand is split by a bit mask into two 12-bit halves, so the four partial
    products are exact: a fused multiply-add over any of them rounds exactly as a
    separate multiply and add would, unlike Dekker's ``p = fl(a * b)``.
    """
    ah = truncate(a)
    bh = truncate(b)
    al = a - ah
    bl = b - bh
    s, e1 = _two_sum(ah * bh, ah * bl)
    s, e2 = _two_sum(s, al * bh)
    return s, (e1 + e2) + al * bl


class TwoFloat:
    """A value ``hi + lo`` held as two float32 tensors, ``|lo| <= ulp(hi) / 2``.

    Supports ``+ - * /``, negation and comparisons with other :class:`TwoFloat` values
    and Python numbers; a Python number is split into two float32 halves first, so
    float64 constants keep their precision. ``bool()`` is refused: a traced value has
    no truth value, and schedules select with ``ops.where``.

    Args:
        hi: The leading float32 tensor.
        lo: The trailing float32 tensor (same shape).
        backend: The framework primitives.
    """

    __slots__ = ("backend", "hi", "lo")

    def __init__(self, hi: Array, lo: Array, backend: Float32Backend) -> None:
        self.hi = hi
        self.lo = lo
        self.backend = backend

    def __repr__(self) -> str:
        return f"TwoFloat(hi={self.hi!r}, lo={self.lo!r}, backend={self.backend.name!r})"

    def value(self) -> Array:
        """The float32 tensor nearest to ``hi + lo``."""
        return self.hi + self.lo

    # -- conversion ------------------------------------------------------------------

    def _lift(self, other: Any) -> TwoFloat:
        if isinstance(other, TwoFloat):
            return other
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            hi, lo = _split_float(float(other))
            return TwoFloat(self.backend.asarray(hi), self.backend.asarray(lo), self.backend)
        raise TypeError(
            f"a TwoFloat combines only with TwoFloat values and real numbers (got {other!r})"
        )

    def _new(self, hi: Array, lo: Array) -> TwoFloat:
        return TwoFloat(hi, lo, self.backend)

    # -- arithmetic ------------------------------------------------------------------

    def __neg__(self) -> TwoFloat:
        return self._new(-self.hi, -self.lo)

    def __add__(self, other: Any) -> TwoFloat:
        b = self._lift(other)
        s, e = _two_sum(self.hi, b.hi)
        t, f = _two_sum(self.lo, b.lo)
        s, e = _fast_two_sum(s, e + t)
        return self._new(*_fast_two_sum(s, e + f))

    def __radd__(self, other: Any) -> TwoFloat:
        return self._lift(other) + self

    def __sub__(self, other: Any) -> TwoFloat:
        return self + (-self._lift(other))

    def __rsub__(self, other: Any) -> TwoFloat:
        return self._lift(other) + (-self)

    def __mul__(self, other: Any) -> TwoFloat:
        b = self._lift(other)
        p, e = _two_prod(self.hi, b.hi, self.backend.truncate)
        e = e + (self.hi * b.lo + self.lo * b.hi)
        return self._new(*_fast_two_sum(p, e))

    def __rmul__(self, other: Any) -> TwoFloat:
        return self.__mul__(other)

    def __truediv__(self, other: Any) -> TwoFloat:
        b = self._lift(other)
        q1 = self.hi / b.hi
        p = b * self._new(q1, q1 * 0.0)
        s, e = _two_sum(self.hi, -p.hi)
        e = e - p.lo + self.lo
        q2 = (s + e) / b.hi
        return self._new(*_fast_two_sum(q1, q2))

    def __rtruediv__(self, other: Any) -> TwoFloat:
        return self._lift(other) / self

    # -- comparisons -----------------------------------------------------------------

    def __lt__(self, other: Any) -> Array:
        b = self._lift(other)
        return (self.hi < b.hi) | ((self.hi == b.hi) & (self.lo < b.lo))

    def __le__(self, other: Any) -> Array:
        b = self._lift(other)
        return (self.hi < b.hi) | ((self.hi == b.hi) & (self.lo <= b.lo))

    def __gt__(self, other: Any) -> Array:
        return self._lift(other) < self

    def __ge__(self, other: Any) -> Array:
        return self._lift(other) <= self

    def __bool__(self) -> bool:
        raise TypeError("a TwoFloat has no truth value: select between branches with ops.where")

    __hash__ = None  # type: ignore[assignment]


def _where(backend: Float32Backend, cond: Array, a: Any, b: Any) -> TwoFloat:
    pair = a if isinstance(a, TwoFloat) else b if isinstance(b, TwoFloat) else None
    if pair is None:
        lo_a, lo_b = _split_float(float(a)), _split_float(float(b))
        hi = backend.where(cond, backend.asarray(lo_a[0]), backend.asarray(lo_b[0]))
        lo = backend.where(cond, backend.asarray(lo_a[1]), backend.asarray(lo_b[1]))
        return TwoFloat(hi, lo, backend)
    x, y = pair._lift(a), pair._lift(b)
    return TwoFloat(backend.where(cond, x.hi, y.hi), backend.where(cond, x.lo, y.lo), backend)


def _floor(x: TwoFloat) -> TwoFloat:
    be = x.backend
    f = be.floor(x.hi)
    whole, frac = _fast_two_sum(x.hi, be.floor(x.lo))
    exact = f == x.hi
    return TwoFloat(be.where(exact, whole, f), be.where(exact, frac, f * 0.0), be)


def _abs(x: TwoFloat) -> TwoFloat:
    return _where(x.backend, x.hi < 0.0, -x, x)


def _exp(x: TwoFloat) -> TwoFloat:
    e = x.backend.exp(x.hi)
    return TwoFloat(*_fast_two_sum(e, e * x.lo), x.backend)


def _log(x: TwoFloat) -> TwoFloat:
    return TwoFloat(*_two_sum(x.backend.log(x.hi), x.lo / x.hi), x.backend)


def _cos(x: TwoFloat) -> TwoFloat:
    be = x.backend
    half_pi = x._lift(math.pi / 2)
    k = be.floor(x.hi * (2.0 / math.pi) + 0.5)
    r = x - x._new(k, k * 0.0) * half_pi
    quadrant = k - 4.0 * be.floor(k * 0.25)
    rh, rl = r.hi, r.lo
    sin_rh = be.sin(rh)
    half = be.sin(rh * 0.5)
    # cos(r) = 1 - 2 sin^2(r / 2), kept as 1 + t so cos(x) + 1 near x = pi does not cancel.
    cos_r = x._new(*_fast_two_sum(be.asarray(1.0), -2.0 * half * half - sin_rh * rl))
    sin_r = x._new(*_fast_two_sum(sin_rh, be.cos(rh) * rl))
    result = _where(be, quadrant == 1.0, -sin_r, _where(be, quadrant == 2.0, -cos_r, sin_r))
    return _where(be, quadrant == 0.0, cos_r, result)


def _power(base: Any, exponent: Any, backend: Float32Backend) -> TwoFloat:
    if isinstance(base, TwoFloat):
        return _exp(base._lift(exponent) * _log(base))
    if not isinstance(exponent, TwoFloat):
        raise TypeError("ops.power needs a TwoFloat operand")
    a = float(base)
    if not a > 0:
        raise ValueError(f"a constant power base must be positive (got base={a!r})")
    # a ** (hi + lo) = a ** hi * (1 + lo * ln a): exact for integral exponents.
    p = backend.power(backend.asarray(float(np.float32(a))), exponent.hi)
    if float(np.float32(a)) != a:
        return _exp(exponent * math.log(a))
    return TwoFloat(*_fast_two_sum(p, p * (exponent.lo * math.log(a))), backend)


def _binary_select(smaller: bool) -> Callable[[Any, Any], Any]:
    def select(a: Any, b: Any) -> Any:
        if not isinstance(a, TwoFloat) and not isinstance(b, TwoFloat):
            return min(a, b) if smaller else max(a, b)
        pair = a if isinstance(a, TwoFloat) else b
        x, y = pair._lift(a), pair._lift(b)
        cond = x <= y if smaller else y <= x
        return _where(pair.backend, cond, x, y)

    return select


def two_float_ops(backend: Float32Backend) -> Ops:
    """Return an :class:`~cyclr.schedules.ops.Ops` namespace over :class:`TwoFloat` values.

    Evaluate a schedule with ``schedule.evaluate(step, ops)`` where ``step`` is a
    :class:`TwoFloat` (see :func:`TwoFloat` and the adapters' ``steps`` helpers), then
    take ``result.value()``.

    Args:
        backend: The float32 primitives of the framework.

    Returns:
        The namespace.

    Example:
        >>> import numpy as np
        >>> from cyclr import OneCycle
        >>> f32 = np.float32
        >>> def truncate(x):
        ...     return (np.asarray(x, f32).view(np.int32) & -4096).view(f32)
        >>> be = Float32Backend("numpy32", asarray=f32, floor=np.floor, where=np.where,
        ...                     exp=np.exp, log=np.log, cos=np.cos, sin=np.sin,
        ...                     power=np.power, truncate=truncate)
        >>> ops = two_float_ops(be)
        >>> s = OneCycle(max_lr=0.1, total_steps=20000)
        >>> step = TwoFloat(f32(19998.0), f32(0.0), be)
        >>> lr32 = s.evaluate(step, ops).value()
        >>> bool(abs(lr32 - s(19998)) <= np.spacing(f32(s(19998))))
        True
    """

    def as_pair(x: Any) -> TwoFloat:
        if isinstance(x, TwoFloat):
            return x
        raise TypeError(f"{backend.name} two-float ops need TwoFloat values (got {x!r})")

    return Ops(
        name=f"{backend.name}-twofloat",
        floor=lambda x: _floor(as_pair(x)),
        abs=lambda x: _abs(as_pair(x)),
        minimum=_binary_select(True),
        maximum=_binary_select(False),
        where=lambda c, a, b: _where(backend, c, a, b),
        cos=lambda x: _cos(as_pair(x)),
        exp=lambda x: _exp(as_pair(x)),
        power=lambda a, b: _power(a, b, backend),
        log=lambda x: _log(as_pair(x)),
    )
