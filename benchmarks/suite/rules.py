"""Prototype suggestion rules, scored from cyclr's stored range-test curves.

Each rule maps ``(lrs, losses)`` (the raw per-step losses of a cyclr range test) to one LR.
Run the suite with ``--prototypes`` to score them next to cyclr's own methods (and on the
adaptive-length curves, as ``auto-<rule>``); nothing here is used by the library.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def minimum_center(lrs: np.ndarray, losses: np.ndarray) -> float:
    """One tenth of the LR at the centre (in log-LR) of the curve's near-minimum span.

    cyclr's ``minimum`` rule reads the argmin of the fitted curve, which wanders along a
    flat-bottomed curve from seed to seed. This reads the middle of the contiguous stretch
    where the fit is within 5% of the drop of its minimum (the rule's own interval),
    relative to the curve's drop only, so it is unchanged by ``loss -> a * loss + c``.
    """
    from cyclr.rangetest.suggest import fit_curve

    curve = fit_curve(lrs, losses)
    near = curve.fit <= curve.fit[curve.i_min] + 0.05 * curve.drop
    lo = hi = curve.i_min
    while lo > 0 and near[lo - 1]:
        lo -= 1
    while hi < near.size - 1 and near[hi + 1]:
        hi += 1
    return float(10.0 ** (0.5 * (curve.x[lo] + curve.x[hi]) - 1.0))


def first_minimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    """One tenth of the LR at the fit's first significant minimum, not its global one.

    Reads cyclr's zero-lag fit of the whole curve and walks it from the start, keeping the
    running minimum; the first point whose fit exceeds that running minimum by more than
    ``Z_DROP`` standard errors (of the two fitted values) ends the walk, and the running
    minimum at that moment is the minimum used (then divided by 10, fast.ai's rule). Past
    that rise the network has been pushed beyond stability: a batch-normalised network
    does not blow up but bounces, and a later dip of that damaged state can undercut the
    real minimum, which the global argmin would then pick. Only standard errors of the
    fit are compared, so the answer is unchanged by ``loss -> a * loss + c``.
    """
    from cyclr.rangetest.suggest import Z_DROP, fit_curve

    curve = fit_curve(lrs, losses)
    best = 0
    for j in range(1, curve.fit.size):
        se = float(np.hypot(curve.se_fit[j], curve.se_fit[best]))
        if j > curve.i_top and curve.fit[j] - curve.fit[best] > Z_DROP * se:
            break
        if curve.fit[j] < curve.fit[best]:
            best = j
    return float(10.0 ** (curve.x[best] - 1.0))


PROTOTYPES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "proto-minimum-center": minimum_center,
    "proto-first-minimum": first_minimum,
}
