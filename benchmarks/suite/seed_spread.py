"""Seed spread over three seeds, as the suggestion's target counts it.

The suite's report gives each task's seed spread as max / min of the suggested LR over
every seed it ran (eight). The target (``<= 2x``) is stated over three seeds, and the
largest of eight draws is larger than the largest of three: this reads the same
suggestions over every three-seed subset of the eight (56 of them) and reports, per
task, the median and the largest three-seed spread and the share of subsets within 2x.

Usage (from the repository root, after the suite has cached the records)::

    python -m benchmarks.suite.seed_spread default=cyclr-auto@52423e4b79:cyclr-auto-window

Each argument is ``LABEL=FAMILY@VERSION:METHOD``, as for
:mod:`benchmarks.suite.expected_regret`.
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
from pathlib import Path

from .cli import DEFAULT_CACHE, ORACLE_FILE
from .expected_regret import SEEDS, _suggested, print_table
from .tasks import TASKS

SUBSET = 3
"""Seeds per subset: the target's count."""
TARGET = 2.0
"""The spread target (max / min)."""


def spreads(lrs: list[float], size: int = SUBSET) -> list[float]:
    """max / min of ``lrs`` over every subset of ``size`` of them.

    Example:
        >>> spreads([1.0, 2.0, 4.0, 8.0], 3)
        [4.0, 8.0, 8.0, 4.0]
    """
    return [max(c) / min(c) for c in itertools.combinations(lrs, size)]


def table(specs: dict[str, tuple[str, str, str]], cache: Path = DEFAULT_CACHE) -> str:
    """Markdown rows: per task and label, all-seed / median / largest three-seed spread."""
    oracle = json.loads(ORACLE_FILE.read_text())
    head = (
        "| task | "
        + " | ".join(
            f"{label}: {len(SEEDS)} seeds / 3 (median) / 3 (largest) / <= 2x" for label in specs
        )
        + " |\n|---|"
        + "---|" * len(specs)
    )
    rows, within = [], {label: 0 for label in specs}
    for name in TASKS:
        if name not in oracle:
            continue
        task_dir = cache / f"{name}-{oracle[name]['fingerprint']}"
        cells = []
        for label, (family, version, method) in specs.items():
            lrs = []
            for seed in SEEDS:
                path = (
                    task_dir / "finder" / f"{family}-{version}-seed={seed}-scale=1.0-shift=0.0.json"
                )
                lr = (
                    _suggested(json.loads(path.read_text()), family, method)
                    if path.exists()
                    else None
                )
                if lr is not None:
                    lrs.append(lr)
            if len(lrs) < SUBSET:
                cells.append("-")
                continue
            triples = spreads(lrs)
            median = statistics.median(triples)
            within[label] += median <= TARGET
            share = sum(s <= TARGET for s in triples) / len(triples)
            cells.append(
                f"{max(lrs) / min(lrs):.1f} / {median:.1f} / {max(triples):.1f} / {share:.0%}"
            )
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    tasks = len(rows)
    summary = (
        "| **tasks whose median three-seed spread is <= 2x** | "
        + " | ".join(f"{within[label]} of {tasks}" for label in specs)
        + " |"
    )
    return "\n".join([head, *rows, summary]) + "\n"


def main(argv: list[str]) -> int:
    """Print the table for ``LABEL=FAMILY@VERSION:METHOD`` arguments."""
    return print_table(argv, table)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
