"""Combine one-cycle results: ``python -m benchmarks.suite.onecycle_combine A.json [B.json]``.

Each JSON is what ``python -m benchmarks.suite.experiments --schedule-variants ...`` (no
``pick``) writes beside its markdown (task -> variant -> regret in target units, ...).
``--subset-md results/onecycle_subset.md`` also reads the one-cycle table of the earlier
7-task run (cells ``regret in task units / steps``), converted to target units with each
task's tolerance; a task measured in a JSON is not read from the markdown. Prints the
summary table per variant (median and worst over tasks, tasks with regret > 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from .report import tolerance
from .tasks import TASKS


def read_subset_md(path: Path) -> dict[str, dict[str, float]]:
    """task -> variant -> regret (target units) from the one-cycle table of a report."""
    lines = path.read_text().splitlines()
    out: dict[str, dict[str, float]] = {}
    header: list[str] | None = None
    for line in lines:
        if line.startswith("| task | oracle (steps to final) |"):
            header = [c.strip() for c in line.strip("|").split("|")]
            continue
        if header is None:
            continue
        if not line.startswith("|"):
            if out:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] not in TASKS:
            continue
        tol = tolerance(TASKS[cells[0]])
        for name, cell in zip(header[2:], cells[2:], strict=True):
            if cell != "-":
                out.setdefault(cells[0], {})[name] = float(cell.split("/")[0]) / tol
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the combined summary."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite.onecycle_combine")
    p.add_argument("json", nargs="*", type=Path)
    p.add_argument("--subset-md", type=Path, default=None)
    args = p.parse_args(argv)
    regrets: dict[str, dict[str, float]] = {}
    source: dict[str, str] = {}
    for path in args.json:
        for task, rows in json.loads(path.read_text()).items():
            regrets[task] = {k: v["regret"] for k, v in rows.items()}
            source[task] = path.name
    if args.subset_md is not None:
        for task, rows in read_subset_md(args.subset_md).items():
            if task not in regrets:
                regrets[task] = rows
                source[task] = args.subset_md.name
    kinds: list[str] = []
    for rows in regrets.values():
        kinds += [k for k in rows if k not in kinds]
    print(
        "| variant | tasks | median regret | worst task | worst task name | tasks > 1 | tasks < 0 |"
    )
    print("|---|---|---|---|---|---|---|")
    for k in kinds:
        v = {t: rows[k] for t, rows in regrets.items() if k in rows}
        worst = max(v, key=lambda t: v[t])
        print(
            f"| {k} | {len(v)} | {statistics.median(v.values()):.2f} | {v[worst]:.2f} | "
            f"{worst} | {sum(x > 1 for x in v.values())} | {sum(x < 0 for x in v.values())} |"
        )
    print()
    print("| task | source | " + " | ".join(kinds) + " |")
    print("|---|---|" + "---|" * len(kinds))
    for t, rows in regrets.items():
        cells = [f"{rows[k]:.2f}" if k in rows else "-" for k in kinds]
        print(f"| {t} | {source[t]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
