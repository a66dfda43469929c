"""CLR bounds: ``(base_lr, max_lr)`` for a cyclical schedule, read off a fitted curve.

Two rules (:data:`BOUND_RULES`):

* ``"smith"`` (the default), as Smith reads the curve: ``base_lr`` where the fit has
  fallen :data:`BOUND_FRACTION` (10%) of the drop below its top for good (the loss
  starts falling: the last time it crosses that level before its minimum, so a dip of
  the flat part's noise below it is not the start), ``max_lr`` where it first comes
  within 10% of the drop of its minimum (it stops falling), both interpolated linearly in
  log-LR. Wide bounds, for runs of many epochs.
* ``"bottom"``: ``max_lr`` is the edge of the curve's bottom divided by 10 (the upper
  end of the ``"bottom"`` suggestion's interval) and ``base_lr = max_lr / 4``, Smith's
  rule of thumb ("set base_lr to 1/3 or 1/4 of max_lr", section 3.3). For short runs.

For a higher-is-better metric (accuracy) the fit reads ``-metric``. More in
``docs/method.md``.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186 (section 3.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import NoReliableSuggestionError
from .fit import CurveFit
from .rules import BOTTOM_DECADES

__all__ = ["BASE_DIVISOR", "BOUNDS", "BOUND_FRACTION", "BOUND_RULES", "check_rule"]

BASE_DIVISOR = 4.0
"""``rule="bottom"``: ``base_lr = max_lr / 4`` (Smith's "1/3 or 1/4")."""

BOUND_FRACTION = 0.1
"""``rule="smith"``: fraction of the drop at which the curve starts /
stops falling."""


def _crossing(curve: CurveFit, level: float) -> float:
    """First log-LR after ``i_top`` where the fit comes down to ``level``, interpolated."""
    fit, x = curve.fit, curve.x
    for j in range(curve.i_top, curve.i_min + 1):
        if fit[j] <= level:
            if j == curve.i_top:
                return float(x[j])
            f0, f1 = fit[j - 1], fit[j]
            t = (f0 - level) / (f0 - f1)
            return float(x[j - 1] + t * (x[j] - x[j - 1]))
    return float(x[curve.i_min])


def _falling_for_good(curve: CurveFit, level: float) -> float:
    """Log-LR after which the fit stays below ``level`` up to its minimum, interpolated.

    The last crossing of ``level`` between ``i_top`` and ``i_min``: on a flat start the
    fit wanders by its noise, and a dip below the level there is not where it falls.
    """
    fit, x = curve.fit, curve.x
    above = [j for j in range(curve.i_top, curve.i_min + 1) if fit[j] > level]
    j = above[-1] if above else curve.i_top
    if j >= curve.i_min:
        return float(x[curve.i_min])
    f0, f1 = fit[j], fit[j + 1]
    t = (f0 - level) / (f0 - f1) if f0 > f1 else 0.0
    return float(x[j] + t * (x[j + 1] - x[j]))


def _smith_bounds(curve: CurveFit) -> tuple[float, float]:
    top = float(curve.fit[curve.i_top])
    base = _falling_for_good(curve, top - BOUND_FRACTION * curve.drop)
    peak = _crossing(curve, top - (1.0 - BOUND_FRACTION) * curve.drop)
    if not base < peak:
        raise NoReliableSuggestionError(
            "the curve falls in a single step: base_lr and max_lr cannot be told apart; "
            "run the range test with more steps"
        )
    return curve.lr(base), curve.lr(peak)


def _bottom_bounds(curve: CurveFit) -> tuple[float, float]:
    if math.isnan(curve.x_edge):
        raise NoReliableSuggestionError(
            "the curve is still at its best at the end of the sweep: nothing tells how far "
            "up max_lr may go; raise end_lr"
        )
    peak = curve.lr(curve.x_edge - BOTTOM_DECADES)
    return peak / BASE_DIVISOR, peak


BOUNDS: dict[str, Callable[[CurveFit], tuple[float, float]]] = {
    "smith": _smith_bounds,
    "bottom": _bottom_bounds,
}
"""Each rule: ``BOUNDS[rule](curve) -> (base_lr, max_lr)``."""

BOUND_RULES = tuple(BOUNDS)
"""The rule names, ``("smith", "bottom")``."""


def check_rule(rule: str) -> str:
    """Return ``rule`` if it names a bounds rule, else raise ``ValueError``.

    Example:
        >>> check_rule("smith")
        'smith'
    """
    if rule not in BOUND_RULES:
        listed = ", ".join(repr(r) for r in BOUND_RULES)
        raise ValueError(f"rule must be one of {listed} (got rule={rule!r})")
    return rule
