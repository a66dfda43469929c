"""Progress reporting that costs nothing when nobody is watching.

:func:`progress_bar` returns a tqdm bar when progress is wanted (explicitly, or by default
when standard error is an interactive terminal and tqdm is installed) and otherwise an
object with the same three methods that does nothing. tqdm is imported only when a bar is
actually shown, so importing cyclr never loads it.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any, Protocol

from ._validate import check_int, check_type
from .errors import require

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar(Protocol):
    """What the range-test runners need from a progress bar (a subset of tqdm's API)."""

    def update(self, n: int = 1) -> Any:
        """Advance the bar by ``n`` steps."""

    def set_postfix(self, **kwargs: Any) -> Any:
        """Show ``key=value`` pairs after the bar."""

    def close(self) -> Any:
        """Finish the bar."""


class _NullProgress:
    """A progress bar that shows nothing."""

    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def set_postfix(self, **kwargs: Any) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


def _interactive() -> bool:
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def progress_bar(total: int, enabled: bool | None = None, desc: str = "range test") -> ProgressBar:
    """Return a progress bar over ``total`` steps, or a silent stand-in.

    Args:
        total: Number of steps the bar counts to (a positive integer).
        enabled: ``True`` always shows a tqdm bar (tqdm must be installed); ``False``
            never does; ``None`` shows one only when standard error is an interactive
            terminal and tqdm is importable.
        desc: Label shown before the bar.

    Returns:
        An object with ``update(n)``, ``set_postfix(**kwargs)`` and ``close()``.

    Raises:
        TypeError: If ``total`` is not an integer or ``enabled`` is not a bool or None.
        ValueError: If ``total`` is not positive.
        cyclr.MissingExtraError: If ``enabled=True`` and tqdm is not installed.

    Example:
        >>> bar = progress_bar(10, enabled=False)
        >>> bar.update(3); bar.set_postfix(loss=0.5); bar.close()
    """
    total = check_int("total", total)
    check_type("progress", enabled, (bool, type(None)), "a bool or None")
    if enabled is None:
        enabled = _interactive() and importlib.util.find_spec("tqdm") is not None
    if not enabled:
        return _NullProgress()
    tqdm = require("tqdm", "cli")
    bar: ProgressBar = tqdm.tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
    return bar
