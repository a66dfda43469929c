"""Line plots in the terminal (plotext), with log-LR and step ticks."""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..errors import require

__all__ = ["decade_ticks", "step_ticks", "terminal_plot"]


def _terminal_size() -> tuple[int, int]:
    """Plot size in character cells: the terminal's width (40 to 100), 20 rows."""
    columns = shutil.get_terminal_size((100, 24)).columns
    return max(40, min(columns, 100)), 20


def terminal_plot(
    x: npt.NDArray[np.float64],
    series: Sequence[npt.NDArray[np.float64]],
    *,
    title: str,
    xlabel: str,
    vlines: Sequence[float] = (),
    xticks: tuple[list[float], list[str]] | None = None,
) -> str:
    """Draw lines in the terminal with plotext and return the text.

    Colours are used only when standard output is a terminal.
    """
    plotext = require("plotext", "cli")
    figure = plotext.figure
    figure.clear()
    for y in series:
        finite = np.isfinite(y)
        figure.draw(figure.signal(x[finite].tolist(), y[finite].tolist()).lines())
    for position in vlines:
        figure.line(float(position), orientation="v")
    if xticks is not None:
        figure.ruler(0).ticks(*xticks)
    figure.title(title)
    figure.label(xlabel, axis="x")
    figure.plot_size(*_terminal_size())
    colorless = not sys.stdout.isatty()
    text: str = figure.build().string(colorless=colorless)
    figure.clear()
    return text


def decade_ticks(log_lr: npt.NDArray[np.float64]) -> tuple[list[float], list[str]]:
    """Ticks at every power of ten spanned by ``log10(lr)``, labelled ``1e-3`` and so on.

    Example:
        >>> decade_ticks(np.array([-3.2, -0.5]))[1]
        ['1e-4', '1e-3', '1e-2', '1e-1', '1e0']
    """
    low, high = math.floor(float(np.min(log_lr))), math.ceil(float(np.max(log_lr)))
    decades = list(range(low, high + 1))
    return [float(d) for d in decades], [f"1e{d}" for d in decades]


def step_ticks(last: int) -> tuple[list[float], list[str]]:
    """At most eight round tick positions from 0 to ``last`` (1, 2 or 5 times a power of 10).

    Example:
        >>> step_ticks(11999)[1]
        ['0', '2,000', '4,000', '6,000', '8,000', '10,000']
    """
    span = max(last, 1)
    magnitude = 10 ** math.floor(math.log10(span))
    spacing = next(
        m * magnitude for m in (0.1, 0.2, 0.5, 1, 2, 5, 10) if span / (m * magnitude) <= 7
    )
    spacing = max(1, int(spacing))
    positions = list(range(0, last + 1, spacing))
    return [float(p) for p in positions], [f"{p:,}" for p in positions]
