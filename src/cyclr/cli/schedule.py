"""``cyclr schedule KIND``: preview a schedule in the terminal, optionally as a figure / CSV.

A preview of any length costs the same: the schedule is drawn at most at
:data:`~cyclr.plot.MAX_PREVIEW_POINTS` evenly spaced steps. Only ``--csv`` writes every
step, up to :data:`MAX_CSV_STEPS` rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .common import (
    CliError,
    add_command,
    check_distinct,
    check_figure_out,
    check_writable,
    fmt,
    given_path,
    positive_int,
    write_failed,
    wrote,
)
from .terminal import step_ticks, terminal_plot

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = ["MAX_CSV_STEPS", "add_parser"]

MAX_CSV_STEPS = 10_000_000
"""The most rows ``--csv`` writes (one per step)."""

_CYCLIC_KINDS = ("triangular", "triangular2", "exp_range")
KINDS = (*_CYCLIC_KINDS, "onecycle")
_ONECYCLE_ONLY = ("total_steps", "pct_start", "div_factor", "final_div_factor", "anneal")
_CYCLIC_ONLY = ("base_lr", "step_size_up", "step_size_down")
_DEFAULT_CYCLES = 3
_TERMINAL_POINTS = 2000

EPILOG = """\
Steps are 0-based optimizer steps. By default three whole cycles are shown (onecycle:
--total-steps). Options that do not apply to KIND are refused.

examples:
  cyclr schedule triangular --base-lr 0.001 --max-lr 0.006 --step-size-up 2000
  cyclr schedule triangular2 --base-lr 0.001 --max-lr 0.006 --step-size-up 2000 --out lr.png
  cyclr schedule exp_range --base-lr 0.001 --max-lr 0.006 --step-size-up 2000 --gamma 0.99994
  cyclr schedule onecycle --max-lr 0.1 --total-steps 10000 --three-phase
  cyclr schedule onecycle --max-lr 0.1 --total-steps 1000 --csv lr.csv
  cyclr schedule triangular --base-lr 0.01 --max-lr 0.1 --step-size-up 50 --csv - > lr.csv
