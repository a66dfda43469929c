"""Suggestion experiments: prototype rules, leave-one-task-out choice, one-cycle runs.

``python -m benchmarks.suite.experiments [--tasks a,b] [--seeds 3] [--no-schedules]``
reads the suite's cache (run ``python -m benchmarks --seeds 3 --phases
oracle,finders,suggest`` first), trains what the prototype rules of
:mod:`benchmarks.suite.proto_confirm` need, and writes
``benchmarks/results/suggest_experiments.md``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import proto_confirm as pc
from .cli import DEFAULT_CACHE, ORACLE_FILE
from .clr import schedule_run
from .report import method_task, methods_of, tolerance
from .run import Config, TaskResults, fixed_run, run_suite
from .store import Store
from .tasks import TASKS, Task
from .train import RunResult, mean_curve, set_threads, steps_to_reach, train

OUT = Path(__file__).resolve().parent.parent / "results" / "suggest_experiments.md"
PLAIN_TEST = 100
ONECYCLE_K = (1.0, 3.0, 10.0)
SCHEDULE_VARIANTS = (
    "pick",
    "pick-tri2",
    "pick-bounds",
    "stable",
    "smith",
    "bottom",
    "bottom-edge",
    "fastai",
)
"""One-cycle variants: ``pick`` = ``onecycle x{k} (pick)`` (needs the confirmation rules'
LOTO pick, so the prototype rules are trained), ``pick-bounds`` = triangular2, exp_range
and one-cycle between ``(pick / 4, pick)`` as ``Confirmation.schedule`` builds them,
``stable`` = one-cycle (fastai-like) peaking at, and triangular2, exp_range and one-cycle
from a quarter of up to, the largest confirmation candidate whose validation loss only
fell, or the pick if larger (:func:`~benchmarks.suite.proto_val.largest_stable`: what
``Confirmation.bounds`` gives), ``smith`` / ``bottom`` = one-cycle
between
``clr_bounds(rule)``, ``bottom-edge`` = max_lr at a third of the curve's edge (bottom's
max_lr * 10 / 3), base = max / 4, ``fastai`` = fit_one_cycle at fastai's valley."""
DEFAULT_VARIANTS = ("pick", "smith", "bottom", "fastai")


@dataclass
class Scored:
    """One rule on one task: per seed LR, regret (in target units), steps spent."""

    lrs: dict[int, float]
    regrets: dict[int, float]
    steps: dict[int, int]
    failures: int = 0

    @property
    def median(self) -> float:
        """Median regret over seeds."""
        return statistics.median(self.regrets.values())

    @property
    def worst(self) -> float:
        """Worst regret over seeds."""
        return max(self.regrets.values())

    @property
    def spread(self) -> float:
        """max / min suggested LR over seeds."""
        v = list(self.lrs.values())
        return max(v) / min(v) if v else math.nan


def _norm(task: Task, regret: float) -> float:
    return regret / tolerance(task)


def score_rules(
    trs: dict[str, TaskResults],
    store: Store,
    cfg: Config,
    rules: dict[str, pc.Rule],
    seeds: tuple[int, ...],
) -> dict[str, dict[str, Scored]]:
    """rule -> task -> Scored, training whatever the rules pick (cached)."""
    out: dict[str, dict[str, Scored]] = {r: {} for r in rules}
    for name, tr in trs.items():
        task, o = tr.task, tr.oracle
        assert o is not None
        recs = tr.records.get("cyclr", {})
        for seed in seeds:
            rec = recs.get(seed)
            if rec is None or not rec.lrs:
                continue
            ctx = pc.Context(
                task, seed, np.asarray(rec.lrs), np.asarray(rec.losses), rec.steps, store
            )
            t0 = time.perf_counter()
            for rname, rule in rules.items():
                sc = out[rname].setdefault(name, Scored({}, {}, {}))
                try:
                    lr, extra = rule(ctx)
                except Exception as exc:  # no suggestion: chance level
                    cfg.log(f"  [{name}] {rname} seed={seed}: {type(exc).__name__}: {exc}")
                    sc.regrets[seed] = _norm(task, task.regret(o.metric, task.failure_value()))
                    sc.steps[seed] = rec.steps
                    sc.failures += 1
                    continue
                run = fixed_run(store, task, lr, seed, False, cfg)
                sc.lrs[seed] = lr
                sc.regrets[seed] = _norm(task, task.regret(o.metric, run.final))
                sc.steps[seed] = rec.steps + extra
                if run.diverged or task.collapsed(run.final):
                    sc.failures += 1
            cfg.log(f"rules: {name} seed={seed} ({time.perf_counter() - t0:.0f}s)")
    return out


