"""``cyclr plot RESULT``: draw a saved range test in the terminal, optionally to a figure."""

from __future__ import annotations

import argparse
import contextlib
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .common import add_command, check_distinct, check_figure_out, load_result, write_failed, wrote
from .suggest import add_result_arguments, report
from .terminal import decade_ticks, terminal_plot

if TYPE_CHECKING:
    from ..rangetest import RangeTestResult

__all__ = ["add_parser", "result_marks"]

EPILOG = """\
Draws the saved curve (raw and smoothed loss against log LR) in the terminal, marks
the default suggestion and the CLR bounds, then prints what 'cyclr suggest' prints.
Save a result with RangeTestResult.to_json(path); 'cyclr demo' writes one.

examples:
  cyclr plot cyclr-demo/range_test.json
  cyclr plot lr.json --out curve.png
"""


def result_marks(result: RangeTestResult) -> list[float]:
    """LRs to mark on the curve: the default suggestion and the CLR bounds, when found."""
    from ..errors import NoReliableSuggestionError

    marks: list[float] = []
    with contextlib.suppress(NoReliableSuggestionError):
        marks.append(result.suggest().lr)
    with contextlib.suppress(NoReliableSuggestionError):
        marks.extend(result.clr_bounds())
    return marks


def run(args: argparse.Namespace) -> int:
    """Run ``cyclr plot``."""
    out = None if args.out is None else check_figure_out(args.out)
    if out is not None:
        from pathlib import Path

        check_distinct(RESULT=Path(args.result), out=out)
    result = load_result(args.result)
    log_lr = np.log10(result.lrs[:, 0])
    print(
        terminal_plot(
            log_lr,
            [result.losses, result.smoothed],
            title="LR range test: loss and smoothed loss",
            xlabel="learning rate (log scale); vertical lines: suggestion, base_lr, max_lr",
            vlines=[math.log10(m) for m in result_marks(result)],
            xticks=decade_ticks(log_lr),
        )
    )
    for line in report(result, args.steps_per_epoch):
        print(line)
    if out is not None:
        from ..plot import plot_result, save_figure

        try:
            save_figure(lambda ax: plot_result(result, ax=ax), out)
        except OSError as exc:
            raise write_failed(out, exc) from None
        wrote(out)
    return 0


def add_parser(commands: Any) -> None:
    """Add ``cyclr plot`` to the sub-command parsers."""
    summary = "draw a saved range test and its suggestions"
    sub = add_command(commands, "plot", summary, summary[0].upper() + summary[1:] + ".", EPILOG)
    add_result_arguments(sub)
    sub.add_argument("--out", metavar="PNG", help="also save the figure (.png, .svg or .pdf)")
    sub.set_defaults(func=run)
