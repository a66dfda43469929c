"""The suite's CLR phase: schedules between cyclr's bounds, built as a user builds them.

Every schedule comes from :func:`cyclr.rangetest.plan.schedule_from_bounds`, the function
behind ``RangeTestResult.schedule(kind, steps_per_epoch=..., total_steps=...)``, with the
bounds a rule reads from one finder family's record (:data:`CLR_SOURCES`): ``smith`` and
``bottom`` are ``clr_bounds(rule=...)`` of the seed's default range test (``cyclr``
family); ``confirmed`` is ``result.clr_bounds()`` of ``range_test(..., held_out=...)``
(``cyclr-confirm`` family), the confirmation's bounds, so its schedules are exactly what
``result.schedule(kind, ...)`` gives a user of the one call. So the cycle length is
the one the library fits to the run (whole cycles of 2 to 10 epochs per half cycle, one
cycle over the run when it is shorter than 4 epochs), not one chosen for the benchmark:

* ``triangular2`` and ``exp_range``: the fitted cycles over the run, ending at
  ``base_lr``. ``exp_range`` keeps the library's default ``gamma``: Smith's decay per half
  cycle, ``0.99994 ** 2000`` (CIFAR-10, ``step_size_up = 2000``), spread over the fitted
  half cycle: ``gamma = 0.99994 ** (2000 / step_size_up)``.
* ``onecycle``: ``max_lr`` the upper bound, ``div_factor = max_lr / base_lr``, the
  library's ``pct_start = 0.3``, cosine, final ``lr = base_lr / 1e4``; the optimizer's
  own momentum, as ``Scheduler(optimizer, result.schedule("onecycle", ...))`` leaves it
  (cyclr changes momentum only when asked).
* ``-half``: the same schedule fitted to half the budget, trained for half the budget:
  does it reach the fixed LR's final metric in half the steps?
* ``onecycle-cycledmom`` (only with ``--clr-kinds``): one-cycle with momentum (SGD
  momentum or Adam's beta1) cycled 0.95 -> 0.85 -> 0.95 as Smith advises, what
  ``Scheduler(..., momentum=schedule.momentum(0.85, 0.95))`` does. (Before this kind
  existed, ``onecycle`` cycled momentum and ``onecycle-fixedmom`` held it; the cache
  keys keep those names, see :func:`cache_kind`.)

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186 (sections 3.1-3.3; ``exp_range``'s gamma).
"""

from __future__ import annotations

import itertools
import math
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .finders_confirm import FLOW_TIMES
from .store import NotCachedError, Store
from .tasks import Task, tolerance
from .train import RunResult, mean_curve, reach_ratio, train


@dataclass(frozen=True)
class BoundsSource:
    """Where a CLR rule's bounds live: ``family``'s record, ``{prefix}-base``/``-max``."""

    family: str
    prefix: str