def peers_scored(trs: dict[str, TaskResults]) -> dict[str, dict[str, Scored]]:
    """Every suite method (cyclr's and the peers'), in the same form."""
    methods = methods_of(trs)
    out: dict[str, dict[str, Scored]] = {}
    for m in methods:
        for name, tr in trs.items():
            mt = method_task(tr, m)
            if not mt.regrets:
                continue
            steps = {}
            for recs in tr.records.values():
                for seed, rec in recs.items():
                    if m in rec.suggestions:
                        steps[seed] = rec.steps
            out.setdefault(m, {})[name] = Scored(
                {s: v for s, v in mt.lrs.items() if v is not None},
                {s: _norm(tr.task, r) for s, r in mt.regrets.items()},
                steps,
                len(mt.failures),
            )
    return out


def _select_key(table: dict[str, Scored], tasks: list[str]) -> tuple[float, float]:
    meds = [table[t].median for t in tasks if t in table]
    if len(meds) < len(tasks):
        return (math.inf, math.inf)
    return (round(statistics.median(meds), 1), max(meds))


def loto(
    scored: dict[str, dict[str, Scored]], tasks: list[str], allowed: list[str]
) -> dict[str, tuple[str, Scored]]:
    """Held-out task -> (rule chosen on the other tasks, its score on the held-out one).

    Choice: lowest median over the other tasks of the per-task median regret (rounded to
    0.1 target units), ties by the worst per-task median, then by name.
    """
    out: dict[str, tuple[str, Scored]] = {}
    for held in tasks:
        rest = [t for t in tasks if t != held]
        best = min(allowed, key=lambda r: (*_select_key(scored[r], rest), r))
        out[held] = (best, scored[best][held])
    return out


# --------------------------------------------------------------------------------------
# one-cycle


def onecycle_run(
    store: Store,
    task: Task,
    max_lr: float,
    seed: int,
    div: float = 25.0,
    pct: float = 0.25,
    final_div: float = 1e4,
) -> RunResult:
    """One-cycle over the task's budget (fastai-like by default), cached."""
    from cyclr.schedules import OneCycle

    max_lr = float(f"{max_lr:.4g}")
    key = f"onecycle-max={max_lr!r}-div={div!r}-pct={pct!r}-fdiv={final_div!r}-seed={seed}"
    rec = store.get(task, "clr", key)
    if rec is not None:
        return RunResult.from_dict(rec)
    sched = OneCycle(
        max_lr=max_lr,
        total_steps=task.steps,
        pct_start=pct,
        div_factor=div,
        final_div_factor=final_div,
    )
    mom = sched.momentum(0.85, 0.95)
    res = train(
        task,
        lambda s: float(sched(s)),
        seed,
        momentum=(lambda s: float(mom(s))) if task.momentum > 0 else None,
        curve=True,
    )
    store.put(task, "clr", key, res.to_dict())
    return res


def schedules(
    trs: dict[str, TaskResults],
    store: Store,
    cfg: Config,
    picks: dict[str, dict[int, float]],
    seeds: tuple[int, ...],
    variants: tuple[str, ...] = DEFAULT_VARIANTS,
    peaks: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, dict[str, list[RunResult]]]:
    """task -> schedule name -> runs over seeds (``peaks``, if given: task -> name -> max_lrs)."""
    out: dict[str, dict[str, list[RunResult]]] = {}
    for name, tr in trs.items():
        task = tr.task
        rows: dict[str, list[RunResult]] = {}
        tpeaks = peaks.setdefault(name, {}) if peaks is not None else {}

        def add(kind: str, peak: float, seed: int, **kw: float) -> None:
            t0 = time.perf_counter()
            rows.setdefault(kind, []).append(onecycle_run(store, task, peak, seed, **kw))  # noqa: B023
            tpeaks.setdefault(kind, []).append(peak)  # noqa: B023
            cfg.log(
                f"  [{task.name}] {kind} max_lr={peak:.3g} seed={seed}: "  # noqa: B023
                f"{rows[kind][-1].final:.4g} ({time.perf_counter() - t0:.1f}s)"  # noqa: B023
            )

        for seed in seeds:
            rec = tr.records.get("cyclr", {}).get(seed)
            fa = tr.records.get("fastai", {}).get(seed)
            lr = picks.get(name, {}).get(seed)
            if lr is not None and "pick" in variants:
                for k in ONECYCLE_K:
                    add(f"onecycle x{k:g} (pick)", lr * k, seed)
            if lr is not None and "pick-tri2" in variants:
                for kind in ("triangular2", "triangular2-half"):
                    rows.setdefault(f"{kind} (pick/4..pick)", []).append(
                        schedule_run(store, task, kind, lr / 4, lr, seed, False, cfg.log)
                    )
            if lr is not None and "pick-bounds" in variants:
                tri2 = () if "pick-tri2" in variants else ("triangular2",)  # added above
                for kind in (*tri2, "exp_range", "onecycle"):
                    rows.setdefault(f"{kind} (pick/4..pick)", []).append(
                        schedule_run(store, task, kind, lr / 4, lr, seed, False, cfg.log)
                    )
            if rec is not None and "stable" in variants:
                from .proto_val import largest_stable

                ctx = pc.Context(
                    task, seed, np.asarray(rec.lrs), np.asarray(rec.losses), rec.steps, store
                )
                top = largest_stable(ctx)
                add("onecycle (stable top)", top, seed)
                for kind in ("triangular2", "exp_range", "onecycle"):
                    rows.setdefault(f"{kind} (top/4..top)", []).append(
                        schedule_run(store, task, kind, top / 4, top, seed, False, cfg.log)
                    )
            if rec is not None:
                for rule, prefix in (("smith", "cyclr-clr"), ("bottom", "cyclr-clr-bottom")):
                    base = rec.suggestions.get(f"{prefix}-base")
                    peak = rec.suggestions.get(f"{prefix}-max")
                    if base and peak and rule in variants:
                        add(f"onecycle clr_bounds({rule})", peak, seed, div=peak / base, pct=0.3)
                bmax = rec.suggestions.get("cyclr-clr-bottom-max")
                if bmax and "bottom-edge" in variants:
                    add("onecycle bottom-edge", bmax * 10 / 3, seed, div=4.0, pct=0.3)
            if fa is not None and fa.suggestions.get("fastai-valley") and "fastai" in variants:
                add("fastai fit_one_cycle @ valley", float(fa.suggestions["fastai-valley"]), seed)
        cfg.log(f"schedules: {name}")
        out[name] = rows
    return out


