"""The schedules' ceiling: triangular2 and one-cycle with the peak set from the best fixed LR.

The CLR claim's two figures (one-cycle not below the best fixed LR beyond seed noise;
triangular2 or one-cycle reaching the fixed LR's final metric in at most half its steps
on half the tasks) depend on the bounds a range test reads *and* on the task. This
separates the two: every schedule is trained with its peak at a fixed multiple of the
oracle grid's own best LR, ``10 ** o`` for ``o`` in :data:`OFFSETS` (decades), and
``base_lr = peak / 4`` (the ratio of the library's bounds), built exactly as the CLR
phase builds them (:func:`.clr.make_schedule`: whole cycles fitted to the run; ``-half``
the same schedule fitted to half the budget and trained for half of it), 3 seeds, the
oracle's seeds and batches. No range test is involved: at the library's 1:4 ratio and
with these four schedules, no reading of a curve can choose a better peak than the best
of these, up to their spacing (a quarter decade from 1x to 10x).

Two readings, scored as the CLR report scores its runs (:func:`.clr.noise_gap`;
:func:`.train.reach_ratio` on the 3-seed mean curve):

* **hindsight** (optimistic: it picks among the scored runs themselves): per task, the
  best offset of one-cycle (by regret), and whether any kind at any offset reaches the
  fixed LR's final metric in at most half its steps;
* **leave-one-task-out**: one ``(kind, offset)`` chosen on the other tasks (the most
  tasks within half the steps; ties to the lower median regret), scored on the task;
  for one-cycle alone, the offset with the fewest other tasks below beyond noise (ties
  to the lower median regret). A task's other budget (``x`` and ``x-long``: same data,
  model and optimizer) is left out with it.

The report also gives, per schedule and offset, the median regret over the suite's
tasks and the counts below beyond noise and within half the steps, and how many tasks
have one-cycle's best peak at each offset.

Usage (from the repository root; trains what the cache lacks)::

    python -m benchmarks.suite.schedule_ceiling [--tasks A,B] [--read-only] [--out FILE]
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .cli import oracle_tasks_cli
from .clr import noise_gap, schedule_run
from .run import Config
from .store import NotCachedError, Store
from .tasks import LONG_TASKS, TASKS, Task, tolerance
from .train import RunResult, mean_curve, reach_ratio

OFFSETS = (-0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
"""Peaks tried, in decades from the oracle's best fixed LR (quarter decades where the
best peaks lie)."""
KINDS = ("onecycle", "onecycle-half", "triangular2", "triangular2-half")
"""Schedules tried: over the budget, and fitted to half of it."""
BASE_RATIO = 4.0
"""``peak / base_lr``: the ratio of the library's bounds (``result.clr_bounds()``)."""
SEEDS = (0, 1, 2)
"""The oracle's seeds."""
CEILING_TASKS = {**TASKS, **LONG_TASKS}
"""The suite's tasks and their 40-epoch versions (those with a committed oracle grid)."""
LONG_SUFFIX = "-long"

Setting = tuple[str, float]
"""A schedule kind and its peak's offset (decades)."""


@dataclass(frozen=True)
class Cell:
    """One schedule at one peak on one task, over the seeds.

    Attributes:
        regret: oracle minus the mean final metric, in target units (negative: better).
        below: whether it ends below the oracle beyond seed noise.
        ratio: steps to the oracle's final metric over the oracle's own (``None``: never).
    """

    regret: float
    below: bool
    ratio: float | None

    @property
    def fast(self) -> bool:
        """Whether it reaches the oracle's final metric in at most half the oracle's steps."""
        return self.ratio is not None and self.ratio <= 0.5


Results = dict[str, dict[Setting, Cell]]
"""``{task: {(kind, offset): Cell}}``; a cell missing where the cache lacked its runs."""


def peak_of(oracle_lr: float, offset: float) -> float:
    """The peak ``offset`` decades from the oracle's LR, rounded to 4 significant digits."""
    return float(f"{oracle_lr * 10.0**offset:.4g}")


