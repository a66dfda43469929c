"""The ``cyclr`` parser and entry point: one sub-command per module of this package."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import MissingExtraError
from . import demo, plot, schedule, suggest
from .common import EXIT_USAGE, CliError, Parser

__all__ = ["build_parser", "main"]

_EPILOG = """\
examples:
  cyclr demo                      # range test + fixed LR vs triangular2 vs one-cycle on MNIST-1D
  cyclr demo --quick --out /tmp/d # the same, reduced, in a few seconds
  cyclr schedule triangular2 --base-lr 0.001 --max-lr 0.006 --step-size-up 2000
  cyclr suggest cyclr-demo/range_test.json
  cyclr plot cyclr-demo/range_test.json --out curve.png

Run 'cyclr COMMAND --help' for the options of a command.
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``cyclr`` argument parser and its four sub-commands."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog="cyclr",
        description="The LR range test and cyclical learning-rate schedules.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"cyclr {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for command in (demo, schedule, plot, suggest):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cyclr`` command line.

    Args:
        argv: The arguments, without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 on success, 2 for a user error (a missing extra included),
        130 when interrupted.

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
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
    except (CliError, MissingExtraError) as exc:
        print(f"cyclr: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cyclr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (``| head``) went away: silence the flush at exit, as a pipe expects.
        _drop_stdout()
        return 1
    except OSError as exc:
        if exc.filename is not None:  # a file of the command's: not ours to word
            raise
        _drop_stdout()  # what could not be written would fail again at exit
        print(f"cyclr: error: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return status


def _drop_stdout() -> None:
    """Point standard output at the null device, so the flush at exit cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
