"""Command line of the suite: ``python -m benchmarks [--quick] [options]``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import data as datasets
from .clr import ALL_CLR_KINDS, CLR_KINDS, CLR_RULES, CLR_SOURCES, DEFAULT_CLR_RULES
from .report import render
from .rules import PROTOTYPES
from .run import ALL_FAMILIES, Config, run_suite
from .store import Store
from .tasks import ALL_TASKS, QUICK_TASK, TASKS, Task
from .train import set_threads

BENCH_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUT = BENCH_DIR / "results" / "suite.md"
DEFAULT_CACHE = BENCH_DIR / ".cache" / "suite"
ORACLE_FILE = BENCH_DIR / "oracle_cache.json"
PHASES = ("oracle", "finders", "suggest", "invariance", "clr", "timing")


def _csv(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="LR finder suggestions against a fixed-LR oracle, and the CLR claim.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"one task ({QUICK_TASK}), one seed, tiny budgets; cyclr only unless "
        "--families names peers; writes under --cache-dir, not results/",
    )
    p.add_argument("--tasks", type=_csv, default=None, help=f"comma list of {list(ALL_TASKS)}")
    p.add_argument(
        "--families", type=_csv, default=None, help=f"comma list of {list(ALL_FAMILIES)}"
    )
    p.add_argument("--phases", type=_csv, default=list(PHASES), help=f"comma list of {PHASES}")
    p.add_argument("--seeds", type=int, default=5, help="seeds per finder (default 5)")
    p.add_argument("--oracle-seeds", type=int, default=3, help="seeds per grid LR (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument(
        "--clr-rules",
        type=_csv,
        default=list(DEFAULT_CLR_RULES),
        help=f"bounds rules of the CLR phase, from {list(CLR_RULES)} (default "
        f"{list(DEFAULT_CLR_RULES)}); a rule runs when its finder family is in --families "
        f"({', '.join(f'{r}: {s.family}' for r, s in CLR_SOURCES.items())})",
    )
    p.add_argument(
        "--clr-kinds",
        type=_csv,
        default=list(CLR_KINDS),
        help=f"schedules of the CLR phase, from {list(ALL_CLR_KINDS)} (default {list(CLR_KINDS)})",
    )
    p.add_argument(
        "--prototypes",
        action="store_true",
        help="also score the prototype suggestion rules of benchmarks/suite/rules.py",
    )
    p.add_argument(
        "--choice-prototypes",
        action="store_true",
        help="also read the confirmed families' stored scores with benchmarks/suite/choice.py",
    )
    p.add_argument("--out", type=Path, default=None, help=f"report path (default {DEFAULT_OUT})")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument(
        "--no-oracle-file", action="store_true", help=f"neither read nor write {ORACLE_FILE.name}"
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="only read what is cached and write the report (computes nothing new "
        "except cyclr's re-read suggestions)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write the report; returns the exit status."""
    args = parse_args(argv)
    set_threads(args.threads)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    notes: list[str] = []
    if args.quick:
        tasks = args.tasks or [QUICK_TASK]
        cfg = Config(
            tasks=tasks,
            families=args.families or ["cyclr"],
            oracle_seeds=(0,),
            seeds=(0,),
            clr_seeds=(0,),
            clr_rules=tuple(args.clr_rules),
            clr_kinds=tuple(args.clr_kinds),
            phases=tuple(args.phases),
            quick=True,
            steps=60,
            grid_points=3,
            invariance_task=tasks[0],
        )
        out = args.out or args.cache_dir / "suite-quick.md"
        oracle_file = None
    else:
        tasks = args.tasks or list(TASKS)
        cfg = Config(
            tasks=tasks,
            families=args.families or list(ALL_FAMILIES),
            oracle_seeds=tuple(range(args.oracle_seeds)),
            seeds=tuple(range(args.seeds)),
            clr_seeds=tuple(range(args.oracle_seeds)),
            clr_rules=tuple(args.clr_rules),
            clr_kinds=tuple(args.clr_kinds),
            phases=tuple(args.phases),
        )
        out = args.out or DEFAULT_OUT
        oracle_file = None if args.no_oracle_file else ORACLE_FILE
    if args.prototypes:
        cfg.prototypes = dict(PROTOTYPES)
    cfg.choice_prototypes = args.choice_prototypes
    bad_rules = [r for r in cfg.clr_rules if r not in CLR_RULES]
    if bad_rules:
        print(f"unknown --clr-rules {bad_rules}; choose from {list(CLR_RULES)}", file=sys.stderr)
        return 2
    bad_kinds = [k for k in cfg.clr_kinds if k not in ALL_CLR_KINDS]
    if bad_kinds:
        print(
            f"unknown --clr-kinds {bad_kinds}; choose from {list(ALL_CLR_KINDS)}", file=sys.stderr
        )
        return 2
    unknown = [t for t in cfg.tasks if t not in ALL_TASKS]
    if unknown:
        print(f"unknown task(s) {unknown}; choose from {list(ALL_TASKS)}", file=sys.stderr)
        return 2
    cfg.tasks = [task.name for task in with_data([ALL_TASKS[name] for name in cfg.tasks], notes)]
    cfg.read_only = args.report_only
    store = Store(args.cache_dir, oracle_file)
    t0 = time.perf_counter()
    results = run_suite(cfg, store)
    text = render(results, command, args.threads, time.perf_counter() - t0, notes)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def with_data(tasks: list[Task], notes: list[str]) -> list[Task]:
    """The tasks whose data loads; for each other, a line in ``notes`` and on stderr."""
    available = []
    for task in tasks:
        try:
            task.split()
            available.append(task)
        except datasets.DataUnavailableError as exc:
            notes.append(f"**{task.name} skipped**: {exc}")
            print(f"skipping {task.name}: {exc}", file=sys.stderr)
    return available


