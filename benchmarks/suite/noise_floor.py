r"""What an LR estimator's own scatter costs: the regret of an aim at the best fixed LR.

Two equivalent calls of the default on the same seed confirm LRs 1.40x apart at the
median (``results/replicate_noise.md``): one call's log10 LR scatters by about
:math:`\sigma = 0.15` decades around where it aims (pooled over tasks; per task the two
calls agree to 1.09x-2.45x). Aim exactly at the best fixed LR of the oracle grid,
:math:`x^*` in log10, and that scatter alone costs, on task :math:`t`,

.. math:: F_t(\sigma) = \mathbb{E}_Z\, r_t(x^* + \sigma Z), \qquad Z \sim N(0, 1),

with :math:`r_t(x)` the regret in target units (1 accuracy point, 3% of a loss, 5% of an
MSE) of training the whole budget at log10 LR :math:`x`: 3-seed mean final metrics (the
oracle's seeds and batches) at the oracle grid's half-decade points and at
:data:`LOCAL` tenths of a decade either side of its best, joined linearly in log10 LR
(constant past the grid's ends). The expectation is a sum over a fine grid of the normal.
:math:`F_t` is the regret of an estimator with that noise centred on the grid's best,
which is known only to half a decade; an estimator can do better by aiming elsewhere:
away from the steeper side, or at a better LR between the grid's points (the local
points find some). So the table also gives the aim :math:`b^*` (decades from
:math:`x^*`, within +-0.5) that minimises :math:`\mathbb{E}\, r_t(x^* + b + \sigma Z)` and
its regret. Neither is a rule a finder could use (both need the grid); they say how far
the suite's targets are from what today's noise allows.

The seed spread (max / min of three calls' LRs, target <= 2x):
:math:`P(\text{spread} > 2) = P(R_3 > \log_{10} 2 / \sigma)`, :math:`R_3` the range of
three standard normals, simulated as ``replicate_noise`` simulates it
(:func:`.replicate_noise.spread_chances`, a fixed seed); over :math:`n` tasks, independent,
:math:`(1 - P)^n` within 2x on all. The replicate calls share the model's
initialisation, so across seeds the spread can only be larger: these are lower bounds.

Caveats: each point's mean carries its own seed noise (the ResNet's 3-seed sd is
several points), so a point near the best can score a little above or below it: the
regret is measured against the oracle's mean, as the suite's regrets are. Past 0.3
decades the regret is assumed linear to the next grid point; the table says how many
of the six local points each task's cache held.

Usage (from the repository root; trains the local points the cache lacks, about 20 min
on one thread for the 13 tasks)::

    python -m benchmarks.suite.noise_floor [--tasks A,B] [--read-only] [--out FILE]
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cli import oracle_tasks_cli
from .expected_regret import regret_units
from .replicate_noise import spread_chances
from .run import Config, fixed_run
from .store import NotCachedError, Store
from .tasks import TASKS, Task

RegretCurve = Callable[[np.ndarray], np.ndarray]
"""``r(x)``: regret in target units at log10 LRs ``x``."""

SIGMAS = (0.075, 0.15, 0.3)
"""Noise levels (decades): half today's, today's (``replicate_noise.md``), twice it."""
TODAY = 0.15
"""One call's noise today, in decades."""
AIMS = np.linspace(-0.5, 0.5, 101)
"""Aims searched for the biased floor (decades from the grid's best)."""
NODES = np.linspace(-6.0, 6.0, 4001)
"""A fine grid of a standard normal's values (the regret curves have kinks, which a
Gauss-Hermite rule integrates poorly)."""
WEIGHTS = np.exp(-0.5 * NODES**2) / np.sum(np.exp(-0.5 * NODES**2))
"""Its probabilities: ``E f(Z) = sum(WEIGHTS * f(NODES))``."""
LOCAL = (-0.3, -0.2, -0.1, 0.1, 0.2, 0.3)
"""Points trained around the grid's best LR (decades from it)."""
SEEDS = (0, 1, 2)
"""The oracle's seeds."""


def local_means(store: Store, task: Task, best_lr: float, read_only: bool) -> dict[float, float]:
    """``{lr: mean final metric}`` at :data:`LOCAL` offsets from ``best_lr`` (cached runs)."""
    cfg = Config(tasks=[task.name], read_only=read_only)
    out = {}
    for offset in LOCAL:
        lr = float(f"{best_lr * 10.0**offset:.4g}")
        try:
            out[lr] = float(
                np.mean([fixed_run(store, task, lr, s, False, cfg).final for s in SEEDS])
            )
        except NotCachedError:
            continue
    return out


def regret_curve(task_name: str, summary: dict[str, Any], local: dict[float, float]) -> RegretCurve:
    """``r(x)``: regret in target units at log10 LR ``x``, linear between measured points."""
    means = {float(lr): value for lr, value in summary["grid"].items()} | local
    best = summary["metric"]
    points = sorted((math.log10(lr), regret_units(task_name, best, v)) for lr, v in means.items())
    xs = np.array([p[0] for p in points])
    rs = np.array([p[1] for p in points])
    return lambda x: np.interp(x, xs, rs)


