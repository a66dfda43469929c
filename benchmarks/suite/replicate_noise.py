r"""How far two equivalent calls of the default disagree, and the seed spread that implies.

The suite runs the one call twice per task and seed, on nearly the same data: the
``cyclr-auto`` family (``held_out="auto"``: the loader's first batches held aside) and
the ``cyclr-confirm`` family (``held_out=`` a validation fifth of the training examples,
trained on the other four fifths). Same model initialisation and optimizer; other
batches, a held-out set of another origin and a fifth less data for the second. Their
disagreement is close to the call's own measurement noise, as long as neither procedure
is biased against the other (the report gives the signed median difference, which
should be near 0). This reads the cached records of both and reports, per task and over
all, the ratio of the two calls' anchors (the curve's reading) and of their confirmed
LRs (the window's LR, without the run's length), and how much of the anchor's error the
confirmed LR keeps (the slope of one log-ratio on the other) against the window's own
noise (what is left).

If one call's log10 LR is normal around a task's value with a standard deviation of
:math:`\sigma` decades, independently for the two calls, their difference is
:math:`d \sim N(0, 2\sigma^2)`, so

.. math:: \hat\sigma = \frac{\operatorname{median}|d|}{0.6745\,\sqrt 2}

(robust: a few tasks whose two calls differ for a reason, not by noise, would inflate
the mean-square estimate :math:`\sqrt{\overline{d^2}/2}`, which is reported beside
it). The report then simulates the seed spread (max / min over 3 and over 8 calls) such
noise alone gives, and how often every one of the suite's tasks would stay within 2x:
the spread target against the call's own noise. The noise differs between tasks (the
per-task medians in the table), so the pooled figure overstates it on some and
understates it on others; seeds also change the model's initialisation, which these
pairs share.

Usage (from the repository root, after the suite has cached the records)::

    python -m benchmarks.suite.replicate_noise TAG[,TAG...] [--out FILE]

``TAG`` is a cache tag shared by the two families' records (the part of a file name after
the family), several separated by commas (the in-sample suite and each held-out round
were cached at different commits).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclr.rangetest.storage import _confirmation

from .cli import DEFAULT_CACHE, cached_records_cli
from .tasks import HOLDOUT_TASKS, TASKS

FAMILIES = ("cyclr-auto", "cyclr-confirm")
SEEDS = range(8)
SIMULATIONS = 20_000
MEDIAN_ABS = 0.6745
"""The median of ``|z|`` for a standard normal ``z``."""
TWO = math.log10(2.0)
"""A spread of 2x, in decades."""


@dataclass(frozen=True)
class Pair:
    """One seed's two calls: log10 of the second's over the first's anchor and LR."""

    anchor: float
    lr: float


def pairs(tags: list[str], cache: Path = DEFAULT_CACHE) -> dict[str, list[Pair]]:
    """Task -> one :class:`Pair` per seed with both families' records.

    The suite's tasks and the held-out ones only: a longer-budget variant of a task runs
    the same range test and confirmation, so its records would count the same pair again.
    Each seed is read under the first of ``tags`` that holds both families' records (a
    rerun of the same code under a later tag is the same measurement, not another one).
    """
    out: dict[str, list[Pair]] = {}
    for name, task in {**TASKS, **HOLDOUT_TASKS}.items():
        finder = cache / f"{name}-{task.fingerprint()}" / "finder"
        for seed in SEEDS:
            for tag in tags:
                paths = [
                    finder / f"{f}-{tag}-seed={seed}-scale=1.0-shift=0.0.json" for f in FAMILIES
                ]
                if all(p.exists() for p in paths):
                    break
            else:
                continue
            auto, val = (_confirmation(json.loads(p.read_text())["confirmation"]) for p in paths)
            if auto is None or val is None:
                continue
            pair = Pair(math.log10(val.anchor / auto.anchor), math.log10(val.lr / auto.lr))
            out.setdefault(name, []).append(pair)
    return out


def robust_sigma(differences: list[float]) -> float:
    r"""One call's noise from two calls' differences: :math:`\operatorname{median}|d| / 0.954`.

    ``0.954`` is :math:`0.6745 \sqrt 2`, the median of :math:`|d|` for
    :math:`d \sim N(0, 2)`.
    """
    return statistics.median(abs(d) for d in differences) / (MEDIAN_ABS * math.sqrt(2))


def spread_chances(sigma: float, calls: int, rng: np.random.Generator) -> tuple[float, float]:
    r"""The seed spread that noise alone gives: its median, and how often it passes 2x.

    Draws ``calls`` values :math:`x_i \sim N(0, \sigma^2)` (log10 LRs), :data:`SIMULATIONS`
    times, and reads the spread :math:`10^{\max_i x_i - \min_i x_i}`.

    Args:
        sigma: One call's noise, in decades (0 or more).
        calls: Calls per task (seeds), at least 1.
        rng: The random generator.

    Returns:
        The median spread (a factor) and the fraction of draws whose spread is over 2x.
    """
    draws = rng.normal(0.0, sigma, size=(SIMULATIONS, calls))
    ranges = draws.max(axis=1) - draws.min(axis=1)
    return float(10 ** np.median(ranges)), float(np.mean(ranges > TWO))


