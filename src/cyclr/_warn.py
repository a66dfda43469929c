"""Warnings that point at the caller's line, however deep inside cyclr they are raised."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

__all__ = ["warn_caller"]

_PACKAGE = Path(__file__).resolve().parent
"""The directory of the ``cyclr`` package: frames from files under it are cyclr's own."""


def warn_caller(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """``warnings.warn`` with the first frame outside the ``cyclr`` package as its place.

    A fixed ``stacklevel`` breaks whenever the call that warns moves a level deeper (a
    helper between a runner and the stage that warns); the user's line is what a warning
    must name, so this counts the frames up to it.
    """
    frame = sys._getframe(0)
    level = 1
    while frame is not None and Path(frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
