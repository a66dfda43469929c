"""Matplotlib figures of range-test results and schedules.

Every function draws on the ``ax`` it is given (or on a new figure's axes) and returns
the ``Axes``; none calls ``plt.show()`` or changes the backend. matplotlib is imported
only when a function is called (``pip install 'cyclr[plot]'``), so ``import cyclr``
stays free of it.
"""

from __future__ import annotations

import io
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._validate import check_count, check_type
from .errors import NoReliableSuggestionError, require

if TYPE_CHECKING:
    from .rangetest.result import RangeTestResult
    from .schedules import Schedule

__all__ = [
    "FIGURE_FORMATS",
    "MAX_PREVIEW_POINTS",
    "check_figure_path",
    "plot_result",
    "plot_schedule",
    "preview_steps",
    "save_figure",
]

MAX_PREVIEW_POINTS = 20_000
"""A schedule drawn over more steps is sampled at this many evenly spaced steps."""

FIGURE_FORMATS = (".png", ".svg", ".pdf")
"""The file types :func:`save_figure` writes, by the path's suffix."""

_MARKERS = {
    "bottom": ("*", "k"),
    "steepest": ("v", "C3"),
    "valley": ("o", "C4"),
    "minimum": ("s", "C5"),
    "consensus": ("D", "C2"),
}


def _axes(ax: Any) -> Any:
    """``ax``, or a new pyplot figure's axes when ``None``; anything else is refused."""
    plt = require("matplotlib.pyplot", "plot")
    if ax is None:
        _, ax = plt.subplots()
        return ax
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(
            f"ax must be a matplotlib Axes or None (got ax={type(ax).__name__}; for a "
            "Figure, pass figure.subplots())"
        )
    return ax


def plot_result(result: RangeTestResult, ax: Any = None) -> Any:
    """Plot a range test: raw and smoothed loss against the LR, suggestions and bounds.

    Draws, on a log-LR axis: the raw losses (faint), the recorded smoothed loss (EMA),
    the zero-lag fit that the suggestion rules read (dashed), a marker on the fit for
    every suggestion (legend gives the LR), and the CLR bounds
    (:meth:`~cyclr.rangetest.RangeTestResult.clr_bounds`, from the metric when there is
    one) as a shaded band. A recorded metric goes on a second y axis. When the curve has no reliable
    suggestion, the reason is written on the plot instead.

    Args:
        result: The range-test result.
        ax: A matplotlib ``Axes`` to draw on; a new figure's axes when ``None``.

    Returns:
        The ``Axes`` holding the loss curves.

    Raises:
        cyclr.errors.MissingExtraError: If matplotlib is not installed.

    Example:
        >>> from matplotlib.figure import Figure
        >>> from cyclr.rangetest import RangeTestResult
        >>> lrs = np.logspace(-5, 0, 60)
        >>> losses = 1.0 - np.tanh(np.log10(lrs) + 3.0)
        >>> result = RangeTestResult(lrs, losses, losses, None, "num_steps", {}, None)
        >>> ax = plot_result(result, ax=Figure().subplots())
        >>> ax.get_xscale()
        'log'
    """
    from .rangetest import RangeTestResult

    check_type("result", result, RangeTestResult, "a RangeTestResult")
    ax = _axes(ax)
    lr = result.lrs[:, 0]
    ax.plot(lr, result.losses, color="0.6", linewidth=0.8, alpha=0.6, label="loss")
    ax.plot(lr, result.smoothed, color="C0", linewidth=1.5, label="smoothed (EMA)")
    visible = [result.smoothed[np.isfinite(result.smoothed)]]
    reading = result.reading
    curve = reading.fit
    if curve is None:
        ax.text(
            0.02,
            0.02,
            f"no reliable suggestion: {reading.reason}",
            transform=ax.transAxes,
            fontsize="x-small",
            wrap=True,
            verticalalignment="bottom",
        )
    else:
        fit_lr = 10.0**curve.x
        ax.plot(fit_lr, curve.fit, "--", color="C1", linewidth=1.2, label="fit (read by rules)")
        visible.append(curve.fit)
        for method, suggestion in reading.suggestions.items():
            at = float(np.interp(np.log10(suggestion.lr), curve.x, curve.fit))
            marker, color = _MARKERS.get(method, ("o", "C6"))
            ax.plot(
                [suggestion.lr],
                [at],
                linestyle="none",
                marker=marker,
                color=color,
                markersize=11 if method == reading.default_method else 7,
                label=f"{method}: {suggestion.lr:.2g}",
            )
    if result.confirmation is not None:
        chosen = result.confirmation.lr
        ax.axvline(chosen, color="C3", linewidth=1.5, label=f"confirmed: {chosen:.2g}")
    try:
        base, peak = result.clr_bounds()
    except NoReliableSuggestionError:
        pass
    else:
        source = "metric" if _uses_metric(result) else "loss"
        source = "confirmed" if result.confirmation is not None else source
        ax.axvspan(
            base, peak, color="C2", alpha=0.12, label=f"CLR: {base:.2g} to {peak:.2g} ({source})"
        )
    values = np.concatenate(visible) if visible else np.array([])
    if values.size:
        low, high = float(values.min()), float(values.max())
        pad = 0.1 * (high - low) if high > low else 0.1 * max(abs(high), 1e-12)
        ax.set_ylim(low - pad, high + pad)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title(f"LR range test ({result.num_recorded} steps, stop: {result.stop_reason})")
    handles, labels = ax.get_legend_handles_labels()
    if result.metrics is not None:
        evaluated = np.isfinite(result.metrics)
        twin = ax.twinx()
        twin.plot(lr[evaluated], result.metrics[evaluated], ".-", color="C9", label="metric")
        twin.set_ylabel("metric")
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, fontsize="small")
    return ax


