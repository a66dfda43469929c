"""The demo's table, figures and JSON files.

:func:`write_outputs` writes, into one folder:

* ``range_test.png``: the range-test curve with every suggestion and the CLR bounds;
* ``schedules.png``: the three learning-rate schedules that were trained;
* ``accuracy.png``: held-out accuracy against step for the three runs, the target
  (the fixed-LR run's final accuracy) and where each run first reaches it;
* ``range_test.json``: the :class:`~cyclr.rangetest.RangeTestResult`, readable by
  ``cyclr suggest`` / ``cyclr plot`` and :meth:`RangeTestResult.from_json`;
* ``summary.json``: :meth:`DemoResult.summary`.

Figures are drawn on ``matplotlib.figure.Figure`` objects (no pyplot, no GUI backend).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write_text
from ..plot import save_figure
from .pipeline import DemoResult
from .train import FINAL_EVALS

__all__ = ["format_report", "write_outputs"]

PAPER_CLAIM = (
    "For comparison, Smith (2017) on CIFAR-10: the fixed-LR accuracy of 81.4% after\n"
    "70,000 iterations is reached by triangular2 within 25,000 (2.8x)."
)


def _steps(value: int | None) -> str:
    return "not reached" if value is None else f"{value:,}"


def _speedup(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_report(result: DemoResult) -> str:
    """The results table, with the target and the paper's figure for comparison.

    Args:
        result: What :func:`~cyclr.demo.run_demo` measured.

    Returns:
        Several lines of text.
    """
    header = ("run", "final accuracy", f"steps to reach {result.target:.1%}", "speed-up")
    rows = [
        (
            run.label,
            f"{run.curve.final_accuracy:.1%}",
            _steps(result.steps_to_target(run)),
            _speedup(result.speedup(run)),
        )
        for run in result.runs
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        pairs = zip(cells[1:], widths[1:], strict=True)
        rest = "  ".join(cell.rjust(width) for cell, width in pairs)
        return f"{first}  {rest}"

    epochs = result.total_steps / result.steps_per_epoch
    lines = [
        f"results: {result.total_steps:,} steps ({epochs:g} epochs) per run, held-out "
        f"accuracy every {result.config.eval_every} steps, {result.seconds:.0f} s in all",
        "",
        line(header),
        line(tuple("-" * w for w in widths)),
        *(line(row) for row in rows),
        "",
        f"final accuracy: mean of the last {FINAL_EVALS} evaluations. speed-up: steps the fixed LR",
        "needed to first reach its own final accuracy, divided by the steps this run needed.",
        PAPER_CLAIM,
    ]
    return "\n".join(lines)


def _draw_range_test(result: DemoResult, ax: Any) -> None:
    result.range_test.plot(ax=ax)
    ax.set_title(
        f"LR range test: suggestion {result.suggestion.lr:.3g}, "
        f"bounds {result.bounds[0]:.3g} to {result.bounds[1]:.3g}"
    )


def _draw_schedules(result: DemoResult, ax: Any) -> None:
    steps = np.arange(result.total_steps)
    for run in result.runs:
        ax.plot(steps, run.schedule(steps), label=run.label, linewidth=1.4)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title(f"schedules ({result.steps_per_epoch} steps per epoch)")
    ax.legend()


def _draw_accuracy(result: DemoResult, ax: Any) -> None:
    for run in result.runs:
        (line,) = ax.plot(run.curve.steps, run.curve.accuracy, label=run.label, linewidth=1.4)
        reached = result.steps_to_target(run)
        if reached is not None:
            ax.plot([reached], [result.target], "o", color=line.get_color())
    ax.axhline(
        result.target,
        color="0.4",
        linestyle="--",
        linewidth=1.0,
        label=f"fixed-LR final accuracy {result.target:.1%}",
    )
    low = min(
        float(np.min(run.curve.accuracy[len(run.curve.accuracy) // 4 :])) for run in result.runs
    )
    ax.set_ylim(
        max(0.0, low - 0.02),
        min(1.0, max(float(r.curve.accuracy.max()) for r in result.runs) + 0.01),
    )
    ax.set_xlabel("step")
    ax.set_ylabel("held-out accuracy")
    ax.set_title("accuracy; dots: first step at the fixed-LR final accuracy")
    ax.legend(loc="lower right")


def write_outputs(result: DemoResult, out: str | Path) -> list[Path]:
    """Write the demo's figures and JSON files into ``out`` (created if needed).

    Args:
        result: What :func:`~cyclr.demo.run_demo` measured.
        out: The folder.

    Returns:
        The paths written, in a fixed order. Each file is replaced atomically (a
        failed write leaves an older file as it was).

    Raises:
        OSError: If the folder or a file cannot be written.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    drawings: tuple[tuple[str, Callable[[DemoResult, Any], None]], ...] = (
        ("range_test.png", _draw_range_test),
        ("schedules.png", _draw_schedules),
        ("accuracy.png", _draw_accuracy),
    )
    for name, draw in drawings:
        path = folder / name
        save_figure(functools.partial(draw, result), path)
        written.append(path)
    path = folder / "range_test.json"
    result.range_test.to_json(path)
    written.append(path)
    path = folder / "summary.json"
    atomic_write_text(path, json.dumps(result.summary(), indent=2, allow_nan=False) + "\n")
    written.append(path)
    return written
