"""``cyclr demo``: the whole method on real, embedded data, figures and JSON into a folder."""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import Any

from .common import CliError, add_command, positive_int, seed_int

__all__ = ["DEMO_MODULES", "add_parser", "check_out_folder"]

DEMO_MODULES = {"torch": "PyTorch", "tqdm": "tqdm", "matplotlib": "matplotlib"}
"""What ``cyclr demo`` imports, beyond the task's own data package."""

_TASK_MODULES = {"mnist1d": ("mnist1d", "mnist1d"), "digits": ("sklearn", "scikit-learn")}

EPILOG = """\
The demo runs the LR range test on a tiny 1-D CNN, reads the suggestion and the CLR
bounds from the curve, then trains three times with the same seed, batches and step
budget: a fixed LR at the suggestion, triangular2 between the bounds (ending at the end
of a cycle) and one-cycle up to max_lr. It prints the final accuracies, the first step
at which each run reaches the fixed-LR run's final accuracy, and the speed-up.

Files written into --out: range_test.png, schedules.png, accuracy.png,
range_test.json (read it with 'cyclr suggest' / 'cyclr plot'), summary.json.
It needs the demo extra: pip install 'cyclr[demo]'.

examples:
  cyclr demo
  cyclr demo --task digits --out digits-demo
  cyclr demo --quick --no-progress --out /tmp/cyclr-quick
"""


def check_out_folder(out: Path) -> Path:
    """Refuse an output folder that cannot be created or written, before any training."""
    if out.exists() and not out.is_dir():
        raise CliError(f"--out must be a folder (got {str(out)!r}, which is a file)")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CliError(
            f"--out cannot be created: {str(existing)!r} is a file, not a folder "
            f"(got --out {str(out)!r})"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CliError(f"--out is not writable: {str(existing)!r} (got --out {str(out)!r})")
    return out


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _check_installed(task: str) -> None:
    """Refuse at once, naming the extra, when a package the demo needs is missing."""
    needed = {**DEMO_MODULES, _TASK_MODULES[task][0]: _TASK_MODULES[task][1]}
    missing = [name for module, name in needed.items() if not _importable(module)]
    if missing:
        raise CliError(
            f"cyclr demo needs {', '.join(missing)}, "
            f"{'which is' if len(missing) == 1 else 'which are'} not installed: "
            "pip install 'cyclr[demo]'"
        )


def run(args: argparse.Namespace) -> int:
    """Run ``cyclr demo``."""
    out = check_out_folder(Path(args.out))
    _check_installed(args.task)
    from ..demo import DemoConfig, format_report, run_demo, write_outputs
    from ..errors import NoReliableSuggestionError

    try:
        config = DemoConfig.preset(
            args.task,
            quick=args.quick,
            seed=args.seed,
            threads=args.threads,
            confirm=args.confirm,
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


def add_parser(commands: Any) -> None:
    """Add ``cyclr demo`` to the sub-command parsers."""
    demo = add_command(
        commands,
        "demo",
        "range test, then fixed LR vs triangular2 vs one-cycle on real data",
        "Show the whole method on real, embedded data in under two minutes.",
        EPILOG,
    )
    demo.add_argument(
        "--task",
        choices=tuple(_TASK_MODULES),
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
        "--seed", type=seed_int, metavar="N", default=0, help="seed of every run (default: 0)"
    )
    demo.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        default=1,
        help="torch CPU threads (default: 1; the model is too small to gain from more)",
    )
    demo.add_argument(
        "--confirm",
        action="store_true",
        help="run the range test at its default: the curve's suggestion confirmed on batches "
        "held aside (held_out='auto'); without it the curve alone, as in the paper",
    )
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    demo.set_defaults(func=run)
