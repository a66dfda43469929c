"""Other readings of a confirmation's scores, scored on the suite without training again.

A confirmed family's record keeps its confirmation (candidates, scores, held-out losses).
Each rule here reads an LR from those scores instead of the library's vertex of the
parabola through all of them; the suite then trains at it like at any suggestion, with
the run's length applied as ``result.suggest(total_steps=...)`` applies it. Enabled by
``python -m benchmarks --choice-prototypes``; the methods are named after the family's
own (``cyclr-confirmed-lowest``, ``cyclr-auto-local``, ...). A third reading, the
vertex unless it lies past an end that did not score lowest, won here and is now the
library's (:func:`cyclr.rangetest.confirm.read_lr`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cyclr.rangetest.confirmation import Confirmation
from cyclr.rangetest.scores import untrained_bar, untrained_loss
from cyclr.rangetest.storage import _confirmation


def _lowest(c: Confirmation) -> float:
    """The best-scoring candidate (ties: the smaller LR)."""
    best = c.best
    if best is None:
        raise ValueError("no finite score")
    return c.candidates[best]


def _local(c: Confirmation) -> float:
    """The vertex of the parabola through the lowest score and its two neighbours.

    Successive parabolic interpolation's step (as in Brent's line search): the scores'
    shape near their minimum, not over the whole window. At an end of the finite scores,
    or without an upward curvature, the lowest score's candidate.
    """
    best = _lowest(c)
    finite = [(x, s) for x, s in zip(c.candidates, c.scores, strict=True) if math.isfinite(s)]
    i = [x for x, _ in finite].index(best)
    if i == 0 or i == len(finite) - 1:
        return best
    (x0, s0), (x1, s1), (x2, s2) = ((math.log10(x), s) for x, s in finite[i - 1 : i + 2])
    a, b, _ = np.polyfit([x0, x1, x2], [s0, s1, s2], 2)
    if not a > 0:
        return best
    return float(10 ** min(max(-b / (2 * a), x0), x2))


CHOICE_RULES: dict[str, Callable[[Confirmation], float]] = {"lowest": _lowest, "local": _local}
"""Suffix -> rule."""


def reread(method: str, record: Any, total_steps: int) -> dict[str, float | None]:
    """Each rule's LR for one confirmed record (``{}`` when it kept no confirmation)."""
    if not record.confirmation:
        return {}
    c = _confirmation(record.confirmation)
    if c is None:
        return {}
    losses = np.asarray(record.losses, dtype=np.float64)
    horizon = c.horizon(total_steps, untrained_bar(losses), untrained_loss(losses))
    out: dict[str, float | None] = {}
    for suffix, rule in CHOICE_RULES.items():
        try:
            lr = rule(c)
        except ValueError:
            out[f"{method}-{suffix}"] = None
            continue
        out[f"{method}-{suffix}"] = lr if horizon.lr is None else min(lr, horizon.lr)
    return out