def _task_rows(found: dict[str, list[Pair]]) -> list[str]:
    rows = [
        "| task | seeds | anchor ratio (median, largest) | LR ratio (median, largest) |",
        "|---|---|---|---|",
    ]
    for name, ps in found.items():
        a = [abs(p.anchor) for p in ps]
        lr = [abs(p.lr) for p in ps]
        rows.append(
            f"| {name} | {len(ps)} | {10 ** statistics.median(a):.2f}x, {10 ** max(a):.1f}x | "
            f"{10 ** statistics.median(lr):.2f}x, {10 ** max(lr):.1f}x |"
        )
    return rows


def _spread_cell(sigma: float, calls: int, tasks: int, rng: np.random.Generator) -> str:
    median, over = spread_chances(sigma, calls, rng)
    within = (1.0 - over) ** tasks
    return (
        f"{median:.2f}x; over 2x {100 * over:.0f}% per task, "
        f"all {tasks} within 2x {100 * within:.1f}%"
    )


def _pooled_rows(every: list[Pair], tasks: int, rng: np.random.Generator) -> list[str]:
    anchors, lrs = [p.anchor for p in every], [p.lr for p in every]
    rows = ["| over every pair | anchor | confirmed LR |", "|---|---|---|"]
    for label, q in (("median ratio", 0.5), ("90th percentile", 0.9)):
        a, lr = (10 ** float(np.quantile(np.abs(v), q)) for v in (anchors, lrs))
        rows.append(f"| {label} | {a:.2f}x | {lr:.2f}x |")
    signed = [statistics.median(v) for v in (anchors, lrs)]
    rows.append(f"| signed median log10 ratio (bias) | {signed[0]:+.3f} | {signed[1]:+.3f} |")
    sigmas = [robust_sigma(anchors), robust_sigma(lrs)]
    rms = [math.sqrt(statistics.mean(d * d for d in v) / 2.0) for v in (anchors, lrs)]
    rows.append(f"| sigma of one call (decades) | {sigmas[0]:.3f} | {sigmas[1]:.3f} |")
    rows.append(f"| (from the mean square instead) | {rms[0]:.3f} | {rms[1]:.3f} |")
    for calls in (3, 8):
        cells = [_spread_cell(s, calls, tasks, rng) for s in sigmas]
        rows.append(f"| spread over {calls} calls | {cells[0]} | {cells[1]} |")
    return rows


def _slope_rows(every: list[Pair], rng: np.random.Generator) -> list[str]:
    anchors = np.array([p.anchor for p in every])
    lrs = np.array([p.lr for p in every])
    if len(every) < 3 or np.ptp(anchors) == 0:  # a line needs three points that differ
        return []
    slope, intercept = np.polyfit(anchors, lrs, 1)
    own = robust_sigma(list(lrs - slope * anchors - intercept))
    _, over = spread_chances(own, 3, rng)
    return [
        f"| share of the anchor's error the confirmed LR keeps (slope) | | {slope:.2f} |",
        f"| the window's own sigma (decades; with an exact anchor) | | {own:.3f}: over 2x "
        f"over 3 calls {100 * over:.0f}% per task |",
    ]


def _what_if_rows(sigma: float, tasks: int, rng: np.random.Generator) -> list[str]:
    rows = []
    for factor in (1.5, 2.0, 3.0):
        _, over = spread_chances(sigma / factor, 3, rng)
        rows.append(
            f"| sigma / {factor:g}: all {tasks} tasks within 2x over 3 calls | | "
            f"{100 * (1.0 - over) ** tasks:.1f}% |"
        )
    return rows


def table(tags: str, cache: Path = DEFAULT_CACHE) -> str:
    """Per task and over all: the two calls' disagreement, and the spread it implies."""
    found = pairs(tags.split(","), cache)
    if not found:
        raise SystemExit(f"no records of both {FAMILIES} under tags {tags} in {cache}")
    every = [p for ps in found.values() for p in ps]
    rng = np.random.default_rng(0)
    tasks = len(TASKS)
    rows = [
        *_task_rows(found),
        "",
        *_pooled_rows(every, tasks, rng),
        *_slope_rows(every, rng),
        *_what_if_rows(robust_sigma([p.lr for p in every]), tasks, rng),
    ]
    return "\n".join(rows) + f"\n\n{len(every)} pairs over {len(found)} tasks.\n"


def main(argv: list[str] | None = None) -> int:
    """Print the report, or write it to ``--out``."""
    return cached_records_cli(
        "replicate_noise",
        "Two equivalent calls of the default, and the seed spread their disagreement implies",
        "cached `cyclr-auto` and `cyclr-confirm` records of the same seeds",
        table,
        argv,
        version_help="cache tags of both families' records, separated by commas",
    )


if __name__ == "__main__":
    raise SystemExit(main())