"""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def schedule_from_args(args: argparse.Namespace) -> Schedule:
    """Build the schedule ``cyclr schedule`` was asked for, or raise :class:`CliError`."""
    from ..rangetest.plan import smith_gamma
    from ..schedules import ExpRange, OneCycle, Triangular, Triangular2

    kind: str = args.kind
    given = {
        name
        for name in (*_ONECYCLE_ONLY, *_CYCLIC_ONLY, "gamma")
        if getattr(args, name) is not None
    }
    if args.three_phase:
        given.add("three_phase")
    if kind == "onecycle":
        misplaced = sorted(given & {*_CYCLIC_ONLY, "gamma"})
        if misplaced:
            raise CliError(
                f"{_flag(misplaced[0])} does not apply to onecycle (it starts at max_lr / "
                "div_factor; set --div-factor instead)"
            )
        if args.total_steps is None:
            raise CliError("onecycle needs --total-steps, the steps of the whole run")
        options: dict[str, Any] = {
            name: getattr(args, name)
            for name in ("pct_start", "div_factor", "final_div_factor", "anneal")
            if getattr(args, name) is not None
        }
        try:
            return OneCycle(args.max_lr, args.total_steps, three_phase=args.three_phase, **options)
        except (TypeError, ValueError) as exc:
            raise CliError(str(exc)) from None
    misplaced = sorted(given & {*_ONECYCLE_ONLY, "three_phase"})
    if misplaced:
        raise CliError(f"{_flag(misplaced[0])} applies only to onecycle (got KIND={kind})")
    if args.base_lr is None:
        raise CliError(f"{kind} needs --base-lr, the lower bound of the cycle")
    if kind != "exp_range" and args.gamma is not None:
        raise CliError(f"--gamma applies only to exp_range (got KIND={kind})")
    common: dict[str, Any] = {
        "base_lr": args.base_lr,
        "max_lr": args.max_lr,
        "step_size_up": args.step_size_up if args.step_size_up is not None else 2000,
        "step_size_down": args.step_size_down,
    }
    try:
        if kind == "exp_range":
            gamma = smith_gamma(common["step_size_up"]) if args.gamma is None else args.gamma
            return ExpRange(gamma=gamma, **common)
        cls = Triangular if kind == "triangular" else Triangular2
        return cls(**common)
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None


def describe_schedule(schedule: Schedule, steps: int, lrs: npt.NDArray[np.float64]) -> list[str]:
    """Lines summarising the previewed steps: range, end point, and where cycles end."""
    lines = [
        repr(schedule),
        f"steps 0..{steps - 1:,}: lr from {fmt(float(lrs.min()))} to {fmt(float(lrs.max()))}; "
        f"last step {steps - 1:,}: lr={fmt(float(lrs[-1]))}",
    ]
    cycle: int | None = getattr(schedule, "cycle_steps", None)
    if cycle is not None:
        whole, rest = divmod(steps, cycle)
        if rest == 0:
            lines.append(
                f"one cycle is {cycle:,} steps; {whole:,} whole cycles end back at base_lr"
            )
        else:
            lines.append(
                f"one cycle is {cycle:,} steps; {steps:,} steps end inside cycle {whole + 1:,}: "
                f"stop training at a multiple of {cycle:,} steps, when the LR is back at base_lr"
            )
    return lines


def _csv_text(schedule: Schedule, steps: int) -> str:
    """``step,lr`` rows with round-trip float reprs, computed in chunks."""
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["step", "lr"])
    chunk = 1 << 16
    for start in range(0, steps, chunk):
        grid = np.arange(start, min(steps, start + chunk), dtype=np.int64)
        for step, lr in zip(grid.tolist(), schedule(grid).tolist(), strict=True):
            writer.writerow([step, repr(lr)])
    return handle.getvalue()


def run(args: argparse.Namespace) -> int:
    """Run ``cyclr schedule``."""
    from ..plot import preview_steps

    schedule = schedule_from_args(args)
    if args.steps is not None:
        steps = int(args.steps)
    else:
        cycle = getattr(schedule, "cycle_steps", None)
        steps = _DEFAULT_CYCLES * cycle if cycle is not None else int(args.total_steps)
    out = None if args.out is None else check_figure_out(args.out)
    csv_path = (
        None if args.csv in (None, "-") else check_writable(given_path(args.csv, "--csv"), "--csv")
    )
    check_distinct(out=out, csv=csv_path)
    if args.csv is not None and steps > MAX_CSV_STEPS:
        raise CliError(
            f"--csv writes one row per step, at most {MAX_CSV_STEPS:,} (got {steps:,} steps); "
            "pass --steps N to write the first N"
        )
    if args.csv == "-":  # the CSV alone on standard output; a figure is still written
        sys.stdout.write(_csv_text(schedule, steps))
        if out is not None:
            _save_figure(schedule, steps, out)
            print(f"wrote {out}", file=sys.stderr)
        return 0
    shown = preview_steps(steps, _TERMINAL_POINTS, schedule)
    lrs = schedule(shown)
    print(
        terminal_plot(
            shown.astype(np.float64),
            [lrs],
            title=f"{args.kind} learning rate",
            xlabel="step",
            xticks=step_ticks(steps - 1),
        )
    )
    for line in describe_schedule(
        schedule, steps, schedule(preview_steps(steps, schedule=schedule))
    ):
        print(line)
    if csv_path is not None:
        from .._files import atomic_write_text

        try:
            atomic_write_text(csv_path, _csv_text(schedule, steps))
        except OSError as exc:
            raise write_failed(csv_path, exc) from None
        wrote(csv_path)
    if out is not None:
        _save_figure(schedule, steps, out)
        wrote(out)
    return 0


def _save_figure(schedule: Schedule, steps: int, out: Path) -> None:
    """Draw ``steps`` steps of ``schedule`` into the figure file ``out``."""
    from ..plot import plot_schedule, save_figure

    try:
        save_figure(lambda ax: plot_schedule(schedule, steps, ax=ax), out)
    except OSError as exc:
        raise write_failed(out, exc) from None


def add_parser(commands: Any) -> None:
    """Add ``cyclr schedule`` to the sub-command parsers."""
    schedule = add_command(
        commands,
        "schedule",
        "preview a learning-rate schedule in the terminal, as PNG or CSV",
        "Preview a learning-rate schedule.",
        EPILOG,
    )
    schedule.add_argument("kind", metavar="KIND", choices=KINDS, help=", ".join(KINDS))
    schedule.add_argument("--base-lr", type=float, help="lower bound (cyclic kinds)")
    schedule.add_argument("--max-lr", type=float, required=True, help="upper bound / peak LR")
    schedule.add_argument(
        "--step-size-up", type=int, help="steps from base_lr to max_lr (default: 2000)"
    )
    schedule.add_argument(
        "--step-size-down", type=int, help="steps back down (default: --step-size-up)"
    )
    schedule.add_argument(
        "--gamma",
        type=float,
        help="exp_range: amplitude decay per step (default: Smith's decay per half "
        "cycle, 0.99994 ** (2000 / step size up))",
    )
    schedule.add_argument("--total-steps", type=int, help="onecycle: steps of the whole run")
    schedule.add_argument("--pct-start", type=float, help="onecycle: fraction spent rising")
    schedule.add_argument(
        "--div-factor", type=float, help="onecycle: initial LR = max_lr / div_factor"
    )
    schedule.add_argument(
        "--final-div-factor", type=float, help="onecycle: final LR = initial LR / this"
    )
    schedule.add_argument("--anneal", choices=("cos", "linear"), help="onecycle: annealing")
    schedule.add_argument("--three-phase", action="store_true", help="onecycle: Smith's 3 phases")
    schedule.add_argument(
        "--steps", type=positive_int, metavar="N", help="steps to show (default: see below)"
    )
    schedule.add_argument(
        "--out", metavar="PNG", help="also save the curve as a figure (.png, .svg or .pdf)"
    )
    schedule.add_argument(
        "--csv", metavar="PATH", help="also write step,lr as CSV ('-': to stdout, instead)"
    )
    schedule.set_defaults(func=run)