def _uses_metric(result: RangeTestResult) -> bool:
    """Whether ``result.clr_bounds()`` reads the metric (see its ``curve="auto"``)."""
    return result.bounds_curve() == "metric"


def plot_schedule(schedule: Schedule, steps: Any, ax: Any = None) -> Any:
    """Plot a schedule's learning rate against the step; with a ``Momentum``, both.

    Args:
        schedule: A learning-rate :class:`~cyclr.schedules.Schedule`, or a
            :class:`~cyclr.schedules.Momentum` (its LR schedule is drawn on the left
            axis and the momentum on a second axis).
        steps: The number of steps to draw (``0 .. steps - 1``) or an array of steps.
        ax: A matplotlib ``Axes`` to draw on; a new figure's axes when ``None``.

    Returns:
        The ``Axes`` holding the learning rate.

    Raises:
        TypeError: If ``schedule`` is not a schedule or ``steps`` not integers.
        ValueError: If ``steps`` is not positive, or contains a negative step.
        cyclr.errors.MissingExtraError: If matplotlib is not installed.

    Example:
        >>> from matplotlib.figure import Figure
        >>> from cyclr import Triangular
        >>> schedule = Triangular(0.001, 0.006, step_size_up=100)
        >>> ax = plot_schedule(schedule.momentum(), 400, ax=Figure().subplots())
        >>> len(ax.get_lines()), ax.get_xlabel()
        (1, 'step')
    """
    from .schedules import Momentum, Schedule

    check_type("schedule", schedule, Schedule, "a cyclr Schedule")
    if isinstance(steps, numbers.Integral) and not isinstance(steps, (bool, np.bool_)):
        grid = preview_steps(check_count("steps", steps), schedule=schedule)
    else:
        grid = np.asarray(steps)
        if grid.ndim != 1 or grid.size == 0 or not np.issubdtype(grid.dtype, np.integer):
            raise TypeError(
                "steps must be a positive int or a 1-D array of integer steps "
                f"(got steps={steps!r})"
            )
    ax = _axes(ax)
    lr_schedule = schedule.schedule if isinstance(schedule, Momentum) else schedule
    ax.plot(grid, lr_schedule(grid), color="C0", label="learning rate")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title(type(lr_schedule).__name__)
    if isinstance(schedule, Momentum):
        twin = ax.twinx()
        twin.plot(grid, schedule(grid), color="C1", label="momentum")
        twin.set_ylabel("momentum")
        handles, labels = ax.get_legend_handles_labels()
        more_handles, more_labels = twin.get_legend_handles_labels()
        ax.legend(handles + more_handles, labels + more_labels, fontsize="small")
    return ax


