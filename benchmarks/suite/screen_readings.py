"""Other readings of the default call's confirmation, screened on cached records (not adopted).

Each cached ``cyclr-auto`` record (``range_test(...)`` at its defaults) keeps its
confirmation. This re-reads its LR in other ways and scores each LR by expected regret
(:mod:`benchmarks.suite.expected_regret`), training nothing:

* ``T=spent``: the run's length taken to be the steps the test itself spent (a run is at
  least as long as the test that chose its LR), given to the rule ``total_steps=`` uses
  (:mod:`cyclr.rangetest.horizon`); ``T=budget`` is the task's real budget, for reference;
* ``T=budget, censored``: the real budget, with a candidate whose held-out minimum came at
  the first evaluation read as an upper bound on the flow time (:func:`_censored`);
* ``z=...``: the smallest candidate that learned and whose score is within ``z`` noise units
  of the lowest, where a unit is the noise of a held-out mean, ``sigma0 / sqrt(m)``
  (:func:`cyclr.rangetest.scores.held_out_bar`), if it lies below the confirmed LR.

Usage (from the repository root, after the suite has cached the records)::

    python -m benchmarks.suite.screen_readings VERSION [--out FILE]
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cyclr.rangetest.confirmation import Confirmation
from cyclr.rangetest.scores import Z_LEARNED, held_out_bar, untrained_loss
from cyclr.rangetest.storage import _confirmation

from .cli import DEFAULT_CACHE, ORACLE_FILE, cached_records_cli
from .expected_regret import SEEDS, _runs, expected_metric, regret_units
from .tasks import TASKS

Z_VALUES = (0.5, 1.0, 2.0, 4.0)


def _losses(record: dict[str, Any]) -> np.ndarray:
    return np.asarray([math.nan if v is None else v for v in record["losses"]], dtype=float)


def _with_length(record: dict[str, Any], c: Confirmation, total_steps: int | None) -> float:
    losses = _losses(record)
    bar = held_out_bar(losses, c.start_loss, c.held_out_steps)
    return c.suggestion(c.horizon(total_steps, bar, untrained_loss(losses))).lr


def _censored(record: dict[str, Any], c: Confirmation, total_steps: int) -> float:
    """``total_steps=``'s LR with each minimum at the first evaluation read as a bound.

    Such a candidate's held-out minimum came at or before that evaluation: its
    ``lr_j t_j`` bounds the flow time from above, so the estimate is the median of all
    of them, capped at the smallest such bound.
    """
    from cyclr.rangetest.confirm import evaluation_steps

    bar = held_out_bar(_losses(record), c.start_loss, c.held_out_steps)
    runs = [h for h in c.held_out_losses if h]
    marks = evaluation_steps(c.steps, max((len(h) for h in runs), default=0))
    exact, bounds = [], []
    for lr, losses, score in zip(c.candidates, c.held_out_losses, c.scores, strict=True):
        if not math.isfinite(score) or len(losses) < 2 or bar is None:
            continue
        low = min(range(len(losses)), key=losses.__getitem__)
        later = losses[low + 1 :]
        if losses[low] < bar and len(later) >= 2 and all(v > losses[low] for v in later):
            (bounds if low == 0 else exact).append(lr * marks[low])
    if len(exact) + len(bounds) < 2:
        return c.lr
    tau = statistics.median(exact + bounds)
    return min(c.lr, min([tau, *bounds]) / total_steps)


def _within_noise(record: dict[str, Any], c: Confirmation, z: float) -> float:
    bar = held_out_bar(_losses(record), c.start_loss, c.held_out_steps)
    if bar is None or c.start_loss is None:
        return c.lr
    sigma = (c.start_loss - bar) / Z_LEARNED
    best = min(s for s in c.scores if math.isfinite(s))
    near = [x for x, s in zip(c.candidates, c.scores, strict=True) if s <= best + z * sigma]
    near = [x for x, s in zip(c.candidates, c.scores, strict=True) if x in near and s < bar]
    return min(c.lr, near[0]) if near else c.lr


def readings(budget: int) -> dict[str, Callable[[dict[str, Any], Confirmation], float]]:
    """Label -> the LR it reads from one record and its confirmation."""
    out: dict[str, Callable[[dict[str, Any], Confirmation], float]] = {
        "default": lambda r, c: _with_length(r, c, None),
        "T=budget": lambda r, c: _with_length(r, c, budget),
        "T=spent": lambda r, c: _with_length(r, c, int(r["steps"])),
        "T=budget, censored": lambda r, c: _censored(r, c, budget),
    }
    for z in Z_VALUES:
        out[f"z={z:g}"] = lambda r, c, z=z: _within_noise(r, c, z)
    return out


def table(version: str, cache: Path = DEFAULT_CACHE) -> str:
    """Per task and reading: median expected regret (target units) and the seed spread."""
    oracle = json.loads(ORACLE_FILE.read_text())
    labels = list(readings(1))
    rows, medians, spreads = [], {k: [] for k in labels}, {k: [] for k in labels}
    for name, task in TASKS.items():
        if name not in oracle:
            continue
        task_dir = cache / f"{name}-{oracle[name]['fingerprint']}"
        runs, best = _runs(task_dir), oracle[name]["summary"]["metric"]
        lrs: dict[str, list[float]] = {k: [] for k in labels}
        for seed in SEEDS:
            path = (
                task_dir / "finder" / f"cyclr-auto-{version}-seed={seed}-scale=1.0-shift=0.0.json"
            )
            if not path.exists():
                continue
            record = json.loads(path.read_text())
            c = _confirmation(record["confirmation"])
            if c is None:
                continue
            for label, read in readings(task.steps).items():
                lrs[label].append(read(record, c))
        cells = []
        for label in labels:
            if not lrs[label]:
                cells.append("-")
                continue
            regret = statistics.median(
                regret_units(name, best, expected_metric(runs, lr)) for lr in lrs[label]
            )
            spread = max(lrs[label]) / min(lrs[label])
            medians[label].append(regret)
            spreads[label].append(spread)
            cells.append(f"{regret:.2f} ({spread:.1f}x)")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    if not any(medians.values()):
        raise SystemExit(f"no cyclr-auto-{version} records under {cache}: check the tag")
    head = ["| task | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    summary = [
        "| **median** | "
        + " | ".join(f"{statistics.median(medians[k]):.2f}" for k in labels)
        + " |",
        "| **worst task** | " + " | ".join(f"{max(medians[k]):.2f}" for k in labels) + " |",
        "| **tasks over 1** | "
        + " | ".join(str(sum(v > 1 for v in medians[k])) for k in labels)
        + " |",
        "| **largest spread** | " + " | ".join(f"{max(spreads[k]):.1f}x" for k in labels) + " |",
    ]
    return "\n".join([*head, *rows, *summary]) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the report, or write it to ``--out``."""
    return cached_records_cli(
        "screen_readings",
        "Other readings of the default call's confirmation, screened (not adopted)",
        "cached `cyclr-auto` records re-read; median expected regret over 8 seeds in target "
        "units, and the seed spread of the LR",
        table,
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
