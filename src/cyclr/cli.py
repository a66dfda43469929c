"""The ``cyclr`` command line (also ``python -m cyclr``).

Commands:

* ``cyclr demo``: the whole method on real data (range test, bounds, fixed LR versus
  triangular2 versus one-cycle), figures and JSON written to ``--out``.
* ``cyclr schedule KIND``: preview a schedule in the terminal, optionally as PNG / CSV.
* ``cyclr plot RESULT.json``: draw a saved range test, with every suggestion.
* ``cyclr suggest RESULT.json``: every suggestion, the CLR bounds and a snippet.

Only this module and :mod:`cyclr.demo`'s report print. Heavy libraries are imported
inside the commands that need them: ``cyclr schedule`` never loads torch, and
matplotlib is loaded only when a PNG is asked for.

User errors (a bad number, a missing or corrupt file, an unknown kind) print one line,
``cyclr: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import numpy.typing as npt

from . import __version__
from .errors import MissingExtraError, NoReliableSuggestionError, require

if TYPE_CHECKING:
    from .rangetest import RangeTestResult
    from .schedules import Schedule

__all__ = ["CliError", "build_parser", "main", "report", "save_figure", "snippet"]

EXIT_USAGE = 2
"""Exit status of a user error (argparse's convention)."""

_CYCLIC_KINDS = ("triangular", "triangular2", "exp_range")
_KINDS = (*_CYCLIC_KINDS, "onecycle")
_ONECYCLE_ONLY = ("total_steps", "pct_start", "div_factor", "final_div_factor", "anneal")
_CYCLIC_ONLY = ("base_lr", "step_size_up", "step_size_down")
_DEFAULT_CYCLES = 3
_PLOT_POINTS = 2000


class CliError(Exception):
    """A user error: printed as one ``cyclr: error: ...`` line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming the help to read."""

    def error(self, message: str) -> NoReturn:
        """Raise :class:`CliError` instead of printing the usage and exiting."""
        raise CliError(f"{message} (see '{self.prog} --help')")


def _fmt(value: float) -> str:
    """Format a learning rate with four significant digits."""
    return f"{value:.4g}"


# -- terminal plots ------------------------------------------------------------------------


def _terminal_size() -> tuple[int, int]:
    """Plot size in character cells: the terminal's width (40 to 100), 20 rows."""
    columns = shutil.get_terminal_size((100, 24)).columns
    return max(40, min(columns, 100)), 20


def _terminal_plot(
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


def _decade_ticks(log_lr: npt.NDArray[np.float64]) -> tuple[list[float], list[str]]:
    """Ticks at every power of ten spanned by ``log10(lr)``, labelled ``1e-3`` and so on."""
    low, high = math.floor(float(np.min(log_lr))), math.ceil(float(np.max(log_lr)))
    decades = list(range(low, high + 1))
    return [float(d) for d in decades], [f"1e{d}" for d in decades]


def _step_ticks(last: int) -> tuple[list[float], list[str]]:
    """At most eight round tick positions from 0 to ``last`` (1, 2 or 5 times a power of 10).

    Example:
        >>> _step_ticks(11999)[1]
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


def save_figure(draw: Callable[[Any], None], path: Path) -> None:
    """Draw on a fresh matplotlib figure (no pyplot, no GUI backend) and save it as PNG.

    Args:
        draw: Called with the figure's single ``Axes``.
        path: Where to write the PNG.

    Raises:
        OSError: If the file cannot be written.
        cyclr.MissingExtraError: If matplotlib is not installed.
    """
    figure_module = require("matplotlib.figure", "plot")
    figure = figure_module.Figure(figsize=(7.0, 4.2), layout="constrained")
    draw(figure.add_subplot())
    figure.savefig(path, dpi=120)


def _write_png(draw: Callable[[Any], None], path: Path) -> None:
    """:func:`save_figure`, a write failure becoming a one-line user error."""
    try:
        save_figure(draw, path)
    except OSError as exc:
        raise CliError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    print(f"wrote {path}")


def _check_writable(path: Path) -> Path:
    """Refuse an output path whose folder does not exist, before any work is done."""
    if not path.parent.is_dir():
        raise CliError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    return path


# -- cyclr schedule ------------------------------------------------------------------------


def _schedule_from_args(args: argparse.Namespace) -> Schedule:
    """Build the schedule ``cyclr schedule`` was asked for, or raise :class:`CliError`."""
    from .schedules import ExpRange, OneCycle, Triangular, Triangular2

    kind: str = args.kind
    given = {name for name in (*_ONECYCLE_ONLY, *_CYCLIC_ONLY, "gamma") if getattr(args, name)}
    if args.three_phase:
        given.add("three_phase")
    if kind == "onecycle":
        misplaced = sorted(given & {*_CYCLIC_ONLY, "gamma"})
        if misplaced:
            flag = "--" + misplaced[0].replace("_", "-")
            raise CliError(
                f"{flag} does not apply to onecycle (it starts at max_lr / div_factor; "
                "set --div-factor instead)"
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
        flag = "--" + misplaced[0].replace("_", "-")
        raise CliError(f"{flag} applies only to onecycle (got KIND={kind})")
    if args.base_lr is None:
        raise CliError(f"{kind} needs --base-lr, the lower bound of the cycle")
    if kind != "exp_range" and args.gamma is not None:
        raise CliError(f"--gamma applies only to exp_range (got KIND={kind})")
    if kind == "exp_range" and args.gamma is None:
        raise CliError(
            "exp_range needs --gamma, the per-step amplitude decay (Smith used 0.99994 "
            "with --step-size-up 2000)"
        )
    common: dict[str, Any] = {
        "base_lr": args.base_lr,
        "max_lr": args.max_lr,
        "step_size_up": args.step_size_up if args.step_size_up is not None else 2000,
        "step_size_down": args.step_size_down,
    }
    try:
        if kind == "exp_range":
            return ExpRange(gamma=args.gamma, **common)
        cls = Triangular if kind == "triangular" else Triangular2
        return cls(**common)
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None


def _describe_schedule(schedule: Schedule, lrs: npt.NDArray[np.float64]) -> list[str]:
    """Lines summarising the previewed steps: range, end point, and where cycles end."""
    steps = len(lrs)
    lines = [
        repr(schedule),
        f"steps 0..{steps - 1}: lr from {_fmt(float(lrs.min()))} to {_fmt(float(lrs.max()))}; "
        f"last step {steps - 1}: lr={_fmt(float(lrs[-1]))}",
    ]
    cycle: int | None = getattr(schedule, "cycle_steps", None)
    if cycle is not None:
        whole, rest = divmod(steps, cycle)
        if rest == 0:
            lines.append(f"one cycle is {cycle} steps; {whole} whole cycles end back at base_lr")
        else:
            lines.append(
                f"one cycle is {cycle} steps; {steps} steps end inside cycle {whole + 1}: "
                f"stop training at a multiple of {cycle} steps, when the LR is back at base_lr"
            )
    return lines


def _write_csv(lrs: npt.NDArray[np.float64], handle: io.TextIOBase | Any) -> None:
    """Write ``step,lr`` rows with round-trip float reprs."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["step", "lr"])
    for step, lr in enumerate(lrs.tolist()):
        writer.writerow([step, repr(lr)])


def _cmd_schedule(args: argparse.Namespace) -> int:
    schedule = _schedule_from_args(args)
    if args.steps is not None:
        if args.steps < 1:
            raise CliError(f"--steps must be a positive integer (got --steps {args.steps})")
        steps = int(args.steps)
    else:
        cycle = getattr(schedule, "cycle_steps", None)
        steps = _DEFAULT_CYCLES * cycle if cycle is not None else int(args.total_steps)
    out = _check_writable(Path(args.out)) if args.out else None
    csv_path = None if args.csv in (None, "-") else _check_writable(Path(args.csv))
    lrs = schedule(np.arange(steps))
    if args.csv == "-":
        _write_csv(lrs, sys.stdout)
        return 0
    shown = np.unique(np.linspace(0, steps - 1, min(steps, _PLOT_POINTS)).round().astype(np.int64))
    print(
        _terminal_plot(
            shown.astype(np.float64),
            [lrs[shown]],
            title=f"{args.kind} learning rate",
            xlabel="step",
            xticks=_step_ticks(steps - 1),
        )
    )
    for line in _describe_schedule(schedule, lrs):
        print(line)
    if csv_path is not None:
        try:
            with csv_path.open("w", newline="", encoding="utf-8") as handle:
                _write_csv(lrs, handle)
        except OSError as exc:
            raise CliError(f"cannot write {str(csv_path)!r}: {exc.strerror or exc}") from None
        print(f"wrote {csv_path}")
    if out is not None:
        from .plot import plot_schedule

        _write_png(lambda ax: plot_schedule(schedule, steps, ax=ax), out)
    return 0


# -- cyclr plot / cyclr suggest ------------------------------------------------------------


def _load_result(path: str) -> RangeTestResult:
    """Read a saved range test, turning every failure into a one-line :class:`CliError`."""
    from .rangetest import RangeTestResult

    source = Path(path)
    if not source.is_file():
        reason = "is a folder" if source.is_dir() else "no such file"
        raise CliError(f"cannot read range-test result {path!r}: {reason}")
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read range-test result {path!r}: {exc}") from None
    if not text.strip():
        raise CliError(f"range-test result {path!r} is empty")
    try:
        return RangeTestResult.from_json(text)
    except (TypeError, ValueError) as exc:
        raise CliError(f"{path!r} is not a valid cyclr range-test result: {exc}") from None


def snippet(base_lr: float, max_lr: float, steps_per_epoch: int | None = None) -> str:
    """Python that builds the triangular2 and one-cycle schedules for these bounds.

    Args:
        base_lr: Lower CLR bound.
        max_lr: Upper CLR bound.
        steps_per_epoch: Optimizer steps per epoch, or ``None`` for a placeholder.

    Returns:
        The code, ready to paste.

    Example:
        >>> namespace: dict[str, object] = {}
        >>> exec(snippet(0.001, 0.01, steps_per_epoch=50), namespace)
        >>> namespace["schedule"].step_size_up
        200
    """
    spe = "100  # set to len(train_loader)" if steps_per_epoch is None else str(steps_per_epoch)
    return (
        "from cyclr import OneCycle, Triangular2\n"
        "\n"
        f"steps_per_epoch = {spe}\n"
        "epochs = 24  # a whole number of cycles: 8 epochs per cycle below\n"
        f"schedule = Triangular2(base_lr={_fmt(base_lr)}, max_lr={_fmt(max_lr)}, "
        "step_size_up=4 * steps_per_epoch)\n"
        "# or one cycle over the whole run, starting at base_lr:\n"
        f"one_cycle = OneCycle(max_lr={_fmt(max_lr)}, total_steps=epochs * steps_per_epoch, "
        f"div_factor={_fmt(max_lr / base_lr)})\n"
        "# PyTorch: scheduler = cyclr.torch.Scheduler(optimizer, schedule), and\n"
        "# scheduler.step() after every optimizer.step()\n"
    )


def _evidence_value(value: Any) -> str:
    """Render one evidence value: floats to four digits, pairs as ``a..b``."""
    if isinstance(value, float):
        return _fmt(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return f"{_evidence_value(value[0])}..{_evidence_value(value[1])}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_evidence_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _evidence_text(evidence: Any) -> str:
    """A compact ``key=value`` rendering of a suggestion's evidence (step indices left out)."""
    return ", ".join(
        f"{key}={_evidence_value(value)}"
        for key, value in dict(evidence).items()
        if not key.endswith(("index", "indices", "points")) and value not in ({}, [], ())
    )


def report(result: RangeTestResult, steps_per_epoch: int | None = None) -> list[str]:
    """The lines ``cyclr suggest`` prints: the test, each suggestion, bounds, a snippet.

    Args:
        result: A range-test result.
        steps_per_epoch: Filled into the snippet when given.

    Returns:
        The lines, without trailing newlines.
    """
    from .rangetest.suggest import DEFAULT_METHOD, METHODS

    lrs = result.lrs[:, 0]
    lines = [
        f"range test: {result.num_recorded} steps, lr {_fmt(float(lrs[0]))} to "
        f"{_fmt(float(lrs[-1]))}, stopped: {result.stop_reason or 'still running'}"
    ]
    found = result.suggestions()
    lines.append("suggestions (lr, then the interval about as good by the same rule):")
    width = max(len(m) for m in METHODS)
    for method in METHODS:
        marker = " (default)" if method == DEFAULT_METHOD else ""
        if method in found:
            s = found[method]
            low, high = s.interval
            lines.append(
                f"  {method:<{width}}  {_fmt(s.lr):>10}  [{_fmt(low)}, {_fmt(high)}]{marker}"
            )
            lines.append(f"  {'':<{width}}  evidence: {_evidence_text(s.evidence)}")
        else:
            try:
                result.suggest(method)
                reason = "no answer"
            except NoReliableSuggestionError as exc:
                reason = str(exc)
            lines.append(f"  {method:<{width}}  none: {reason}")
    try:
        base_lr, max_lr = result.clr_bounds()
    except NoReliableSuggestionError as exc:
        lines.append(f"CLR bounds: none: {exc}")
        return lines
    lines.append(f"CLR bounds: base_lr={_fmt(base_lr)}, max_lr={_fmt(max_lr)}")
    lines.append("")
    lines.append("paste into your training script:")
    lines.extend(
        "    " + line if line else ""
        for line in snippet(base_lr, max_lr, steps_per_epoch).splitlines()
    )
    return lines


def _result_marks(result: RangeTestResult) -> list[float]:
    """LRs to mark on the curve: the default suggestion and the CLR bounds, when found."""
    marks: list[float] = []
    with contextlib.suppress(NoReliableSuggestionError):
        marks.append(result.suggest().lr)
    with contextlib.suppress(NoReliableSuggestionError):
        marks.extend(result.clr_bounds())
    return marks


def _cmd_suggest(args: argparse.Namespace) -> int:
    result = _load_result(args.result)
    for line in report(result, args.steps_per_epoch):
        print(line)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    result = _load_result(args.result)
    out = _check_writable(Path(args.out)) if args.out else None
    log_lr = np.log10(result.lrs[:, 0])
    marks = _result_marks(result)
    print(
        _terminal_plot(
            log_lr,
            [result.losses, result.smoothed],
            title="LR range test: loss and smoothed loss",
            xlabel="learning rate (log scale); vertical lines: suggestion, base_lr, max_lr",
            vlines=[math.log10(m) for m in marks],
            xticks=_decade_ticks(log_lr),
        )
    )
    for line in report(result, args.steps_per_epoch):
        print(line)
    if out is not None:
        from .plot import plot_result

        _write_png(lambda ax: plot_result(result, ax=ax), out)
    return 0


# -- cyclr demo ----------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.threads < 1:
        raise CliError(f"--threads must be a positive integer (got --threads {args.threads})")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out must be a folder (got {str(out)!r}, which is a file)")
    from .demo import DemoConfig, format_report, run_demo, write_outputs

    try:
        config = DemoConfig.preset(
            args.task, quick=args.quick, seed=args.seed, threads=args.threads
        )
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None
    progress = False if args.no_progress else None
    try:
        result = run_demo(config, log=print, progress=progress)
    except NoReliableSuggestionError as exc:
        raise CliError(f"the range test gave no reliable reading: {exc}") from None
    try:
        written = write_outputs(result, out)
    except OSError as exc:
        raise CliError(f"cannot write into {str(out)!r}: {exc.strerror or exc}") from None
    print()
    print(format_report(result))
    print()
    print(f"wrote {len(written)} files into {out}/: " + ", ".join(p.name for p in written))
    print(f"next: cyclr suggest {out / 'range_test.json'}")
    return 0


# -- the parser ----------------------------------------------------------------------------

_MAIN_EPILOG = """\
examples:
  cyclr demo                      # range test + fixed LR vs triangular2 vs one-cycle on MNIST-1D
  cyclr demo --quick --out /tmp/d # the same, reduced, in a few seconds
  cyclr schedule triangular2 --base-lr 0.001 --max-lr 0.006 --step-size-up 2000
  cyclr suggest cyclr-demo/range_test.json
  cyclr plot cyclr-demo/range_test.json --out curve.png

Run 'cyclr COMMAND --help' for the options of a command.
"""

_DEMO_EPILOG = """\
The demo runs the LR range test on a tiny 1-D CNN, reads the suggestion and the CLR
bounds from the curve, then trains three times with the same seed, batches and step
budget: a fixed LR at the suggestion, triangular2 between the bounds (ending at the end
of a cycle) and one-cycle up to max_lr. It prints the final accuracies, the first step
at which each run reaches the fixed-LR run's final accuracy, and the speed-up.

Files written into --out: range_test.png, schedules.png, accuracy.png,
range_test.json (read it with 'cyclr suggest' / 'cyclr plot'), summary.json.

examples:
  cyclr demo
  cyclr demo --task digits --out digits-demo
  cyclr demo --quick --no-progress --out /tmp/cyclr-quick
"""

_SCHEDULE_EPILOG = """\
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

_PLOT_EPILOG = """\
Draws the saved curve (raw and smoothed loss against log LR) in the terminal, marks
the default suggestion and the CLR bounds, then prints what 'cyclr suggest' prints.
Save a result with RangeTestResult.to_json(path); 'cyclr demo' writes one.

examples:
  cyclr plot cyclr-demo/range_test.json
  cyclr plot lr.json --out curve.png
"""

_SUGGEST_EPILOG = """\
Prints every method's suggestion (bottom, steepest, valley, minimum, consensus) with its
interval and evidence, the CLR bounds (base_lr, max_lr), and Python that builds the
triangular2 and one-cycle schedules from them.

examples:
  cyclr suggest cyclr-demo/range_test.json
  cyclr suggest lr.json --steps-per-epoch 391
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``cyclr`` argument parser and its four sub-commands."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="cyclr",
        description="The LR range test and cyclical learning-rate schedules.",
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"cyclr {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="range test, then fixed LR vs triangular2 vs one-cycle on real data",
        description="Show the whole method on real, embedded data in under two minutes.",
        epilog=_DEMO_EPILOG,
        formatter_class=formatter,
    )
    demo.add_argument(
        "--task",
        choices=("mnist1d", "digits"),
        default="mnist1d",
        help="mnist1d: MNIST-1D generated locally (default); digits: scikit-learn's 8x8 digits",
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        default="cyclr-demo",
        help="folder for figures and JSON (default: ./cyclr-demo)",
    )
    demo.add_argument("--quick", action="store_true", help="a reduced run of a few seconds")
    demo.add_argument(
        "--seed", type=int, metavar="N", default=0, help="seed of every run (default: 0)"
    )
    demo.add_argument(
        "--threads",
        type=int,
        metavar="N",
        default=1,
        help="torch CPU threads (default: 1; the model is too small to gain from more)",
    )
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    demo.set_defaults(func=_cmd_demo)

    schedule = commands.add_parser(
        "schedule",
        help="preview a learning-rate schedule in the terminal, as PNG or CSV",
        description="Preview a learning-rate schedule.",
        epilog=_SCHEDULE_EPILOG,
        formatter_class=formatter,
    )
    schedule.add_argument("kind", metavar="KIND", choices=_KINDS, help=", ".join(_KINDS))
    schedule.add_argument("--base-lr", type=float, help="lower bound (cyclic kinds)")
    schedule.add_argument("--max-lr", type=float, required=True, help="upper bound / peak LR")
    schedule.add_argument(
        "--step-size-up", type=int, help="steps from base_lr to max_lr (default: 2000)"
    )
    schedule.add_argument(
        "--step-size-down", type=int, help="steps back down (default: --step-size-up)"
    )
    schedule.add_argument("--gamma", type=float, help="exp_range: amplitude decay per step")
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
        "--steps", type=int, metavar="N", help="steps to show (default: see below)"
    )
    schedule.add_argument("--out", metavar="PNG", help="also save the curve as a PNG")
    schedule.add_argument(
        "--csv", metavar="PATH", help="also write step,lr as CSV ('-': to stdout, instead)"
    )
    schedule.set_defaults(func=_cmd_schedule)

    for name, epilog, func, summary in (
        ("plot", _PLOT_EPILOG, _cmd_plot, "draw a saved range test and its suggestions"),
        ("suggest", _SUGGEST_EPILOG, _cmd_suggest, "suggestions, CLR bounds and a snippet"),
    ):
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary.capitalize() + ".",
            epilog=epilog,
            formatter_class=formatter,
        )
        sub.add_argument("result", metavar="RESULT.json", help="a saved RangeTestResult")
        sub.add_argument(
            "--steps-per-epoch", type=int, help="fill this into the snippet (len(train_loader))"
        )
        if name == "plot":
            sub.add_argument("--out", metavar="PNG", help="also save the figure as a PNG")
        sub.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cyclr`` command line.

    Args:
        argv: The arguments, without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 on success, 2 for a user error, 1 for a missing extra.

    Example:
        >>> main(["schedule", "triangular", "--max-lr", "0.1", "--base-lr", "x"])
        2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise CliError(
                "a command is required: demo, schedule, plot or suggest (see 'cyclr --help')"
            )
        status: int = args.func(args)
    except CliError as exc:
        print(f"cyclr: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MissingExtraError as exc:
        print(f"cyclr: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cyclr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (``| head``) went away: silence the flush at exit, as a pipe expects.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status