def preview_steps(
    steps: int, points: int = MAX_PREVIEW_POINTS, schedule: Any = None
) -> npt.NDArray[np.int64]:
    """The steps at which to draw a schedule of ``steps`` steps: all, or ``points`` of them.

    Evenly spaced, always including the first and the last step, so a preview of
    ``10**12`` steps costs what one of ``points`` steps costs. With a cyclical
    ``schedule`` (one with ``cycle_steps`` and ``step_size_up``) whose cycle is shorter
    than two spacings, each sampled step also brings the bottom and the top of its
    cycle: evenly spaced samples of a periodic LR can all land at the same phase and
    draw a flat line (aliasing); these draw each sampled cycle's full swing.

    Example:
        >>> preview_steps(5).tolist(), preview_steps(10**12, points=3).tolist()
        ([0, 1, 2, 3, 4], [0, 500000000000, 999999999999])
        >>> from cyclr import Triangular
        >>> preview_steps(100, points=3, schedule=Triangular(0.1, 1.0, 5)).tolist()
        [0, 5, 50, 55, 90, 95, 99]
    """
    check_count("steps", steps)
    check_count("points", points, minimum=2)
    if steps <= points:
        return np.arange(steps, dtype=np.int64)
    grid = np.linspace(0, steps - 1, points, dtype=np.float64).round()
    grid[-1] = steps - 1
    sampled = np.unique(grid.astype(np.int64))
    lr_schedule = getattr(schedule, "schedule", schedule)  # a Momentum draws its LR's cycles
    cycle = getattr(lr_schedule, "cycle_steps", None)
    up = getattr(lr_schedule, "step_size_up", None)
    spacing = (steps - 1) / max(1, points - 1)
    if not isinstance(cycle, int) or not isinstance(up, int) or cycle > 2 * spacing:
        return sampled  # at least two samples per cycle: its shape shows
    starts = sampled - sampled % cycle
    turns = np.concatenate([starts, starts + up])
    return np.unique(np.concatenate([sampled, turns[turns < steps]]))


def check_figure_path(path: str | os.PathLike[str], name: str = "path") -> Path:
    """Return ``path`` if :func:`save_figure` can write that file type, else raise.

    Raises:
        ValueError: If the suffix is not one of :data:`FIGURE_FORMATS`, or ``path`` is an
            existing folder.

    Example:
        >>> check_figure_path("curve.png").suffix
        '.png'
    """
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{name} must be a file, not a folder (got {name}={str(path)!r})")
    if target.suffix.lower() not in FIGURE_FORMATS:
        listed = ", ".join(FIGURE_FORMATS)
        raise ValueError(f"{name} must end in {listed} (got {name}={str(path)!r})")
    return target


def save_figure(draw: Callable[[Any], None], path: str | os.PathLike[str]) -> Path:
    """Draw on a fresh matplotlib figure (no pyplot, no GUI backend) and save it.

    The file type follows the suffix (:data:`FIGURE_FORMATS`); the file is replaced
    atomically, so a failed save leaves an older file as it was.

    Args:
        draw: Called with the figure's single ``Axes``.
        path: Where to write the figure.

    Returns:
        The path written.

    Raises:
        ValueError: If the suffix is not a supported figure type.
        OSError: If the file cannot be written.
        cyclr.MissingExtraError: If matplotlib is not installed.
    """
    from ._files import atomic_write_bytes

    target = check_figure_path(path)
    figure_module = require("matplotlib.figure", "plot")
    figure = figure_module.Figure(figsize=(7.0, 4.2), layout="constrained")
    draw(figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format=target.suffix.lower()[1:], dpi=120)
    atomic_write_bytes(target, buffer.getvalue())
    return target