CLR_SOURCES = {
    "smith": BoundsSource("cyclr", "cyclr-clr"),
    "bottom": BoundsSource("cyclr", "cyclr-clr-bottom"),
    "confirmed": BoundsSource("cyclr-confirm", "cyclr-confirmed"),
    "confirmed-window": BoundsSource("cyclr-confirm", "cyclr-confirmed"),
    "confirmed-end": BoundsSource("cyclr-confirm", "cyclr-confirmed-end"),
    "confirmed-steady": BoundsSource("cyclr-confirm", "cyclr-confirmed-steady"),
    "auto": BoundsSource("cyclr-auto", "cyclr-auto"),
    "auto-path": BoundsSource("cyclr-auto", "cyclr-auto"),
}
"""Bounds rules whose bounds drive the CLR runs: the finder family and method prefix.

The ``cyclr`` family's rules are ``clr_bounds(rule=...)`` re-read from the stored curve
(the rule name is the library's ``rule=``); ``confirmed`` is the ``cyclr-confirm``
family's ``result.clr_bounds()``, the confirmation's bounds; ``confirmed-end`` a prototype:
those bounds moved up half a decade when the confirmed LR is the largest candidate
(:data:`.finders_confirm.END_BOUNDS`); ``confirmed-steady`` a prototype: those bounds
moved up a quarter decade when every candidate trained steadily and the peak is the
largest (:data:`.finders_confirm.STEADY_BOUNDS`). ``confirmed`` and ``confirmed-steady``
are fitted to the run's length as
``result.schedule(..., total_steps=budget)`` fits it (:func:`run_bounds`);
``confirmed-window`` is the same bounds unscaled, as before that fitting existed; ``auto``
is the ``cyclr-auto`` family's (``held_out="auto"``), fitted the same way; ``auto-path`` a
prototype: ``auto``'s peak no higher than the largest candidate still on the smaller
ones' gradient-flow path (:func:`path_bounds`)."""
RUN_LENGTH_RULES = ("confirmed", "confirmed-steady", "auto", "auto-path")
"""Rules whose bounds the run's length scales (:func:`run_bounds`)."""
CURVE_RULES = tuple(r for r, src in CLR_SOURCES.items() if src.family == "cyclr")
"""Rules re-read from the ``cyclr`` family's curve with ``clr_bounds(rule=...)``."""
DEFAULT_CLR_RULES = ("smith", "bottom")
"""The rules the CLR phase runs unless told otherwise."""
CLR_METHODS = (
    *dict.fromkeys(
        f"{src.prefix}-{end}" for src in CLR_SOURCES.values() for end in ("base", "max")
    ),
    *FLOW_TIMES.values(),
)
"""Records' entries that are not LRs to train at: bounds (recorded for the report's
record) and the confirmation's flow time (which scales the ``confirmed`` bounds)."""
LAGGED = {"smith-lag": "smith", "bottom-lag": "bottom"}
"""Bounds moved back by the momentum lag (see :func:`lag_factor`), by source rule."""
CLR_RULES = (*CLR_SOURCES, *LAGGED)
"""Every bounds rule the CLR phase can run."""
CLR_KINDS = (
    "triangular2",
    "exp_range",
    "onecycle",
    "triangular2-half",
    "exp_range-half",
    "onecycle-half",
)
"""The CLR runs: each schedule over the oracle's budget, and over half of it (``-half``)."""
CYCLED_MOMENTUM = "-cycledmom"
"""Suffix of a one-cycle run whose momentum is cycled as Smith advises."""
EXTRA_KINDS = ("onecycle" + CYCLED_MOMENTUM,)
"""Kinds run only when asked for (``--clr-kinds``)."""
ALL_CLR_KINDS = (*CLR_KINDS, *EXTRA_KINDS)
"""Every kind the CLR phase can run."""
ONECYCLE_MOMENTUM = (0.85, 0.95)
"""One-cycle's momentum range (low at the LR peak, high at both ends)."""
HALF_UNIT = {"accuracy": 0.5, "loss": 3.0, "mse": 5.0}
"""Smallest "beyond seed noise" gap: 0.5 accuracy points, 3% of a loss, 5% of an MSE."""


def steps_per_epoch(task: Task) -> int:
    """Optimizer steps per pass over the training split (full batches only)."""
    return len(task.split().x_train) // task.batch_size


def lag_factor(task: Task, lrs: Sequence[float]) -> float:
    """How far the curve's LRs run ahead of the loss they are read against, as a factor.

    With momentum ``beta`` (SGD momentum, or Adam's ``beta1 = 0.9``) the update at step
    ``t`` averages gradients ``beta / (1 - beta)`` steps old on average, so the loss the
    sweep records at LR ``lr_t`` answers to the LR that many steps earlier. Moving both
    bounds back by that many steps of the sweep: ``10 ** (-lag * dx)``, with ``dx`` the
    sweep's median step in log10(LR). Plain SGD has no lag (factor 1).
    """
    beta = task.first_moment
    if beta <= 0 or len(lrs) < 2:
        return 1.0
    logs = [math.log10(v) for v in lrs]
    dx = statistics.median(b - a for a, b in itertools.pairwise(logs))
    return float(10.0 ** (-(beta / (1.0 - beta)) * dx))


