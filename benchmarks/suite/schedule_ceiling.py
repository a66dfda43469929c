"""The schedules' ceiling: triangular2 and one-cycle with the peak set from the best fixed LR.

The CLR claim's two figures (one-cycle not below the best fixed LR beyond seed noise;
triangular2 or one-cycle reaching the fixed LR's final metric in at most half its steps
on half the tasks) depend on the bounds a range test reads *and* on the task. This
separates the two: every schedule is trained with its peak at a fixed multiple of the
oracle grid's own best LR, ``10 ** o`` for ``o`` in :data:`OFFSETS` (decades), and
``base_lr = peak / 4`` (the ratio of the library's bounds), built exactly as the CLR
phase builds them (:func:`.clr.make_schedule`: whole cycles fitted to the run; ``-half``
the same schedule fitted to half the budget and trained for half of it), 3 seeds, the
oracle's seeds and batches. No range test is involved: no reading of a curve can
choose a better peak than the best of these, up to the grid's resolution.

Two readings, scored with the CLR report's own measures (:func:`.clr.noise_gap`,
:func:`.train.steps_to_reach` on the 3-seed mean curve):

* **hindsight** (optimistic: it picks among the scored runs themselves): per task, the
  best offset of one-cycle, and whether any kind at any offset reaches the fixed LR's
  final metric in at most half its steps;
* **leave-one-task-out**: one ``(kind, offset)`` chosen on the other tasks (the most
  tasks within half the steps; ties to the lower median regret), scored on the task;
  for one-cycle alone, the offset with the fewest tasks below beyond noise.

Usage (from the repository root; trains what the cache lacks)::

    python -m benchmarks.suite.schedule_ceiling [--tasks A,B] [--read-only] [--out FILE]
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .cli import oracle_tasks_cli
from .clr import noise_gap, schedule_run
from .store import NotCachedError, Store
from .tasks import LONG_TASKS, TASKS, Task, tolerance
from .train import steps_to_reach

OFFSETS = (-0.5, 0.0, 0.5, 1.0, 1.5)
"""Peaks tried, in decades from the oracle's best fixed LR."""
KINDS = ("onecycle", "onecycle-half", "triangular2", "triangular2-half")
"""Schedules tried: over the budget, and fitted to half of it."""
BASE_RATIO = 4.0
"""``peak / base_lr``: the ratio of the library's bounds (``result.clr_bounds()``)."""
SEEDS = (0, 1, 2)
"""The oracle's seeds."""
CEILING_TASKS = {**TASKS, **LONG_TASKS}
"""The suite's tasks and their 40-epoch versions (those with a committed oracle grid)."""


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


def _oracle(entry: dict[str, Any]) -> dict[str, Any]:
    return dict(entry["summary"])


def peak_of(oracle_lr: float, offset: float) -> float:
    """The peak ``offset`` decades from the oracle's LR, rounded to 4 significant digits."""
    return float(f"{oracle_lr * 10.0**offset:.4g}")


def cell(task: Task, oracle: dict[str, Any], runs: list[Any], kind: str) -> Cell:
    """Score one schedule's runs against the oracle, as the CLR report does."""
    mean = statistics.fmean(r.final for r in runs)
    steps = [s for s, _ in runs[0].curve]
    curve = [(s, statistics.fmean(r.curve[i][1] for r in runs)) for i, s in enumerate(steps)]
    reach = steps_to_reach(curve, oracle["metric"], task.higher_is_better)
    own = int(oracle["steps_to_final"])
    regret = task.regret(oracle["metric"], mean)
    return Cell(
        regret=regret / tolerance(task),
        below=regret > noise_gap(task, oracle["sd"], oracle["metric"]),
        ratio=reach / own if reach > 0 and own > 0 else None,
    )


def measure(
    store: Store, tasks: Iterable[Task], oracles: dict[str, Any], read_only: bool
) -> dict[str, dict[tuple[str, float], Cell]]:
    """Train (or read) every schedule at every peak; ``{task: {(kind, offset): Cell}}``."""
    out: dict[str, dict[tuple[str, float], Cell]] = {}
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    for task in tasks:
        oracle = _oracle(oracles[task.name])
        cells: dict[tuple[str, float], Cell] = {}
        for offset in OFFSETS:
            peak = peak_of(oracle["lr"], offset)
            for kind in KINDS:
                try:
                    runs = [
                        schedule_run(store, task, kind, peak / BASE_RATIO, peak, s, read_only, log)
                        for s in SEEDS
                    ]
                except NotCachedError:
                    continue
                cells[(kind, offset)] = cell(task, oracle, runs, kind)
        out[task.name] = cells
    return out


