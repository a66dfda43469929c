"""Markdown report of a suite run (``benchmarks/results/suite.md``)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from . import finders
from .clr import CLR_METHODS, clr_table
from .environment import machine, versions
from .run import INVARIANCE_VARIANTS, TaskResults
from .tasks import tolerance

DEFAULT_METHOD = "cyclr-auto-window"
"""What ``range_test(model, opt, data, loss)`` then ``result.suggest()`` gives at the
library's defaults: the confirmation on batches held aside (``held_out="auto"``), without
``total_steps`` (the ``cyclr-auto`` family's window LR)."""
CURVE_METHOD = "cyclr-default"
"""The curve's default reading alone (``held_out=None``); judged as the default where the
``cyclr-auto`` family was not run."""


def _order(method: str) -> tuple[int, str]:
    """Sort key: the default call, the curve's default, cyclr's others, peers, prototypes."""
    if method == DEFAULT_METHOD:
        return (0, method)
    if method == CURVE_METHOD:
        return (1, method)
    if method.startswith("cyclr-"):
        return (2, method)
    if method.startswith("proto-"):
        return (4, method)
    return (3, method)


def _fmt_lr(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _fmt(v: float | None, digits: int = 2) -> str:
    if v is not None and math.isinf(v):
        return "inf"
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


@dataclass
class MethodTask:
    """One method on one task: per-seed suggestions, metrics and regrets."""

    lrs: dict[int, float | None]
    metrics: dict[int, float]
    regrets: dict[int, float]
    failures: dict[int, str]
    steps: dict[int, int]

    @property
    def median_lr(self) -> float | None:
        """Geometric median of the suggested LRs (over seeds that gave one)."""
        vals = [v for v in self.lrs.values() if v is not None]
        if not vals:
            return None
        return float(math.exp(statistics.median(math.log(v) for v in vals)))

    @property
    def spread(self) -> float | None:
        """max / min of the suggested LRs over seeds (``inf`` if any seed gave none)."""
        vals = [v for v in self.lrs.values() if v is not None]
        if not vals:
            return None
        if len(vals) < len(self.lrs):
            return math.inf
        return max(vals) / min(vals)

    @property
    def median_regret(self) -> float | None:
        """Median regret over seeds (a missing suggestion counts as chance level)."""
        return statistics.median(self.regrets.values()) if self.regrets else None

    @property
    def worst_regret(self) -> float | None:
        """Largest regret over seeds."""
        return max(self.regrets.values()) if self.regrets else None


def method_task(tr: TaskResults, method: str) -> MethodTask:
    """Collect a method's numbers on a task (needs the oracle)."""
    task = tr.task
    assert tr.oracle is not None
    lrs: dict[int, float | None] = {}
    metrics: dict[int, float] = {}
    regrets: dict[int, float] = {}
    failures: dict[int, str] = {}
    steps: dict[int, int] = {}
    runs = tr.runs.get(method, {})
    for family_recs in tr.records.values():
        for seed, rec in family_recs.items():
            if method not in rec.suggestions:
                continue
            lr = rec.suggestions[method]
            if lr is not None and seed not in runs:
                continue  # not trained yet (a read-only report during a run)
            lrs[seed] = lr
            steps[seed] = rec.steps
            run = runs.get(seed)
            if lr is None or run is None:
                value = task.failure_value()
                failures[seed] = rec.errors.get(method, "no suggestion")
            else:
                value = run.final
                if run.diverged:
                    failures[seed] = f"training at lr={lr:.3g} diverged (non-finite loss)"
                elif task.collapsed(value):
                    failures[seed] = f"training at lr={lr:.3g} ended at chance level"
            metrics[seed] = value
            regrets[seed] = task.regret(tr.oracle.metric, value)
    return MethodTask(lrs, metrics, regrets, failures, steps)


def methods_of(results: dict[str, TaskResults]) -> list[str]:
    """All suggestion methods seen, in report order."""
    seen: set[str] = set()
    for tr in results.values():
        for recs in tr.records.values():
            for rec in recs.values():
                seen.update(m for m in rec.suggestions if m not in CLR_METHODS)
    return sorted(seen, key=_order)


def render(
    results: dict[str, TaskResults],
    command: str,
    threads: int,
    wall_s: float | None,
    notes: list[str] | None = None,
) -> str:
    """The full markdown report."""
    lines: list[str] = []
    add = lines.append
    add("# Benchmark suite: LR finder suggestions and CLR schedules")
    add("")
    add(f"Command: `{command}`  ")
    add(f"Machine: {machine()}; `torch.set_num_threads({threads})`  ")
    add("Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + "  ")
    if wall_s is not None:
        add(
            f"Wall time of this invocation: {wall_s / 60:.1f} min (cached work is not redone; "
            "cached units may come from earlier invocations, possibly with another thread "
            "count, which changes results only by float rounding)  "
        )
    families = sorted({f for tr in results.values() for f in tr.records})
    if families:
        status = []
        for f in families:
            problem = finders.check_family(f)
            status.append(f"{f}: {'ok' if problem is None else 'FAILED (' + problem + ')'}")
        add(
            "Finders: " + "; ".join(status) + ". Peers run 1e-7 -> 10 over 100 iterations; "
            "cyclr runs `cyclr.torch.range_test` with `held_out=None` (the curve alone; "
            "`cyclr-default` is its default reading); cyclr-auto runs it at its defaults "
            '(`held_out="auto"`) with `total_steps=` the budget (`cyclr-auto`; '
            f"`{DEFAULT_METHOD}` is the default call's answer, without `total_steps`); "
            "cyclr-confirm runs it with `held_out=` (the training examples less a validation "
            "fifth, at most 1,000, which is the held-out set; see "
            "`benchmarks/suite/finders_confirm.py`)."
        )
    add("")
    add(
        "Regret = oracle metric - metric at the suggestion (accuracy points), or "
        "(loss - oracle loss) / oracle loss in % for loss and MSE metrics; positive is worse "
        "than the best fixed LR. Target: <= 1 point / <= 3% (loss) / <= 5% (MSE). A method "
        "that gives no suggestion, or whose LR diverges, scores chance level (accuracy 10%, "
        "loss ln(vocab), MSE of predicting the training mean). LRs are "
        "geometric medians over seeds; spread = max / min over the seeds."
    )
    add("")
    for note in notes or []:
        add(note)
        add("")

    _tasks_table(results, add)
    methods = methods_of(results)
    if methods and all(tr.oracle is not None for tr in results.values()):
        summaries = summarize(results, methods)
        _verdict(summaries, add)
        _summary_table(summaries, add)
        for tr in results.values():
            _task_table(tr, methods, add)
        _cost_table(results, add)
        _failures(results, methods, add)
    _invariance_table(results, add)
    clr_table(results, add)
    return "\n".join(lines) + "\n"


def _tasks_table(results: dict[str, TaskResults], add: Any) -> None:
    add("## Tasks and oracle")
    add("")
    add(
        "Oracle: fixed LR on a half-decade grid (extended until the best is interior), "
        "mean final metric over the oracle seeds. s/run: wall time of one training run at "
        "the oracle LR (measured in the `timing` phase when it ran)."
    )
    add("")
    add(
        "| task | data | model | optimizer | batch | steps | metric | s/run | oracle LR | "
        "oracle metric (sd) | grid: mean metric per LR |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    for tr in results.values():
        t = tr.task
        o = tr.oracle
        opt = t.optimizer + (f", wd {t.weight_decay:g}" if t.weight_decay else "")
        if t.optimizer == "sgd":
            opt = f"SGD m={t.momentum:g}" + (f", wd {t.weight_decay:g}" if t.weight_decay else "")
        if o is None:
            add(
                f"| {t.name} | {t.data} | {t.model} | {opt} | {t.batch_size} | {t.steps} | "
                f"{t.metric} | - | - | - | - |"
            )
            continue
        grid = ", ".join(f"{lr:.3g}: {m:.3g}" for lr, m in o.grid.items())
        interior = "" if o.interior else " (edge)"
        add(
            f"| {t.name} | {t.data} | {t.model} | {opt} | {t.batch_size} | {t.steps} | "
            f"{t.metric} | {_run_time(tr):.1f} | {o.lr:.3g}{interior} | "
            f"{o.metric:.4g} ({o.sd:.2g}) | {grid} |"
        )
    add("")


def _run_time(tr: TaskResults) -> float:
    if "train" in tr.timing:
        return tr.timing["train"]
    walls = [r.wall_s for runs in tr.runs.values() for r in runs.values() if r is not None]
    walls += [r.wall_s for runs in tr.clr.values() for r in runs.values()]
    return statistics.median(walls) if walls else math.nan


@dataclass
class MethodSummary:
    """A method over all tasks; regrets in units of each task's target."""

    medians: dict[str, float]
    worst_run: float
    failures: int
    runs: int
    max_spread: float | None
    steps: list[int]

    @property
    def median(self) -> float:
        """Median over tasks of the per-task median regret."""
        return statistics.median(self.medians.values())

    @property
    def over(self) -> list[str]:
        """Tasks whose median regret exceeds the target."""
        return [t for t, v in self.medians.items() if v > 1.0]


def summarize(results: dict[str, TaskResults], methods: list[str]) -> dict[str, MethodSummary]:
    """Per-method summaries over the tasks where the method ran."""
    out: dict[str, MethodSummary] = {}
    for m in methods:
        meds: dict[str, float] = {}
        worst, spreads, fails, n_runs, steps = [], [], 0, 0, []
        for tr in results.values():
            mt = method_task(tr, m)
            if mt.median_regret is None:
                continue
            tol = tolerance(tr.task)
            meds[tr.task.name] = mt.median_regret / tol
            worst.append((mt.worst_regret or 0.0) / tol)
            if mt.spread is not None:
                spreads.append(mt.spread)
            fails += len(mt.failures)
            n_runs += len(mt.regrets)
            steps += [v for v in mt.steps.values() if v]
        if meds:
            out[m] = MethodSummary(
                meds, max(worst), fails, n_runs, max(spreads, default=None), steps
            )
    return out


def _summary_table(summaries: dict[str, MethodSummary], add: Any) -> None:
    add("## Per method, over all tasks")
    add("")
    add(
        "Regrets in units of each task's target (1 accuracy point, 3% of the loss or 5% of "
        "the MSE), so "
        "1.0 = at the target. `median` = median over tasks of the per-task median regret; "
        "`worst task` = the largest per-task median; `worst run` = the largest single-seed "
        "regret; `tasks > target` counts per-task medians above 1.0; `failures` = seeds "
        "with no suggestion, or whose run diverged or ended at chance level; "
        "`max spread` = the largest per-task seed spread (max / min LR; inf when a seed "
        "gave no suggestion); `steps` = the most training steps one suggestion cost (the "
        "range test with its reruns, plus `cyclr-confirmed`'s confirmation), median in "
        "brackets."
    )
    add("")
    add(
        "| method | median | worst task | worst run | tasks > target | failures | max spread "
        "| steps |"
    )
    add("|---|---|---|---|---|---|---|---|")
    for m, ms in summaries.items():
        steps = f"{max(ms.steps)} ({statistics.median(ms.steps):.0f})" if ms.steps else "-"
        add(
            f"| {m} | {ms.median:.2f} | {max(ms.medians.values()):.2f} | {ms.worst_run:.2f} "
            f"| {len(ms.over)}/{len(ms.medians)} | {ms.failures}/{ms.runs} | "
            f"{_fmt(ms.max_spread, 1)} | {steps} |"
        )
    add("")


def _verdict(summaries: dict[str, MethodSummary], add: Any) -> None:
    judged = next((m for m in (DEFAULT_METHOD, CURVE_METHOD) if m in summaries), None)
    if judged is None:
        return
    best = min(summaries, key=lambda m: summaries[m].median)
    peers = {m: v for m, v in summaries.items() if not m.startswith(("cyclr-", "proto-"))}
    best_peer = min(peers, key=lambda m: peers[m].median) if peers else None
    d = summaries[judged]
    add(f"## Targets for cyclr's default suggestion ({judged})")
    add("")
    add(
        f"- Lowest median regret of all methods: **{'yes' if best == judged else 'no'}**"
        f" ({judged} {d.median:.2f}; lowest: {best} {summaries[best].median:.2f}"
        + (f"; best peer: {best_peer} {peers[best_peer].median:.2f})" if best_peer else ")")
    )
    over = ", ".join(f"{t} {d.medians[t]:.1f}" for t in d.over) or "none"
    add(f"- No task above the regret target: **{'yes' if not d.over else 'no'}** (over: {over})")
    spread_ok = d.max_spread is not None and d.max_spread <= 2.0
    add(
        f"- Seed spread of the suggested LR within 2x on every task: "
        f"**{'yes' if spread_ok else 'no'}** (largest {_fmt(d.max_spread, 1)})"
    )
    add("")


def _task_table(tr: TaskResults, methods: list[str], add: Any) -> None:
    t = tr.task
    o = tr.oracle
    assert o is not None
    unit = t.regret_unit
    add(f"### {t.name}")
    add("")
    add(f"Oracle: lr {o.lr:.3g}, {t.metric} {o.metric:.4g} (sd {o.sd:.2g} over seeds).")
    add("")
    add(
        f"| method | median LR | spread | median {t.metric} | median regret ({unit}) | "
        f"worst regret ({unit}) | failures | median steps |"
    )
    add("|---|---|---|---|---|---|---|---|")
    for m in methods:
        mt = method_task(tr, m)
        if not mt.lrs:
            continue
        med_metric = statistics.median(mt.metrics.values()) if mt.metrics else None
        steps = [v for v in mt.steps.values() if v]
        add(
            f"| {m} | {_fmt_lr(mt.median_lr)} | {_fmt(mt.spread, 1)} | {_fmt(med_metric, 3)} | "
            f"{_fmt(mt.median_regret)} | {_fmt(mt.worst_regret)} | "
            f"{len(mt.failures)}/{len(mt.lrs)} | "
            f"{f'{statistics.median(steps):.0f}' if steps else '-'} |"
        )
    add("")


def _cost_table(results: dict[str, TaskResults], add: Any) -> None:
    add("## Cost of the range test")
    add("")
    add(
        "Median optimizer steps of one range test over the seeds (all methods of a family "
        "read the same test; cyclr-confirm's include its confirmation, `result.steps_spent`), "
        "and its wall time: measured back to back for seed 0 in the "
        "`timing` phase of this invocation (suggestion included), or else the median of "
        "the cached tests (marked *, which may have run while the machine was busy)."
    )
    add("")
    families: list[str] = []
    for tr in results.values():
        for f in tr.records:
            if f not in families:
                families.append(f)
    add("| task | " + " | ".join(families) + " |")
    add("|---|" + "---|" * len(families))
    for tr in results.values():
        cells = []
        for f in families:
            recs = [r for r in tr.records.get(f, {}).values() if r.steps]
            if not recs:
                cells.append("-")
                continue
            steps = statistics.median(r.steps for r in recs)
            if f in tr.timing:
                cells.append(f"{steps:.0f} steps, {tr.timing[f]:.2f}s")
            else:
                wall = statistics.median(r.wall_s for r in recs)
                cells.append(f"{steps:.0f} steps, {wall:.2f}s*")
        add(f"| {tr.task.name} | " + " | ".join(cells) + " |")
    add("")


def _failures(results: dict[str, TaskResults], methods: list[str], add: Any) -> None:
    reasons: dict[str, set[str]] = {}
    for tr in results.values():
        for m in methods:
            for seed, why in method_task(tr, m).failures.items():
                reasons.setdefault(m, set()).add(f"{tr.task.name} seed {seed}: {why}")
    if not reasons:
        return
    add("## Failures")
    add("")
    for m in sorted(reasons, key=_order):
        items = sorted(reasons[m])
        shown = items[:6]
        more = f" (+{len(items) - 6} more)" if len(items) > 6 else ""
        add(f"- **{m}**: " + "; ".join(shown) + more)
    add("")


def _invariance_table(results: dict[str, TaskResults], add: Any) -> None:
    rows = [(tr, m, v) for tr in results.values() for m, v in tr.invariance.items()]
    if not rows:
        return
    add("## Loss scale and shift")
    add("")
    add(
        "The same range test with the criterion replaced by `100 * loss` and by `loss + 10` "
        "(Adam: the updates are unchanged up to eps, so only the reading of the curve can "
        "move; `cyclr-confirmed`'s held-out score, final loss plus its largest rise, scales "
        "and shifts with the loss, so its choice among the candidates cannot move either). "
        "Factor = max over seeds of max(lr'/lr, lr/lr'); 1.00 = unmoved; `n/a` = no "
        "suggestion on one of the curves."
    )
    add("")
    labels = [f"x{a:g}" if b == 0 else f"+{b:g}" for a, b in INVARIANCE_VARIANTS]
    add("| task | method | " + " | ".join(labels) + " |")
    add("|---|---|" + "---|" * len(labels))
    for tr, method, by_variant in sorted(rows, key=lambda r: (r[0].task.name, _order(r[1]))):
        if method in CLR_METHODS:
            continue
        base = by_variant.get((1.0, 0.0), {})
        cells = []
        for variant in INVARIANCE_VARIANTS:
            other = by_variant.get(variant, {})
            factors = []
            missing = False
            for seed, lr0 in base.items():
                lr1 = other.get(seed)
                if lr0 is None or lr1 is None:
                    missing = missing or (lr0 is None) != (lr1 is None)
                    continue
                factors.append(max(lr1 / lr0, lr0 / lr1))
            cell = f"{max(factors):.2f}" if factors else "n/a"
            if missing:
                cell += " (n/a on some seeds)"
            cells.append(cell)
        add(f"| {tr.task.name} | {method} | " + " | ".join(cells) + " |")
    add("")