def cached_records_cli(
    module: str,
    title: str,
    what: str,
    table: Callable[[str], str],
    argv: list[str] | None = None,
    version_help: str = "the cyclr-auto family's cache tag",
) -> int:
    """``python -m benchmarks.suite.<module> VERSION [--out FILE]``: print or write a report.

    The report is ``title``, the command that makes it (with ``what`` it reads, in
    brackets) and ``table(version)``; ``version_help`` says what ``VERSION`` is.
    """
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.suite.{module}")
    parser.add_argument("version", help=version_help)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    where = "" if args.out is None else f" --out {args.out}"
    text = (
        f"# {title}\n\nCommand: `python -m benchmarks.suite.{module} {args.version}{where}` "
        f"({what})\n\n" + table(args.version)
    )
    _emit(text, args.out)
    return 0


def _emit(text: str, out: Path | None) -> None:
    """Print the report, or write it to ``out``."""
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)


def oracle_tasks_cli(
    module: str,
    title: str,
    tasks: dict[str, Task],
    report: Callable[[Store, dict[str, Any], list[Task], bool], str],
    argv: list[str] | None = None,
) -> int:
    """``python -m benchmarks.suite.<module> [--tasks A,B] [--read-only] [--out FILE]``.

    For reports that train around the oracle grids of ``--oracle-file`` (default the
    committed :data:`ORACLE_FILE`): the named tasks (default: all of ``tasks``) whose grid
    the file holds for their current fingerprint (the others are skipped, and stderr says
    so), torch at ``--threads``; ``report(store, grids, tasks, read_only)`` makes the
    table from the file's contents (``grids``), training what the cache lacks unless
    ``--read-only``. The report is ``title``, the command as given, and the table.

    Returns:
        The exit code: 0, or 2 when no task has a grid (after saying so).
    """
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.suite.{module}")
    parser.add_argument("--tasks", type=_csv, default=list(tasks), help=f"from {list(tasks)}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--read-only", action="store_true", help="train nothing")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--oracle-file", type=Path, default=ORACLE_FILE)
    parser.add_argument("--out", type=Path, default=None)
    given = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(given)
    unknown = [name for name in args.tasks if name not in tasks]
    if unknown:
        parser.error(f"--tasks: unknown task(s) {unknown} (choose from {list(tasks)})")
    grids = json.loads(args.oracle_file.read_text())
    chosen = []
    for name in args.tasks:
        if grids.get(name, {}).get("fingerprint") != tasks[name].fingerprint():
            print(f"skipped {name}: no grid for it in {args.oracle_file}", file=sys.stderr)
            continue
        chosen.append(tasks[name])
    notes: list[str] = []
    if not args.read_only:  # training needs the data; reading the cache does not
        chosen = with_data(chosen, notes)
    if not chosen:
        print("nothing to report: every task was skipped", file=sys.stderr)
        return 2
    set_threads(args.threads)
    table = report(Store(args.cache_dir, args.oracle_file), grids, chosen, args.read_only)
    command = shlex.join(["python", "-m", f"benchmarks.suite.{module}", *given])
    how = "read from the cache" if args.read_only else "trains what the cache lacks"
    threads = f"torch {args.threads} thread{'s' if args.threads > 1 else ''}"
    skipped = "".join(f"{note}\n\n" for note in notes)
    _emit(f"# {title}\n\nCommand: `{command}` ({threads}; {how})\n\n{skipped}" + table, args.out)
    return 0