def _fast(c: Cell | None) -> bool:
    return c is not None and c.ratio is not None and c.ratio <= 0.5


def loto_fast(results: dict[str, dict[tuple[str, float], Cell]]) -> dict[str, tuple[str, float]]:
    """Per task, the ``(kind, offset)`` with the most other tasks within half the steps."""
    configs = sorted({k for cells in results.values() for k in cells})
    chosen = {}
    for name in results:
        others = [cells for n, cells in results.items() if n != name]

        def score(k: tuple[str, float], others: list[Any] = others) -> tuple[int, float]:
            regrets = [c[k].regret for c in others if k in c]
            return (
                -sum(_fast(c.get(k)) for c in others),
                statistics.median(regrets) if regrets else math.inf,
            )

        chosen[name] = min(configs, key=score)
    return chosen


def loto_onecycle(results: dict[str, dict[tuple[str, float], Cell]]) -> dict[str, float]:
    """Per task, one-cycle's offset with the fewest other tasks below beyond noise."""
    chosen = {}
    for name in results:
        others = [cells for n, cells in results.items() if n != name]

        def score(o: float, others: list[Any] = others) -> tuple[float, float]:
            cs = [c[("onecycle", o)] for c in others if ("onecycle", o) in c]
            if not cs:  # not measured (a read-only report of a partial cache)
                return (math.inf, math.inf)
            return (sum(c.below for c in cs), statistics.median(c.regret for c in cs))

        chosen[name] = min(OFFSETS, key=score)
    return chosen


def _ratio(c: Cell | None) -> str:
    if c is None:
        return "-"
    return "never" if c.ratio is None else f"{c.ratio:.2f}x"


def table(results: dict[str, dict[tuple[str, float], Cell]], oracles: dict[str, Any]) -> str:
    """The report: per task and offset, then hindsight and leave-one-task-out summaries."""
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
        o = _oracle(oracles[name])
        task = CEILING_TASKS[name]
        for offset in OFFSETS:
            parts = []
            for kind in KINDS:
                c = cells.get((kind, offset))
                if c is None:
                    parts.append("-")
                    continue
                parts.append(f"{c.regret:+.2f}{'*' if c.below else ''} / {_ratio(c)}")
            lines.append(
                f"| {name} | {o['lr']:.3g} ({o['steps_to_final']} / {task.steps}) | "
                f"x10^{offset:+g} | " + " | ".join(parts) + " |"
            )
    lines += ["", *summary(results)]
    return "\n".join(lines) + "\n"


def summary(results: dict[str, dict[tuple[str, float], Cell]]) -> list[str]:
    """The two figures, in hindsight and leave-one-task-out."""
    n = len(results)
    best_oc = {
        name: min(
            (o for o in OFFSETS if ("onecycle", o) in cells),
            key=lambda o, cells=cells: cells[("onecycle", o)].regret,
        )
        for name, cells in results.items()
    }
    below_hind = [name for name, o in best_oc.items() if results[name][("onecycle", o)].below]
    fast_hind = [name for name, cells in results.items() if any(_fast(c) for c in cells.values())]
    oc_choice = loto_onecycle(results)
    below_loto = [n_ for n_, o in oc_choice.items() if results[n_][("onecycle", o)].below]
    fast_choice = loto_fast(results)
    fast_loto = [n_ for n_, k in fast_choice.items() if _fast(results[n_].get(k))]
    picked = statistics.mode(fast_choice.values())
    return [
        "| figure | hindsight (best peak per task) | leave-one-task-out |",
        "|---|---|---|",
        f"| one-cycle below the fixed LR beyond noise | {len(below_hind)}/{n}: "
        f"{', '.join(below_hind) or '-'} | {len(below_loto)}/{n}: {', '.join(below_loto) or '-'}"
        f" (offset chosen: {', '.join(sorted({f'{o:+g}' for o in oc_choice.values()}))}) |",
        f"| triangular2 / one-cycle <= 0.5x the fixed LR's steps | {len(fast_hind)}/{n}: "
        f"{', '.join(fast_hind) or '-'} | {len(fast_loto)}/{n}: {', '.join(fast_loto) or '-'}"
        f" (most chosen: {picked[0]} at x10^{picked[1]:+g}) |",
    ]


def main(argv: list[str] | None = None) -> int:
    """Train what is missing (unless ``--read-only``), then print or write the report."""
    return oracle_tasks_cli(
        "schedule_ceiling",
        "The schedules' ceiling: peaks set from the best fixed LR",
        "torch 1 thread; trains what the cache lacks",
        CEILING_TASKS,
        lambda store, oracle, tasks, read_only: table(
            measure(store, tasks, oracle, read_only), oracle
        ),
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
