"""The suggestion rules: one learning rate from a fitted curve, with its evidence.

Each rule reads a :class:`~cyclr.rangetest.fit.CurveFit` (:data:`METHODS`):

* ``"bottom"`` (the default): one tenth of the LR at the centre, in log-LR, of the
  curve's bottom, from its significant minimum to its edge:
  ``x = (x_min + x_edge) / 2 - 1``.
* ``"steepest"``: the LR of the most negative fitted slope of the fall.
* ``"valley"``: two thirds of the way into the longest significantly falling stretch.
* ``"minimum"``: one tenth of the LR at the fit's significant minimum.
* ``"consensus"``: the median, in log-LR, of steepest, valley and minimum.

A rule with no answer raises :class:`~cyclr.errors.NoReliableSuggestionError` saying
why. The rules, their intervals and why ``bottom`` is the default: ``docs/method.md``.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186

    fast.ai, ``Learner.lr_find`` suggestion functions (``valley``, ``steep``,
    ``minimum``), https://docs.fast.ai/callback.schedule.html
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import NoReliableSuggestionError
from .fit import _TIE, CurveFit, FloatArray, _first_within

__all__ = [
    "BOTTOM_DECADES",
    "DEFAULT_METHOD",
    "METHODS",
    "RULES",
    "Z_SLOPE",
    "Suggestion",
    "check_method",
]

METHODS = ("bottom", "steepest", "valley", "minimum", "consensus")
"""The suggestion rules."""

DEFAULT_METHOD = "bottom"
"""The rule used when no method is named."""

BOTTOM_DECADES = 1.0
"""Decades below the curve's bottom (a factor of 10): ``bottom`` and ``rule="bottom"``."""

Z_SLOPE = 2.0
"""Standard errors below zero a slope must be for a point to count as falling (valley)."""


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """A suggested learning rate, the rule that gave it, and the evidence behind it.

    Attributes:
        lr: The suggested learning rate (of parameter group 0).
        method: The rule, one of :data:`METHODS`.
        evidence: What the rule used: indices and LRs of the points it read, the
            regression window, the slope or drop it found (JSON-safe values).
        interval: ``(low, high)`` LRs about as good by the same rule; contains ``lr``.

    Example:
        >>> s = Suggestion(0.01, "steepest", {"index": 40}, (0.005, 0.02))
        >>> s.interval[0] <= s.lr <= s.interval[1]
        True
    """

    lr: float
    method: str
    evidence: Mapping[str, Any]
    interval: tuple[float, float]

    def __str__(self) -> str:
        low, high = self.interval
        text = f"{self.method}: lr={self.lr:.3g} (about as good: {low:.3g} to {high:.3g})"
        minimum = self.evidence.get("held_out_minimum_steps")
        if minimum is not None and "total_steps" not in self.evidence:
            text += f"; a run at it is past its held-out minimum after about {minimum} steps"
        return text


def _parabola_vertex(x: FloatArray, v: FloatArray, i: int, spread: float) -> float:
    """Refine an extremum at ``i`` by the vertex of the parabola through its neighbours."""
    if i == 0 or i == x.size - 1:
        return float(x[i])
    x0, x1, x2 = x[i - 1], x[i], x[i + 1]
    v0, v1, v2 = v[i - 1], v[i], v[i + 1]
    d0, d2 = (v0 - v1) / (x0 - x1), (v2 - v1) / (x2 - x1)
    curvature = (d2 - d0) / (x2 - x0)
    if not curvature > _TIE * spread / max(x2 - x0, 1e-300) ** 2:
        return float(x1)
    # v(t) = v1 + a (t - x1) + curvature (t - x1)^2 with a from the two secants.
    a = d0 + curvature * (x1 - x0)
    vertex = x1 - a / (2.0 * curvature)
    return float(np.clip(vertex, x0, x2))


def _span(curve: CurveFit, mask: npt.NDArray[np.bool_], i: int) -> tuple[int, int]:
    """The contiguous run of ``mask`` around index ``i`` (``mask[i]`` assumed true)."""
    lo, hi = i, i
    while lo > 0 and mask[lo - 1]:
        lo -= 1
    while hi < mask.size - 1 and mask[hi + 1]:
        hi += 1
    return lo, hi


def _lr_pair(curve: CurveFit, lo: float, hi: float) -> tuple[float, float]:
    return (curve.lr(lo), curve.lr(hi))


def _base_evidence(curve: CurveFit) -> dict[str, Any]:
    return {
        "points": int(curve.x.size),
        "window_points": curve.window,
        "fall_lrs": _lr_pair(curve, curve.x[curve.i_top], curve.x[curve.i_min]),
        "fall_indices": (int(curve.indices[curve.i_top]), int(curve.indices[curve.i_min])),
        "drop_z": curve.drop_z,
    }