def source_of(rule: str) -> BoundsSource:
    """The record ``rule``'s bounds are read from (a lagged rule's: its source rule's)."""
    return CLR_SOURCES[LAGGED.get(rule, rule)]


def bounds_of(task: Task, rec: Any, rule: str) -> tuple[float, float] | None:
    """``(base_lr, max_lr)`` of a range-test record under ``rule`` (``None``: no bounds).

    ``rec`` is the record of ``source_of(rule).family`` for the seed.
    """
    prefix = source_of(rule).prefix
    base, peak = rec.suggestions.get(f"{prefix}-base"), rec.suggestions.get(f"{prefix}-max")
    if base is None or peak is None:
        return None
    if rule == "auto-path":
        return path_bounds(rec, base, peak)
    factor = lag_factor(task, rec.lrs) if rule in LAGGED else 1.0
    return base * factor, peak * factor


def path_bounds(rec: Any, base: float, peak: float) -> tuple[float, float]:
    """A prototype: the confirmation's peak no higher than its flow path's end.

    ``peak`` (the largest candidate that trained steadily, or the confirmed LR if larger)
    is lowered to the largest candidate whose held-out loss at equal flow time ``lr * t``
    is as low as the smaller candidates' (:func:`cyclr.rangetest.horizon.flow_path_end`),
    never below the confirmed LR: a candidate steady for 40 steps but lagging the flow
    (a recurrent network near its cliff) is past where a schedule's peak should go.
    ``base`` keeps its ratio to the peak.
    """
    import numpy as np

    from cyclr.rangetest.scores import held_out_bar, untrained_loss
    from cyclr.rangetest.storage import _confirmation

    c = _confirmation(rec.confirmation) if rec.confirmation else None
    if c is None:
        return base, peak
    losses = np.asarray([math.nan if v is None else v for v in rec.losses], dtype=float)
    bar = held_out_bar(losses, c.start_loss, c.held_out_steps)
    path = c.horizon(None, bar, untrained_loss(losses)).path_lr
    if path is None:
        return base, peak
    new_peak = max(c.lr, min(peak, path))
    return base * new_peak / peak, new_peak


def clr_steps(task: Task, kind: str) -> int:
    """The step budget of a CLR run: the task's, or half of it for a ``-half`` kind."""
    return task.steps // 2 if kind.endswith("-half") else task.steps


def make_schedule(task: Task, kind: str, base: float, peak: float) -> Any:
    """The schedule ``RangeTestResult.schedule`` builds for this run (see the module doc)."""
    from cyclr.rangetest.plan import schedule_from_bounds

    name = kind.removesuffix("-half").removesuffix(CYCLED_MOMENTUM)
    total, spe = clr_steps(task, kind), steps_per_epoch(task)
    with warnings.catch_warnings():  # a run under 4 epochs gets one cycle, as documented
        warnings.simplefilter("ignore", UserWarning)
        return schedule_from_bounds(
            name, lambda: (base, peak), spe, total_steps=total, overrides={}
        )


def run_bounds(
    task: Task, kind: str, rule: str, base: float, peak: float, flow_time: float | None
) -> tuple[float, float]:
    """The bounds ``result.schedule(kind, ..., total_steps=...)`` trains between.

    For :data:`RUN_LENGTH_RULES`, both bounds scaled by
    :func:`cyclr.rangetest.horizon.flow_time_factor` when the confirmation saw the
    held-out loss turn up (``flow_time``, the record's ``cyclr-confirmed-flow-time``);
    otherwise unchanged.
    """
    if rule not in RUN_LENGTH_RULES or flow_time is None:
        return base, peak
    from cyclr.rangetest.horizon import flow_time_factor

    factor = flow_time_factor(
        make_schedule(task, kind, base, peak), clr_steps(task, kind), flow_time
    )
    return base * factor, peak * factor