def floor(curve: RegretCurve, best_x: float, sigma: float, aim: float = 0.0) -> float:
    """``E r(best_x + aim + sigma Z)`` over :data:`NODES`."""
    return float(np.sum(WEIGHTS * curve(best_x + aim + sigma * NODES)))


def best_aim(curve: RegretCurve, best_x: float, sigma: float) -> tuple[float, float]:
    """The aim in :data:`AIMS` with the lowest expected regret (ties: the nearest to 0),
    and that regret."""
    values = np.array([floor(curve, best_x, sigma, float(a)) for a in AIMS])
    ties = np.flatnonzero(values <= values.min() + 1e-12)
    i = int(ties[np.argmin(np.abs(AIMS[ties]))])
    return float(AIMS[i]), float(values[i])


@dataclass(frozen=True)
class TaskCurve:
    """One task's measured regret curve.

    Attributes:
        curve: regret in target units at log10 LRs.
        best_lr: the oracle grid's best fixed LR.
        local_points: how many of :data:`LOCAL` the cache held (the rest interpolated).
    """

    curve: RegretCurve
    best_lr: float
    local_points: int


def curves(
    store: Store, grids: dict[str, Any], tasks: list[Task], read_only: bool
) -> dict[str, TaskCurve]:
    """Per task: its regret curve (``grids`` is the oracle file)."""
    out = {}
    for task in tasks:
        summary = grids[task.name]["summary"]
        local = local_means(store, task, float(summary["lr"]), read_only)
        out[task.name] = TaskCurve(
            regret_curve(task.name, summary, local), float(summary["lr"]), len(local)
        )
    return out


def _summary_row(
    label: str,
    values: dict[float, list[float]],
    aimed: list[float],
    fn: Callable[[list[float]], float],
) -> str:
    return (
        f"| **{label}** | | | | "
        + " | ".join(f"{fn(v):.2f}" for v in values.values())
        + f" | | {fn(aimed):.2f} |"
    )


def table(measured: dict[str, TaskCurve]) -> str:
    """The markdown report: per task, the regret at each noise level and the best aim."""
    head = (
        "| task | best LR | local points | regret 0.3 / 0.1 decades below, 0.1 / 0.3 above | "
        + " | ".join(f"sigma {s:g}" for s in SIGMAS)
        + f" | best aim at sigma {TODAY:g} (decades) | its regret |"
    )
    rows = [head, "|---|---|---|---|" + "---|" * len(SIGMAS) + "---|---|"]
    floors: dict[float, list[float]] = {s: [] for s in SIGMAS}
    aimed: list[float] = []
    for name, m in measured.items():
        best_x = math.log10(m.best_lr)
        near = m.curve(best_x + np.array([-0.3, -0.1, 0.1, 0.3]))
        for s in SIGMAS:
            floors[s].append(floor(m.curve, best_x, s))
        aim, value = best_aim(m.curve, best_x, TODAY)
        aimed.append(value)
        rows.append(
            f"| {name} | {m.best_lr:.3g} | {m.local_points}/{len(LOCAL)} | {near[0]:.2f} / "
            f"{near[1]:.2f}, {near[2]:.2f} / {near[3]:.2f} | "
            + " | ".join(f"{floors[s][-1]:.2f}" for s in SIGMAS)
            + f" | {aim:+.2f} | {value:.2f} |"
        )
    if aimed:
        rows.append(_summary_row("worst task", floors, aimed, max))
        rows.append(_summary_row("median", floors, aimed, statistics.median))
        rows.append(
            "| **tasks over 1** | | | | "
            + " | ".join(str(sum(x > 1.0 for x in v)) for v in floors.values())
            + f" | | {sum(x > 1.0 for x in aimed)} |"
        )
    spread = [
        "",
        "| noise (decades) | P(3-call spread > 2x) | P(every one of the tasks within 2x) |",
        "|---|---|---|",
    ]
    rng = np.random.default_rng(0)
    for s in SIGMAS:
        _, p = spread_chances(s, 3, rng)
        spread.append(f"| {s:g} | {p:.1%} | {(1.0 - p) ** len(aimed):.1%} |")
    return "\n".join(rows + spread) + "\n"


def _report(store: Store, grids: dict[str, Any], tasks: list[Task], read_only: bool) -> str:
    return table(curves(store, grids, tasks, read_only))


def main(argv: list[str] | None = None) -> int:
    """Train the local points the cache lacks (unless ``--read-only``); report."""
    return oracle_tasks_cli(
        "noise_floor", "The regret today's noise leaves an aim at the best LR", TASKS, _report, argv
    )


if __name__ == "__main__":
    raise SystemExit(main())