def family(name: str) -> str:
    """The task a longer-budget variant was made from (itself for a suite task)."""
    return name.removesuffix(LONG_SUFFIX)


def cell(task: Task, summary: dict[str, Any], runs: list[RunResult]) -> Cell:
    """Score one schedule's runs against the oracle's ``summary``, as the CLR report does."""
    mean = statistics.fmean(r.final for r in runs)
    metric = summary["metric"]
    _, ratio = reach_ratio(
        mean_curve(runs), metric, task.higher_is_better, int(summary["steps_to_final"])
    )
    regret = task.regret(metric, mean)
    return Cell(
        regret=regret / tolerance(task),
        below=regret > noise_gap(task, summary["sd"], metric),
        ratio=ratio,
    )


def measure(store: Store, tasks: Iterable[Task], grids: dict[str, Any], read_only: bool) -> Results:
    """Train (or read) every schedule at every peak; ``grids`` is the oracle file."""
    log = Config(tasks=[]).log
    out: Results = {}
    for task in tasks:
        summary = grids[task.name]["summary"]
        cells: dict[Setting, Cell] = {}
        for offset in OFFSETS:
            peak = peak_of(summary["lr"], offset)
            for kind in KINDS:
                try:
                    runs = [
                        schedule_run(store, task, kind, peak / BASE_RATIO, peak, s, read_only, log)
                        for s in SEEDS
                    ]
                except NotCachedError:
                    continue
                cells[(kind, offset)] = cell(task, summary, runs)
        out[task.name] = cells
    return out


def _others(results: Results, name: str) -> list[dict[Setting, Cell]]:
    """Every task's cells but ``name``'s and its other budget's."""
    return [cells for n, cells in results.items() if family(n) != family(name)]


def _median_regret(cells: list[Cell]) -> float:
    return statistics.median(c.regret for c in cells) if cells else math.inf


def loto_fast(results: Results) -> dict[str, Setting]:
    """Per task, the ``(kind, offset)`` with the most other tasks within half the steps."""
    configs = sorted({k for cells in results.values() for k in cells})
    chosen = {}
    for name in results:
        others = _others(results, name)
        if not others or not configs:
            continue

        def score(k: Setting, others: list[dict[Setting, Cell]] = others) -> tuple[int, float]:
            measured = [c[k] for c in others if k in c]
            return (-sum(c.fast for c in measured), _median_regret(measured))

        chosen[name] = min(configs, key=score)
    return chosen


def loto_onecycle(results: Results) -> dict[str, float]:
    """Per task, one-cycle's offset with the fewest other tasks below beyond noise."""
    chosen = {}
    for name in results:
        others = _others(results, name)

        def score(o: float, others: list[dict[Setting, Cell]] = others) -> tuple[float, float]:
            measured = [c[("onecycle", o)] for c in others if ("onecycle", o) in c]
            if not measured:  # not measured (a read-only report of a partial cache)
                return (math.inf, math.inf)
            return (sum(c.below for c in measured), _median_regret(measured))

        if others:
            chosen[name] = min(OFFSETS, key=score)
    return chosen


def best_onecycle(results: Results) -> dict[str, float]:
    """Per task with one-cycle measured, the offset with its lowest regret (hindsight)."""
    best = {}
    for name, cells in results.items():
        regrets = {o: cells[("onecycle", o)].regret for o in OFFSETS if ("onecycle", o) in cells}
        if regrets:
            best[name] = min(regrets, key=regrets.__getitem__)
    return best


def _ratio(c: Cell) -> str:
    return "never" if c.ratio is None else f"{c.ratio:.2f}x"


def _names(names: list[str]) -> str:
    return ", ".join(names) or "-"


