"""A tiny array-ops namespace, so each schedule's formula is written once.

A schedule's math uses only the functions of :class:`Ops`. cyclr ships two
implementations here: :data:`SCALAR_OPS` (Python floats through :mod:`math`, the fast
path for one step at a time, as a training loop asks) and :data:`NUMPY_OPS` (float64
arrays, vectorized). The Keras and JAX adapters provide ``keras.ops`` and
``jax.numpy`` versions, so the numbers agree across frameworks by construction.

The two host namespaces are the same function of the step, bit for bit: NumPy's own
transcendental functions (vectorized with SIMD on many CPUs) differ from the C
library's by an ulp at some inputs, so :data:`NUMPY_OPS` applies :mod:`math`'s
``cos``, ``exp``, ``log`` and ``pow`` element by element, exactly as the scalar path does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = ["NUMPY_OPS", "SCALAR_OPS", "Ops", "is_host"]

Array = Any


@dataclass(frozen=True)
class Ops:
    """The element-wise functions a schedule formula may use.

    Attributes:
        name: A label for error messages and reprs.
        floor: Round down.
        abs: Absolute value.
        minimum: Element-wise minimum of two operands.
        maximum: Element-wise maximum of two operands.
        where: ``where(cond, a, b)``; both branches are evaluated.
        cos: Cosine.
        exp: Exponential.
        power: ``power(base, exponent)``.
        log: Natural logarithm.
    """

    name: str
    floor: Callable[[Array], Array]
    abs: Callable[[Array], Array]
    minimum: Callable[[Array, Array], Array]
    maximum: Callable[[Array, Array], Array]
    where: Callable[[Array, Array, Array], Array]
    cos: Callable[[Array], Array]
    exp: Callable[[Array], Array]
    power: Callable[[Array, Array], Array]
    log: Callable[[Array], Array]

    @classmethod
    def from_namespace(cls, name: str, namespace: Any) -> Ops:
        """Take each function of the same name from an array module (NumPy, ``jax.numpy``).

        Example:
            >>> Ops.from_namespace("numpy", np).floor is np.floor
            True
        """
        functions = {f.name: getattr(namespace, f.name) for f in fields(cls) if f.name != "name"}
        return cls(name=name, **functions)


def _scalar_where(cond: Any, a: Any, b: Any) -> Any:
    return a if cond else b


SCALAR_OPS = Ops(
    name="scalar",
    floor=lambda x: float(math.floor(x)),
    abs=abs,
    minimum=min,
    maximum=max,
    where=_scalar_where,
    cos=math.cos,
    exp=math.exp,
    power=lambda a, b: math.pow(a, b),
    log=math.log,
)
"""Python-float ops: exact float64, no array overhead; used for a single step."""


def _libm_unary(fn: Callable[[float], float]) -> Callable[[Array], Array]:
    """``fn`` of :mod:`math` applied to every element: the scalar path's values exactly."""

    def apply(x: Array) -> Array:
        values = np.asarray(x, dtype=np.float64)
        flat = values.ravel().tolist()
        return np.fromiter(map(fn, flat), np.float64, len(flat)).reshape(values.shape)

    return apply


def _libm_power(base: Array, exponent: Array) -> Array:
    """``math.pow`` element by element, broadcasting its operands as NumPy does."""
    a, b = np.broadcast_arrays(
        np.asarray(base, dtype=np.float64), np.asarray(exponent, dtype=np.float64)
    )
    flat_a, flat_b = a.ravel().tolist(), b.ravel().tolist()
    return np.fromiter(map(math.pow, flat_a, flat_b), np.float64, len(flat_a)).reshape(a.shape)


NUMPY_OPS = Ops(
    name="numpy",
    floor=np.floor,
    abs=np.abs,
    minimum=np.minimum,
    maximum=np.maximum,
    where=np.where,
    cos=_libm_unary(math.cos),
    exp=_libm_unary(math.exp),
    power=_libm_power,
    log=_libm_unary(math.log),
)
"""NumPy float64 ops: one vectorized pass over an array of steps, equal to :data:`SCALAR_OPS`."""


def is_host(ops: Ops) -> bool:
    """Whether ``ops`` is one of the float64 host namespaces, which get exact integer steps.

    On the host a schedule receives the step as a Python int or a NumPy integer array
    and computes its position in a cycle or phase in exact integer arithmetic; the
    framework namespaces receive float (or double-float) steps.
    """
    return ops is SCALAR_OPS or ops is NUMPY_OPS