def _steepest(curve: CurveFit) -> Suggestion:
    lo, hi = curve.i_top, curve.i_min
    region = curve.slope[lo : hi + 1]
    spread = float(np.max(np.abs(curve.slope)))
    best = lo + _first_within(region, float(region.min()), spread)
    steepest = float(curve.slope[best])
    if not steepest < 0:
        raise NoReliableSuggestionError("the fitted loss has no falling slope before its minimum")
    x = _parabola_vertex(curve.x, curve.slope, best, spread)
    mask = curve.slope <= 0.5 * steepest
    a, b = _span(curve, mask, best)
    half = curve.window // 2
    w_lo, w_hi = max(0, best - half), min(curve.x.size - 1, best + half)
    evidence = {
        **_base_evidence(curve),
        "index": int(curve.indices[best]),
        "slope_per_decade": steepest,
        "slope_se": float(curve.se_slope[best]),
        "window_lrs": _lr_pair(curve, curve.x[w_lo], curve.x[w_hi]),
    }
    interval = _lr_pair(curve, min(curve.x[a], x), max(curve.x[b], x))
    return Suggestion(curve.lr(x), "steepest", evidence, interval)


def _valley(curve: CurveFit) -> Suggestion:
    tolerance = _TIE * float(np.max(np.abs(curve.slope)))
    falling = curve.slope < -np.maximum(Z_SLOPE * curve.se_slope, tolerance)
    best: tuple[float, int, int] | None = None
    i = 0
    n = falling.size
    while i < n:
        if not falling[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and falling[j + 1]:
            j += 1
        length = float(curve.x[j] - curve.x[i])
        if best is None or length > best[0] * (1 + _TIE):
            best = (length, i, j)
        i = j + 1
    if best is None or best[0] <= 0:
        raise NoReliableSuggestionError(
            "the loss curve has no stretch that falls significantly "
            f"(slope below -{Z_SLOPE:g} standard errors over two or more points)"
        )
    length, start, end = best
    x0 = float(curve.x[start])
    x = x0 + 2.0 / 3.0 * length
    evidence = {
        **_base_evidence(curve),
        "valley_lrs": _lr_pair(curve, x0, float(curve.x[end])),
        "valley_indices": (int(curve.indices[start]), int(curve.indices[end])),
        "valley_points": end - start + 1,
        "position": 2.0 / 3.0,
    }
    interval = _lr_pair(curve, x0 + 0.5 * length, x0 + 5.0 / 6.0 * length)
    return Suggestion(curve.lr(x), "valley", evidence, interval)


def _minimum(curve: CurveFit) -> Suggestion:
    i = curve.i_min
    spread = float(np.ptp(curve.fit))
    x = _parabola_vertex(curve.x, curve.fit, i, spread)
    near = curve.fit <= curve.fit[i] + 0.05 * curve.drop
    a, b = _span(curve, near, i)
    evidence = {
        **_base_evidence(curve),
        "index": int(curve.indices[i]),
        "minimum_lr": curve.lr(x),
        "divisor": 10.0,
    }
    interval = _lr_pair(curve, min(curve.x[a], x) - 1.0, max(curve.x[b], x) - 1.0)
    return Suggestion(curve.lr(x - 1.0), "minimum", evidence, interval)


def _bottom(curve: CurveFit) -> Suggestion:
    lo = float(curve.x[curve.i_min])
    hi = lo if math.isnan(curve.x_edge) else curve.x_edge
    x = 0.5 * (lo + hi) - BOTTOM_DECADES
    evidence = {
        **_base_evidence(curve),
        "bottom_lrs": _lr_pair(curve, lo, hi),
        "divisor": 10.0**BOTTOM_DECADES,
    }
    if math.isnan(curve.x_edge):
        evidence["warning"] = (
            "the sweep ended at the bottom of the curve; raise end_lr to see where it turns"
        )
    interval = _lr_pair(curve, lo - BOTTOM_DECADES, hi - BOTTOM_DECADES)
    return Suggestion(curve.lr(x), "bottom", evidence, interval)


_PLAIN_RULES = {"bottom": _bottom, "steepest": _steepest, "valley": _valley, "minimum": _minimum}
_CONSENSUS_RULES = ("steepest", "valley", "minimum")


def _consensus(curve: CurveFit) -> Suggestion:
    parts: dict[str, Suggestion] = {}
    failed: dict[str, str] = {}
    for name in _CONSENSUS_RULES:
        try:
            parts[name] = _PLAIN_RULES[name](curve)
        except NoReliableSuggestionError as exc:
            failed[name] = str(exc)
    if len(parts) < 2:
        raise NoReliableSuggestionError(
            "consensus needs at least two rules with an answer; "
            + "; ".join(f"{name}: {why}" for name, why in failed.items())
        )
    logs = sorted(math.log10(s.lr) for s in parts.values())
    middle = logs[1] if len(logs) == 3 else 0.5 * (logs[0] + logs[1])
    evidence = {
        **_base_evidence(curve),
        "lrs": {name: s.lr for name, s in parts.items()},
        "failed": failed,
    }
    return Suggestion(10.0**middle, "consensus", evidence, (10.0 ** logs[0], 10.0 ** logs[-1]))


RULES: Mapping[str, Callable[[CurveFit], Suggestion]] = {**_PLAIN_RULES, "consensus": _consensus}
"""Each method's rule: ``RULES[method](curve) -> Suggestion``, in the order of :data:`METHODS`."""


def check_method(method: str | None) -> str:
    """Return the rule ``method`` names (:data:`DEFAULT_METHOD` for ``None``), or raise.

    Example:
        >>> check_method(None)
        'bottom'
    """
    name = DEFAULT_METHOD if method is None else method
    if name not in METHODS:
        listed = ", ".join(repr(m) for m in METHODS)
        raise ValueError(f"method must be one of {listed} or None (got method={method!r})")
    return name