def table(results: Results, grids: dict[str, Any]) -> str:
    """The report: per task and offset, per schedule and offset, then the two figures."""
    lines = [
        "Regret in target units (1 point, 3% of a loss, 5% of an MSE; negative: better than "
        "the best fixed LR; `*`: below it beyond seed noise); ratio = steps to the fixed LR's "
        "final metric over its own (`never`: not within the run).",
        "",
        "| task | fixed LR (steps to its final / budget) | peak | "
        + " | ".join(f"{k} regret / ratio" for k in KINDS)
        + " |",
        "|---|---|---|" + "---|" * len(KINDS),
    ]
    for name, cells in results.items():
        summary = grids[name]["summary"]
        for offset in OFFSETS:
            parts = [
                "-"
                if (c := cells.get((kind, offset))) is None
                else f"{c.regret:+.2f}{'*' if c.below else ''} / {_ratio(c)}"
                for kind in KINDS
            ]
            lines.append(
                f"| {name} | {summary['lr']:.3g} ({summary['steps_to_final']} / "
                f"{CEILING_TASKS[name].steps}) | x10^{offset:+g} | " + " | ".join(parts) + " |"
            )
    return "\n".join([*lines, "", *per_config(results), "", *figures(results)]) + "\n"


def per_config(results: Results) -> list[str]:
    """Per schedule and offset: median regret over the suite's tasks, counts over all."""
    suite = [n for n in results if n in TASKS]
    best = Counter(best_onecycle(results).values())
    lines = [
        f"| schedule | peak | median regret ({len(suite)} suite tasks) | below beyond noise "
        f"| <= 0.5x | one-cycle's best peak here ({len(results)} tasks) |",
        "|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        for offset in OFFSETS:
            cells = [cs[(kind, offset)] for cs in results.values() if (kind, offset) in cs]
            if not cells:
                continue
            in_suite = [results[n][(kind, offset)] for n in suite if (kind, offset) in results[n]]
            median = f"{statistics.median(c.regret for c in in_suite):+.2f}" if in_suite else "-"
            lines.append(
                f"| {kind} | x10^{offset:+g} | {median} | {sum(c.below for c in cells)}/"
                f"{len(cells)} | {sum(c.fast for c in cells)}/{len(cells)} | "
                + (str(best[offset]) if kind == "onecycle" else "")
                + " |"
            )
    return lines


def figures(results: Results) -> list[str]:
    """The claim's two figures, in hindsight and leave-one-task-out."""
    n = len(results)
    best = best_onecycle(results)
    below_hind = [name for name, o in best.items() if results[name][("onecycle", o)].below]
    fast_hind = [name for name, cells in results.items() if any(c.fast for c in cells.values())]
    oc_choice = loto_onecycle(results)
    below_loto = [m for m, o in oc_choice.items() if results[m][("onecycle", o)].below]
    fast_choice = loto_fast(results)
    fast_loto = [m for m, k in fast_choice.items() if (c := results[m].get(k)) and c.fast]
    oc_loto, fast_loto_cell = "-", "-"
    if oc_choice:
        offsets = ", ".join(sorted({f"{o:+g}" for o in oc_choice.values()}))
        oc_loto = (
            f"{len(below_loto)}/{len(oc_choice)}: {_names(below_loto)} (offset chosen: {offsets})"
        )
    if fast_choice:
        kind, offset = statistics.mode(fast_choice.values())
        fast_loto_cell = (
            f"{len(fast_loto)}/{len(fast_choice)}: {_names(fast_loto)} "
            f"(most chosen: {kind} at x10^{offset:+g})"
        )
    return [
        "| figure | hindsight (best peak per task) | leave-one-task-out |",
        "|---|---|---|",
        f"| one-cycle below the fixed LR beyond noise | {len(below_hind)}/{len(best)}: "
        f"{_names(below_hind)} | {oc_loto} |",
        f"| triangular2 / one-cycle <= 0.5x the fixed LR's steps | {len(fast_hind)}/{n}: "
        f"{_names(fast_hind)} | {fast_loto_cell} |",
    ]


def _report(store: Store, grids: dict[str, Any], tasks: list[Task], read_only: bool) -> str:
    return table(measure(store, tasks, grids, read_only), grids)


def main(argv: list[str] | None = None) -> int:
    """Train what is missing (unless ``--read-only``), then print or write the report."""
    return oracle_tasks_cli(
        "schedule_ceiling",
        "The schedules' ceiling: peaks set from the best fixed LR",
        CEILING_TASKS,
        _report,
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
