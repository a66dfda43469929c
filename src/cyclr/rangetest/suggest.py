"""Suggestions and CLR bounds from plain arrays: thin wrappers around one curve reading.

:func:`suggest`, :func:`suggestions` and :func:`clr_bounds` read a curve given as arrays
of LRs and losses (or metrics); each fits it once (:func:`~cyclr.rangetest.reading.read_curve`).
The fit lives in :mod:`~cyclr.rangetest.fit`, the suggestion rules in
:mod:`~cyclr.rangetest.rules`, the bounds rules in :mod:`~cyclr.rangetest.bounds`; the
method in full, with the reasons for each choice, in ``docs/method.md``. The names
re-exported here keep ``from cyclr.rangetest.suggest import ...`` working.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186 (section 3.3, the LR range test).
"""

from __future__ import annotations

import numpy.typing as npt

from .bounds import BASE_DIVISOR, BOUND_FRACTION, BOUND_RULES, check_rule
from .fit import (
    MAX_POINTS,
    MIN_POINTS,
    MIN_WINDOW,
    RESOLUTION,
    SPANS,
    Z_DROP,
    Z_RESOLVE,
    CurveFit,
    fit_curve,
    robust_noise,
)
from .reading import read_curve
from .rules import BOTTOM_DECADES, DEFAULT_METHOD, METHODS, Z_SLOPE, Suggestion, check_method

__all__ = [
    "BASE_DIVISOR",
    "BOTTOM_DECADES",
    "BOUND_FRACTION",
    "BOUND_RULES",
    "DEFAULT_METHOD",
    "MAX_POINTS",
    "METHODS",
    "MIN_POINTS",
    "MIN_WINDOW",
    "RESOLUTION",
    "SPANS",
    "Z_DROP",
    "Z_RESOLVE",
    "Z_SLOPE",
    "CurveFit",
    "Suggestion",
    "clr_bounds",
    "fit_curve",
    "robust_noise",
    "suggest",
    "suggestions",
]


def suggest(lrs: npt.ArrayLike, losses: npt.ArrayLike, method: str | None = None) -> Suggestion:
    """Suggest a learning rate from a range-test loss curve (:mod:`~cyclr.rangetest.rules`).

    Args:
        lrs: Group-0 LRs of each step, positive and increasing.
        losses: Raw losses of each step (a non-finite loss ends the usable curve).
        method: One of :data:`METHODS`, or ``None`` for :data:`DEFAULT_METHOD`.

    Returns:
        The :class:`Suggestion`.

    Raises:
        cyclr.errors.NoReliableSuggestionError: If the curve carries no evidence.
        ValueError: If ``method`` is unknown or the arrays disagree in length.

    Example:
        >>> import numpy as np
        >>> lrs = np.logspace(-6, 0, 61)
        >>> losses = 2.0 - np.tanh(np.log10(lrs) + 3.0)   # falls fastest at 1e-3
        >>> f"{suggest(lrs, losses, 'steepest').lr:.2g}"
        '0.001'
    """
    return read_curve(lrs, losses).suggestion(check_method(method))


def suggestions(lrs: npt.ArrayLike, losses: npt.ArrayLike) -> dict[str, Suggestion]:
    """Return the suggestion of every method in :data:`METHODS` that has one.

    A method with no reliable answer is left out (``suggest`` with that method raises
    and says why); an empty dict means the curve carries no evidence at all.

    Example:
        >>> import numpy as np
        >>> lrs = np.logspace(-6, 0, 61)
        >>> sorted(suggestions(lrs, 2.0 - np.tanh(np.log10(lrs) + 3.0)))
        ['bottom', 'consensus', 'minimum', 'steepest', 'valley']
    """
    return read_curve(lrs, losses).suggestions


def clr_bounds(
    lrs: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    higher_is_better: bool = False,
    rule: str = "smith",
) -> tuple[float, float]:
    """Return ``(base_lr, max_lr)`` for a cyclical schedule (:mod:`~cyclr.rangetest.bounds`).

    Args:
        lrs: Group-0 LRs of each step, positive and increasing.
        values: Losses, or with ``higher_is_better=True`` a metric such as accuracy
            (NaN where it was not evaluated).
        higher_is_better: Read ``values`` as a metric to maximise.
        rule: ``"smith"`` (where the curve starts and stops improving) or ``"bottom"``
            (``max_lr`` a tenth of the edge of the curve's bottom, ``base_lr = max_lr /
            4``: for short runs, where Smith's upper bound is too high to train).

    Returns:
        ``(base_lr, max_lr)``, ``base_lr < max_lr``.

    Raises:
        cyclr.errors.NoReliableSuggestionError: If the curve never improves clearly
            (``"bottom"``: or is still at its best at the end of the sweep).
        ValueError: If ``rule`` is unknown.

    Example:
        >>> import numpy as np
        >>> lrs = np.logspace(-6, 0, 61)
        >>> base, peak = clr_bounds(lrs, 2.0 - np.tanh(np.log10(lrs) + 3.0))
        >>> f"{base:.1e} {peak:.1e}"
        '8.1e-05 1.2e-02'
        >>> base, peak = clr_bounds(lrs, np.abs(np.log10(lrs) + 2.0), rule="bottom")
        >>> f"{base:.1e} {peak:.1e}"
        '4.0e-04 1.6e-03'
    """
    check_rule(rule)
    return read_curve(lrs, values, higher_is_better=higher_is_better).clr_bounds(rule)
