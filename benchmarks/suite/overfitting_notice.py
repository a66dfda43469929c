"""Where the default call says its LR overfits within the run: counted on cached records.

``range_test(...)`` without ``total_steps`` warns, and ``result.suggest()``'s evidence holds
``held_out_minimum_steps``, when at least two confirmation candidates' held-out losses
turned up within the window (:mod:`cyclr.rangetest.horizon`). The LR is unchanged, so the
suite's records need not be trained again: this reads each cached ``cyclr-auto`` record
(the one call at its defaults) back into a result without its run length and asks
``result.suggest()``, as a user would.

Usage (from the repository root, after the suite has cached the records)::

    python -m benchmarks.suite.overfitting_notice VERSION [--out FILE]

``VERSION`` is the ``cyclr-auto`` family's cache tag (the part of a record's file name
after the family).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from cyclr.rangetest import RangeTestResult
from cyclr.rangetest.storage import _confirmation

from .cli import DEFAULT_CACHE, ORACLE_FILE, cached_records_cli
from .expected_regret import SEEDS
from .tasks import TASKS


def notice_steps(record: dict[str, object]) -> int | None:
    """``held_out_minimum_steps`` of the record's default suggestion, without a run length."""
    confirmation = _confirmation(record["confirmation"])
    if confirmation is None:
        return None
    values = [math.nan if v is None else v for v in record["losses"]]  # type: ignore[attr-defined]
    losses = np.asarray(values, dtype=np.float64)
    lrs = np.asarray(record["lrs"], dtype=np.float64)
    result = RangeTestResult(lrs, losses, losses, None, "num_steps", {}, None, confirmation)
    return result.suggest().evidence.get("held_out_minimum_steps")


def table(version: str, cache: Path = DEFAULT_CACHE) -> str:
    """Per task: the run's length, the seeds whose default suggestion carries the notice."""
    oracle = json.loads(ORACLE_FILE.read_text())
    rows = ["| task | run (steps) | seeds with the notice | steps to the held-out minimum |"]
    rows.append("|---|---|---|---|")
    for name, task in TASKS.items():
        if name not in oracle:
            continue
        task_dir = cache / f"{name}-{oracle[name]['fingerprint']}" / "finder"
        steps = []
        for seed in SEEDS:
            path = task_dir / f"cyclr-auto-{version}-seed={seed}-scale=1.0-shift=0.0.json"
            if path.exists():
                steps.append(notice_steps(json.loads(path.read_text())))
        told = [s for s in steps if s is not None]
        listed = ", ".join(map(str, sorted(told))) or "-"
        rows.append(f"| {name} | {task.steps} | {len(told)} of {len(steps)} | {listed} |")
    if all(row.endswith("| 0 of 0 | - |") for row in rows[2:]):
        raise SystemExit(f"no cyclr-auto-{version} records under {cache}: check the tag")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the report, or write it to ``--out``."""
    return cached_records_cli(
        "overfitting_notice",
        "The default call's notice that its LR overfits within the run",
        "the `cyclr-auto` records, `range_test(...)` at its defaults, read back without the "
        "run's length; `held_out_minimum_steps` of `result.suggest()`",
        table,
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
