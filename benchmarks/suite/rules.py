"""Prototype suggestion rules, scored from cyclr's stored range-test curves.

Each rule maps ``(lrs, losses)`` (the raw per-step losses of a cyclr range test) to one LR.
Run the suite with ``--prototypes`` to score them next to cyclr's own methods; nothing
here is used by the library.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PROTOTYPES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {}