def schedule_summary(tr: TaskResults, runs: list[RunResult]) -> tuple[float, float, int]:
    """(mean final, regret in target units, steps to the oracle's final metric or -1)."""
    o = tr.oracle
    assert o is not None
    t = tr.task
    finals = [r.final for r in runs]
    mean = statistics.fmean(finals)
    return (
        mean,
        _norm(t, t.regret(o.metric, mean)),
        steps_to_reach(mean_curve(runs), o.metric, t.higher_is_better),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the experiments and write the markdown."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite.experiments")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-schedules", action="store_true")
    p.add_argument(
        "--rules",
        default="",
        help="comma list of rule names or shell patterns, e.g. 'bottom,confirm-val-*' "
        "(default all)",
    )
    p.add_argument(
        "--schedule-variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma list of {SCHEDULE_VARIANTS}; without `pick` the prototype rules are "
        "not trained and only the one-cycle report is written",
    )
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    set_threads(args.threads)
    command = "python -m benchmarks.suite.experiments " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    tasks = [t for t in args.tasks.split(",") if t]
    seeds = tuple(range(args.seeds))
    store = Store(DEFAULT_CACHE, ORACLE_FILE)
    cfg = Config(
        tasks=tasks,
        oracle_seeds=(0, 1, 2),
        seeds=seeds,
        phases=("oracle", "finders", "suggest"),
        read_only=True,
    )
    trs = run_suite(cfg, store)
    trs = {n: tr for n, tr in trs.items() if tr.oracle is not None and "cyclr" in tr.records}
    cfg.read_only = False
    variants = tuple(v for v in args.schedule_variants.split(",") if v)
    bad = [v for v in variants if v not in SCHEDULE_VARIANTS]
    if bad:
        p.error(f"unknown schedule variant(s) {bad}; choose from {SCHEDULE_VARIANTS}")
    if not {"pick", "pick-tri2", "pick-bounds", "stable"} & set(variants) and not args.no_schedules:
        from .experiments_report import schedule_table, write_schedule_report

        peaks: dict[str, dict[str, list[float]]] = {}
        sched = schedules(trs, store, cfg, {}, seeds, variants, peaks)
        text = write_schedule_report(command, trs, sched, peaks, schedule_summary, seeds)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        table = schedule_table(trs, sched, schedule_summary)
        args.out.with_suffix(".json").write_text(json.dumps(table, indent=1, sort_keys=True))
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    rules = pc.build_rules()
    if args.rules:
        patterns = [r for r in args.rules.split(",") if r]
        rules = {k: v for k, v in rules.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)}
    scored = score_rules(trs, store, cfg, rules, seeds)
    peers = peers_scored(trs)
    names = list(trs)
    from .experiments_report import write_report

    sched = None
    if not args.no_schedules:
        allowed = [r for r in rules if r.startswith("confirm-")] or list(rules)
        chosen = loto(scored, names, allowed)
        picks = {t: dict(chosen[t][1].lrs) for t in names}
        sched = schedules(trs, store, cfg, picks, seeds, variants)
    text = write_report(
        command, trs, scored, peers, sched, loto, schedule_summary, findings=args.out == OUT
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
