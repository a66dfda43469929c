"""Expected regret: each suggested LR scored by every cached run near it, not one run.

One training run at a suggested LR is a noisy measurement of that LR. On some tasks the
noise is as large as the effects compared: on the suite's ResNet (batch norm, AdamW, 300
steps) the same seed trained at 0.00515 and at 0.00506 ends at 77.9% and 70.6%. A
method's median regret over eight seeds then moves by several points when its LRs move
by a few percent. This reads the same suggestions against a smoother estimate: the
expected final metric at LR ``lr`` is the mean of every cached training run of the task
(any seed, any method that asked for it, and the oracle's grid) whose LR lies within
``w`` decades of it, with ``w`` the smallest of 0.05, 0.1, 0.15 and 0.25 that holds at
least six runs. Regret is then in the suite's target units, as in its report. It
scores where each method puts its LR, with the training noise averaged out; it does not
replace the measured regret.

Usage (from the repository root, after the suite has cached the records)::

    python -m benchmarks.suite.expected_regret \
        now=cyclr-confirm@3bb9e52c00:cyclr-confirmed before=cyclr-confirm@08517758f8:cyclr-confirmed

Each argument is ``LABEL=FAMILY@VERSION:METHOD``; ``VERSION`` is the family's cache tag
(the part of a record's file name after the family); for the curve-alone family
``cyclr`` the suggestion is read again from the stored curve, as the suite does.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .cli import DEFAULT_CACHE, ORACLE_FILE
from .tasks import TASKS, TOLERANCE

WIDTHS = (0.05, 0.1, 0.15, 0.25)
"""Half-widths (decades) tried in turn for the runs an LR is scored by."""
MIN_RUNS = 6
"""Runs the window must hold."""
SEEDS = range(8)


def _runs(task_dir: Path) -> list[tuple[float, float]]:
    """``(log10 lr, final metric)`` of every cached training run of one task."""
    out = []
    for path in (task_dir / "train").glob("*.json"):
        final = json.loads(path.read_text()).get("final")
        lr = float(path.name.split("lr=")[1].split("-seed")[0])
        if final is not None and math.isfinite(final):
            out.append((math.log10(lr), float(final)))
    return out


def expected_metric(runs: list[tuple[float, float]], lr: float) -> float:
    """Mean final metric of the runs within the narrowest window holding enough of them."""
    x = math.log10(lr)
    near: list[float] = []
    for width in WIDTHS:
        near = [v for xx, v in runs if abs(xx - x) <= width]
        if len(near) >= MIN_RUNS:
            break
    return statistics.mean(near) if near else math.nan


def _suggested(record: dict[str, Any], family: str, method: str) -> float | None:
    """The record's LR for ``method``; the curve-alone family's re-read from its curve, as
    the suite does (its stored suggestions may be an older rule's)."""
    if family != "cyclr":
        return record["suggestions"].get(method)
    from cyclr.rangetest import suggest

    name = method.removeprefix("cyclr-")
    lrs = np.asarray(record["lrs"], dtype=np.float64)
    losses = np.asarray([math.nan if v is None else v for v in record["losses"]], dtype=np.float64)
    try:
        return float(suggest.suggest(lrs, losses, None if name == "default" else name).lr)
    except Exception:
        return None


def regret_units(task_name: str, oracle_metric: float, value: float) -> float:
    """Regret in target units: accuracy points, 3% of a loss, 5% of an MSE."""
    metric = TASKS[task_name].metric
    if metric == "accuracy":
        return (oracle_metric - value) / TOLERANCE[metric]
    return (value - oracle_metric) / oracle_metric * 100.0 / TOLERANCE[metric]


def table(specs: dict[str, tuple[str, str, str]], cache: Path = DEFAULT_CACHE) -> str:
    """The markdown table: per suite task, each label's median expected regret over seeds."""
    oracle = json.loads(ORACLE_FILE.read_text())
    rows = []
    per_label: dict[str, list[float]] = {label: [] for label in specs}
    for name in TASKS:
        if name not in oracle:
            continue
        task_dir = cache / f"{name}-{oracle[name]['fingerprint']}"
        runs = _runs(task_dir)
        cells = []
        for label, (family, version, method) in specs.items():
            regrets = []
            for seed in SEEDS:
                path = (
                    task_dir / "finder" / f"{family}-{version}-seed={seed}-scale=1.0-shift=0.0.json"
                )
                if not path.exists():
                    continue
                lr = _suggested(json.loads(path.read_text()), family, method)
                value = math.nan if lr is None else expected_metric(runs, lr)
                regrets.append(regret_units(name, oracle[name]["summary"]["metric"], value))
            median = statistics.median(regrets) if regrets else math.nan
            per_label[label].append(median)
            cells.append(f"{median:.2f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    head = "| task | " + " | ".join(specs) + " |\n|---|" + "---|" * len(specs)
    summary = []
    for what, fn in (
        ("median", statistics.median),
        ("worst task", max),
        ("tasks over 1", lambda v: sum(x > 1.0 for x in v)),
    ):
        cells = [
            f"{fn(v):.2f}" if what != "tasks over 1" else str(fn(v)) for v in per_label.values()
        ]
        summary.append(f"| **{what}** | " + " | ".join(cells) + " |")
    return "\n".join([head, *rows, *summary]) + "\n"


def parse_specs(argv: list[str]) -> dict[str, tuple[str, str, str]] | None:
    """``{label: (family, version, method)}`` from ``LABEL=FAMILY@VERSION:METHOD`` arguments.

    ``None`` (after saying why on stderr) when one is malformed.
    """
    specs: dict[str, tuple[str, str, str]] = {}
    for arg in argv:
        label, _, rest = arg.partition("=")
        family, _, rest = rest.partition("@")
        version, _, method = rest.partition(":")
        if not (label and family and version and method):
            print(f"expected LABEL=FAMILY@VERSION:METHOD (got {arg!r})", file=sys.stderr)
            return None
        specs[label] = (family, version, method)
    return specs


def print_table(argv: list[str], make: Callable[[dict[str, tuple[str, str, str]]], str]) -> int:
    """Print ``make(specs)`` for ``LABEL=FAMILY@VERSION:METHOD`` arguments; the exit code."""
    specs = parse_specs(argv)
    if specs is None:
        return 2
    print(make(specs), end="")
    return 0


def main(argv: list[str]) -> int:
    """Print the table for ``LABEL=FAMILY@VERSION:METHOD`` arguments."""
    return print_table(argv, table)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