def cycles_of(task: Task, kind: str, schedule: Any) -> float:
    """How many cycles the run holds (1 for one-cycle)."""
    cycle = getattr(schedule, "cycle_steps", None)
    return 1.0 if cycle is None else clr_steps(task, kind) / int(cycle)


def cache_kind(kind: str) -> str:
    """The name a run of ``kind`` is cached under.

    One-cycle runs were once cached as ``onecycle`` (momentum cycled) and
    ``onecycle-fixedmom`` (held); the names stay, so cached runs are read as what they
    are: ``onecycle`` is now the held kind, ``onecycle-cycledmom`` the cycled one.
    """
    if not kind.startswith("onecycle"):
        return kind
    half = "-half" if kind.endswith("-half") else ""
    if CYCLED_MOMENTUM in kind:
        return "onecycle" + half
    return "onecycle-fixedmom" + half


def schedule_run(
    store: Store,
    task: Task,
    kind: str,
    base: float,
    peak: float,
    seed: int,
    read_only: bool,
    log: Callable[[str], None],
) -> RunResult:
    """Train with a CLR schedule between the bounds (cached)."""
    key = f"fit-{cache_kind(kind)}-base={base!r}-max={peak!r}-seed={seed}"
    rec = store.get(task, "clr", key)
    if rec is not None:
        return RunResult.from_dict(rec)
    if read_only:
        raise NotCachedError(key)
    sched = make_schedule(task, kind, base, peak)
    momentum = None
    if CYCLED_MOMENTUM in kind and task.momentum > 0:
        mom = sched.momentum(*ONECYCLE_MOMENTUM)
        momentum = lambda step: float(mom(step))  # noqa: E731
    res = train(
        task,
        lambda step: float(sched(step)),
        seed,
        steps=clr_steps(task, kind),
        momentum=momentum,
        curve=True,
    )
    store.put(task, "clr", key, res.to_dict())
    log(
        f"  [{task.name}] {kind} {base:.3g}..{peak:.3g} x{cycles_of(task, kind, sched):g} "
        f"cycles seed={seed}: {task.metric}={res.final:.4g} ({res.wall_s:.1f}s)"
    )
    return res


# --------------------------------------------------------------------------------------
# report


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def noise_gap(task: Task, oracle_sd: float, oracle_metric: float) -> float:
    """The seed-noise gap in regret units: the oracle's seed sd, at least :data:`HALF_UNIT`."""
    sd = oracle_sd if task.higher_is_better else 100.0 * oracle_sd / abs(oracle_metric)
    return max(sd, HALF_UNIT[task.metric])


