"""Prototype suggestion rules, scored from cyclr's stored range-test curves.

Each rule maps ``(lrs, losses)`` (the raw per-step losses of a cyclr range test) to one LR.
Run the suite with ``--prototypes`` to score them next to cyclr's own methods; nothing here
is used by the library.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def edge(lrs: np.ndarray, losses: np.ndarray) -> float:
    """One tenth of the LR at the edge of the curve's bottom, not at its centre.

    The edge (where the fit has risen ``Z_DROP`` standard errors above the first
    significant minimum) is the best-determined feature of a short sweep, but it marks
    the last LR the curve tolerates; the default ``bottom`` rule reads the centre between
    it and the minimum. This prototype measures what reading the edge alone would give.
    """
    from cyclr.rangetest.suggest import clr_bounds

    return float(clr_bounds(lrs, losses, rule="bottom")[1])


def argmin_bottom(lrs: np.ndarray, losses: np.ndarray) -> float:
    """One tenth of the LR at the first significant minimum (``minimum`` without a parabola)."""
    from cyclr.rangetest.suggest import fit_curve

    curve = fit_curve(lrs, losses)
    return float(10.0 ** (curve.x[curve.i_min] - 1.0))


PROTOTYPES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "proto-edge": edge,
    "proto-argmin": argmin_bottom,
}
