"""Matplotlib figures of range-test results and schedules.

Every function draws on the ``ax`` it is given (or on a new figure's axes) and returns
the ``Axes``; none calls ``plt.show()`` or changes the backend. matplotlib is imported
only when a function is called (``pip install 'cyclr[plot]'``), so ``import cyclr``
stays free of it.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import NoReliableSuggestionError, require
from .rangetest.suggest import DEFAULT_METHOD

if TYPE_CHECKING:
    from .rangetest.result import RangeTestResult
    from .schedules import Schedule

__all__ = ["plot_result", "plot_schedule"]

_MARKERS = {
    "bottom": ("*", "k"),
    "steepest": ("v", "C3"),
    "valley": ("o", "C4"),
    "minimum": ("s", "C5"),
    "consensus": ("D", "C2"),
}


def _axes(ax: Any) -> Any:
    plt = require("matplotlib.pyplot", "plot")
    if ax is None:
        _, ax = plt.subplots()
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
    from .rangetest.suggest import fit_curve

    ax = _axes(ax)
    lr = result.lrs[:, 0]
    ax.plot(lr, result.losses, color="0.6", linewidth=0.8, alpha=0.6, label="loss")
    ax.plot(lr, result.smoothed, color="C0", linewidth=1.5, label="smoothed (EMA)")
    visible = [result.smoothed[np.isfinite(result.smoothed)]]
    try:
        curve = fit_curve(lr, result.losses)
    except NoReliableSuggestionError as exc:
        ax.text(
            0.02,
            0.02,
            f"no reliable suggestion: {exc}",
            transform=ax.transAxes,
            fontsize="x-small",
            wrap=True,
            verticalalignment="bottom",
        )
    else:
        fit_lr = 10.0**curve.x
        ax.plot(fit_lr, curve.fit, "--", color="C1", linewidth=1.2, label="fit (read by rules)")
        visible.append(curve.fit)
        for method, suggestion in result.suggestions().items():
            at = float(np.interp(np.log10(suggestion.lr), curve.x, curve.fit))
            marker, color = _MARKERS.get(method, ("o", "C6"))
            ax.plot(
                [suggestion.lr],
                [at],
                linestyle="none",
                marker=marker,
                color=color,
                markersize=11 if method == DEFAULT_METHOD else 7,
                label=f"{method}: {suggestion.lr:.2g}",
            )
    try:
        base, peak = result.clr_bounds()
    except NoReliableSuggestionError:
        pass
    else:
        source = "metric" if _uses_metric(result) else "loss"
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
    from .rangetest.suggest import MIN_POINTS

    return result.metrics is not None and int(np.isfinite(result.metrics).sum()) >= MIN_POINTS


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

    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a cyclr Schedule (got schedule={schedule!r})")
    if isinstance(steps, numbers.Integral) and not isinstance(steps, (bool, np.bool_)):
        if steps < 1:
            raise ValueError(f"steps must be positive (got steps={steps!r})")
        grid = np.arange(int(steps))
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