def clr_table(results: dict[str, Any], add: Callable[[str], None]) -> None:
    """The CLR claim's tables: per task and schedule, then the issue's two figures."""
    rows = [tr for tr in results.values() if tr.clr and tr.oracle is not None]
    if not rows:
        return
    add("## CLR claim: triangular2, exp_range and one-cycle from `result.schedule`")
    add("")
    add(
        "Each schedule is what `RangeTestResult.schedule(kind, steps_per_epoch, "
        "total_steps=budget)` builds from the seed's bounds under each rule (`bounds`; see "
        "`benchmarks/suite/clr.py`): `smith` and `bottom` are `clr_bounds(rule=...)` of the "
        "default range test, `confirmed` is `result.clr_bounds()` of `range_test(..., "
        "held_out=...)` (the confirmation's bounds), `-lag` moves a rule's bounds back by the "
        "momentum lag. Cyclical kinds in whole cycles fitted to the "
        "run (`cycles`), ending at `base_lr`; exp_range with Smith's decay per half cycle "
        "(`gamma = 0.99994 ** (2000 / step_size_up)`); one-cycle with `div_factor = "
        "max_lr / base_lr`, pct_start 0.3, momentum 0.95 -> 0.85 -> 0.95. `-half`: the "
        "schedule fitted to half the budget. `steps to oracle` = first evaluated step where "
        "the mean curve over seeds reaches the oracle's final mean metric; `ratio` = that "
        "over the oracle run's own first step reaching it (target <= 0.5). `regret` = oracle "
        "- final mean (points, or % of a loss / MSE; negative = better), `noise` = the "
        "oracle's seed sd, at least 0.5 points / 3% / 5%."
    )
    add("")
    add(
        "| task | bounds | bounds (median) | seeds | oracle steps | schedule | cycles "
        "| final (sd) | regret (noise) | steps to oracle | ratio |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    below: dict[str, list[str]] = {}
    fast: dict[str, set[str]] = {}
    per_kind: dict[tuple[str, str], dict[str, tuple[float, bool, bool]]] = {}
    for tr in rows:
        o, t = tr.oracle, tr.task
        gap = noise_gap(t, o.sd, o.metric)
        for (rule, kind), runs in tr.clr.items():
            bounds = tr.clr_bounds.get(rule, {})
            b = statistics.median(v[0] for v in bounds.values())
            p = statistics.median(v[1] for v in bounds.values())
            rs = list(runs.values())
            finals = [r.final for r in rs]
            mean = statistics.fmean(finals)
            sd = statistics.stdev(finals) if len(finals) > 1 else 0.0
            reach, ratio = reach_ratio(
                mean_curve(rs), o.metric, t.higher_is_better, o.steps_to_final
            )
            regret = t.regret(o.metric, mean)
            cycles = cycles_of(t, kind, make_schedule(t, kind, b, p))
            per_kind.setdefault((rule, kind), {})[t.name] = (
                regret / tolerance(t),
                regret > gap,
                ratio is not None and ratio <= 0.5,
            )
            if kind == "onecycle" and regret > gap:
                below.setdefault(rule, []).append(f"{t.name} ({regret:+.2g})")
            if not kind.startswith("exp_range") and ratio is not None and ratio <= 0.5:
                fast.setdefault(rule, set()).add(t.name)
            add(
                f"| {t.name} | {rule} | {b:.3g} .. {p:.3g} | {len(rs)} | {o.steps_to_final} "
                f"| {kind} | {cycles:g} | {mean:.4g} ({sd:.2g}) | {regret:+.3g} ({gap:.2g}) "
                f"| {reach if reach > 0 else 'not reached'} | {_fmt(ratio)} |"
            )
    add("")
    add("| bounds | one-cycle below the oracle beyond noise | triangular2 / one-cycle <= 0.5x |")
    add("|---|---|---|")
    for rule in sorted({r for tr in rows for r, _ in tr.clr}):
        worse = below.get(rule, [])
        quick = sorted(fast.get(rule, set()))
        add(
            f"| {rule} | {len(worse)}/{len(rows)}: {', '.join(worse) or '-'} "
            f"| {len(quick)}/{len(rows)}: {', '.join(quick) or '-'} |"
        )
    add("")
    add(
        "Per bounds rule and schedule, over the tasks: regret of the 3-seed mean in target "
        "units (1 point, 3% of a loss, 5% of an MSE), tasks below the oracle beyond seed "
        "noise, tasks reaching the oracle's final metric in <= 0.5x its steps."
    )
    add("")
    add("| bounds | schedule | tasks | median regret | worst task | below beyond noise | <= 0.5x |")
    add("|---|---|---|---|---|---|---|")
    for (rule, kind), d in sorted(per_kind.items()):
        regs = [v[0] for v in d.values()]
        worst = max(d, key=lambda name: d[name][0])
        add(
            f"| {rule} | {kind} | {len(d)} | {statistics.median(regs):+.2f} | "
            f"{d[worst][0]:+.1f} ({worst}) | {sum(v[1] for v in d.values())} | "
            f"{sum(v[2] for v in d.values())} |"
        )
    add("")
