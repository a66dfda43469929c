"""How far two equivalent calls of the default disagree, and the seed spread that implies.

The suite runs the one call twice per task and seed, on nearly the same data: the
``cyclr-auto`` family (``held_out="auto"``: the loader's first batches held aside) and
the ``cyclr-confirm`` family (``held_out=`` a validation fifth of the training examples,
trained on the other four fifths). Same model initialisation, same optimizer, other
batches. Their disagreement is the call's own measurement noise: neither the seed's
model nor the task differ. This reads the cached records of both and reports, per task
and over all, the ratio of the two calls' anchors (the curve's reading) and of their
confirmed LRs (the window's LR, without the run's length), and how much of the anchor's
error the confirmed LR keeps (the slope of one ratio on the other) against the window's
own noise (what is left).

If one call's LR is log-normal around a task's value with a standard deviation of
:math:`\\sigma` decades, two calls differ by :math:`d` with
:math:`d \\sim N(0, 2\\sigma^2)`, so :math:`\\hat\\sigma = \\operatorname{median}|d| /
(0.6745 \\sqrt 2)` (robust: a few tasks whose two calls differ for a reason, not by
noise, would inflate a mean square, which is reported beside it). The
report then simulates the seed spread (max / min over 3 and over 8 calls) such noise
alone gives, and how often every one of 13 tasks would stay within 2x: the suite's
spread target against the call's own noise. The noise differs between tasks (the
per-task median ratios in the table), so the pooled figure overstates it on some and
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
from pathlib import Path

import numpy as np

from cyclr.rangetest.storage import _confirmation

from .cli import DEFAULT_CACHE
from .overfitting_notice import cached_records_cli
from .tasks import ALL_TASKS

FAMILIES = ("cyclr-auto", "cyclr-confirm")
SEEDS = range(8)
SIMULATIONS = 20_000
TASK_COUNT = 13
MEDIAN_ABS = 0.6745
"""The median of ``|z|`` for a standard normal ``z``."""


def pairs(tags: list[str], cache: Path = DEFAULT_CACHE) -> dict[str, list[tuple[float, float]]]:
    """Task -> per seed, ``(log10 anchor ratio, log10 LR ratio)`` of the two calls.

    Each seed is read under the first of ``tags`` that holds both families' records (a
    rerun of the same code under a later tag is the same measurement, not another one).
    """
    out: dict[str, list[tuple[float, float]]] = {}
    for name, task in ALL_TASKS.items():
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
            out.setdefault(name, []).append(
                (math.log10(val.anchor / auto.anchor), math.log10(val.lr / auto.lr))
            )
    return out


def spread_chances(sigma: float, seeds: int, rng: np.random.Generator) -> tuple[float, float]:
    """Median max/min of ``seeds`` log-normal calls, and the chance it exceeds 2x."""
    draws = rng.normal(0.0, sigma, size=(SIMULATIONS, seeds))
    ranges = draws.max(axis=1) - draws.min(axis=1)
    return float(10 ** np.median(ranges)), float(np.mean(ranges > math.log10(2.0)))


def table(tags: str, cache: Path = DEFAULT_CACHE) -> str:
    """Per task and over all: the two calls' disagreement, and the spread it implies."""
    found = pairs(tags.split(","), cache)
    if not found:
        raise SystemExit(f"no records of both {FAMILIES} under tags {tags} in {cache}")
    rows = [
        "| task | seeds | anchor ratio (median, largest) | LR ratio (median, largest) |",
        "|---|---|---|---|",
    ]
    every = [p for name in found for p in found[name]]
    for name, ps in found.items():
        a = [abs(x) for x, _ in ps]
        lr = [abs(y) for _, y in ps]
        rows.append(
            f"| {name} | {len(ps)} | {10 ** statistics.median(a):.2f}x, {10 ** max(a):.1f}x | "
            f"{10 ** statistics.median(lr):.2f}x, {10 ** max(lr):.1f}x |"
        )
    rng = np.random.default_rng(0)
    lines = ["", "| over every pair | anchor | confirmed LR |", "|---|---|---|"]
    sigmas = []
    for label, q in (("median ratio", 0.5), ("90th percentile", 0.9)):
        cells = [10 ** float(np.quantile([abs(p[i]) for p in every], q)) for i in (0, 1)]
        lines.append(f"| {label} | {cells[0]:.2f}x | {cells[1]:.2f}x |")
    for i in (0, 1):
        sigmas.append(statistics.median(abs(p[i]) for p in every) / (MEDIAN_ABS * math.sqrt(2)))
    rms = [math.sqrt(statistics.mean(p[i] ** 2 for p in every) / 2.0) for i in (0, 1)]
    lines.append(f"| sigma of one call (decades) | {sigmas[0]:.3f} | {sigmas[1]:.3f} |")
    lines.append(f"| (from the mean square instead) | {rms[0]:.3f} | {rms[1]:.3f} |")
    for seeds in (3, 8):
        cells = []
        for sigma in sigmas:
            median, over = spread_chances(sigma, seeds, rng)
            every_task = (1.0 - over) ** TASK_COUNT
            cells.append(
                f"{median:.2f}x; over 2x {100 * over:.0f}% per task, "
                f"all {TASK_COUNT} within 2x {100 * every_task:.1f}%"
            )
        lines.append(f"| spread over {seeds} calls | {cells[0]} | {cells[1]} |")
    anchor = np.array([p[0] for p in every])
    confirmed = np.array([p[1] for p in every])
    if len(every) >= 3 and np.ptp(anchor) > 0:  # a line needs three points that differ
        slope, intercept = np.polyfit(anchor, confirmed, 1)
        residual = np.abs(confirmed - slope * anchor - intercept)
        own = float(np.median(residual)) / (MEDIAN_ABS * math.sqrt(2))
        _, over = spread_chances(own, 3, rng)
        lines.append(
            f"| share of the anchor's error the confirmed LR keeps (slope) | | {slope:.2f} |"
        )
        lines.append(
            f"| the window's own sigma (decades; with an exact anchor) | | {own:.3f}: over "
            f"2x over 3 calls {100 * over:.0f}% per task |"
        )
    sigma = sigmas[1]
    for factor in (1.5, 2.0, 3.0):
        _, over = spread_chances(sigma / factor, 3, rng)
        lines.append(
            f"| sigma / {factor:g}: all {TASK_COUNT} tasks within 2x over 3 calls | | "
            f"{100 * (1.0 - over) ** TASK_COUNT:.0f}% |"
        )
    summary = f"\n{len(every)} pairs over {len(found)} tasks.\n"
    return "\n".join(rows + lines) + "\n" + summary


def main(argv: list[str] | None = None) -> int:
    """Print the report, or write it to ``--out``."""
    return cached_records_cli(
        "replicate_noise",
        "Two equivalent calls of the default, and the seed spread their disagreement implies",
        "cached `cyclr-auto` and `cyclr-confirm` records of the same seeds",
        table,
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
