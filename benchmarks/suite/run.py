"""The suite's phases: oracle grid, finders, training at each suggestion, invariance, CLR.

Every unit of work (one training run, one range test) is cached as JSON by
:class:`~benchmarks.suite.store.Store`, so an interrupted run resumes where it stopped
and a rerun only computes what changed (a new cyclr suggestion rule, for instance, only
trains at the LRs it moves to).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import choice, finders
from .clr import (
    CLR_KINDS,
    CLR_METHODS,
    CLR_SOURCES,
    CURVE_RULES,
    DEFAULT_CLR_RULES,
    bounds_of,
    run_bounds,
    schedule_run,
    source_of,
)
from .finders_confirm import FLOW_TIMES
from .store import NotCachedError, Store
from .tasks import ALL_TASKS, Task
from .train import RunResult, mean_curve, steps_to_reach, train

ALL_FAMILIES = (
    "cyclr",
    "cyclr-confirm",
    "cyclr-auto",
    "torch-lr-finder",
    "fastai",
    "lightning",
    "ignite",
)
INVARIANCE_TASK = "mnist1d-cnn-adam"
INVARIANCE_VARIANTS = ((100.0, 0.0), (1.0, 10.0))
MAX_GRID_EXTENSIONS = 3


@dataclass
class Config:
    """What to run.

    Attributes:
        tasks: task names.
        families: finder families (``cyclr``, ``cyclr-confirm`` and the peers).
        oracle_seeds: seeds of the fixed-LR grid.
        seeds: seeds of each finder's range test and of the run at its suggestion.
        clr_seeds: seeds of the CLR schedule runs.
        clr_rules: bounds rules whose bounds drive the CLR runs (:data:`.clr.CLR_RULES`);
            a rule runs when its finder family is in ``families``.
        clr_kinds: the schedules each rule's bounds train (:data:`.clr.ALL_CLR_KINDS`).
        phases: subset of ``oracle, finders, suggest, invariance, clr, timing``.
        quick: tiny budgets and grid (the test-suite path).
        steps: budget override (quick mode).
        grid_points: keep only this many grid LRs around the middle (quick mode).
        invariance_task: task of the loss-scale / loss-shift check.
        prototypes: extra suggestion rules read from cyclr's curves (name -> rule).
        choice_prototypes: also read the confirmed families' stored scores with the rules
            of :mod:`.choice` (other ways to choose among the same candidates).
        read_only: compute nothing; units missing from the cache are left out.
        log: where progress lines go.
    """

    tasks: list[str]
    families: list[str] = field(default_factory=lambda: list(ALL_FAMILIES))
    oracle_seeds: tuple[int, ...] = (0, 1, 2)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    clr_seeds: tuple[int, ...] = (0, 1, 2)
    clr_rules: tuple[str, ...] = DEFAULT_CLR_RULES
    clr_kinds: tuple[str, ...] = CLR_KINDS
    phases: tuple[str, ...] = ("oracle", "finders", "suggest", "invariance", "clr", "timing")
    quick: bool = False
    steps: int | None = None
    grid_points: int | None = None
    invariance_task: str = INVARIANCE_TASK
    prototypes: dict[str, Callable[[np.ndarray, np.ndarray], float]] = field(default_factory=dict)
    choice_prototypes: bool = False
    read_only: bool = False
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)


def resolve_task(name: str, cfg: Config) -> Task:
    """The named task, with the budget overridden in quick mode."""
    task = ALL_TASKS[name]
    if cfg.steps is not None:
        task = dataclasses.replace(task, steps=cfg.steps, eval_points=min(task.eval_points, 5))
    if cfg.grid_points is not None:
        mid = len(task.grid) // 2
        half = cfg.grid_points // 2
        task = dataclasses.replace(task, grid=task.grid[mid - half : mid - half + cfg.grid_points])
    return task


# --------------------------------------------------------------------------------------
# training runs


def lr_key(lr: float, seed: int) -> str:
    """Cache key of a fixed-LR run."""
    return f"lr={lr!r}-seed={seed}"


def fixed_run(
    store: Store, task: Task, lr: float, seed: int, curve: bool, cfg: Config
) -> RunResult:
    """Train at a fixed LR (cached), rounded to 4 significant digits.

    Rounding makes the cache robust to float noise in a re-run range test (thread counts
    change the last bits of the losses); a 0.01% change of the LR changes nothing else.
    """
    lr = float(f"{lr:.4g}")
    key = lr_key(lr, seed)
    rec = store.get(task, "train", key)
    if rec is not None and (rec.get("curve_kind") == "full" or not curve):
        return RunResult.from_dict(rec)
    if cfg.read_only:
        raise NotCachedError(key)
    res = train(task, lr, seed, curve=curve)
    store.put(task, "train", key, {**res.to_dict(), "curve_kind": "full" if curve else "final"})
    cfg.log(
        f"  [{task.name}] lr={lr:.3g} seed={seed}: {task.metric}={res.final:.4g} "
        f"({res.wall_s:.1f}s{', diverged' if res.diverged else ''})"
    )
    return res


# --------------------------------------------------------------------------------------
# oracle


@dataclass
class Oracle:
    """The fixed-LR grid of one task.

    Attributes:
        lr: the grid LR with the best mean final metric.
        metric: that mean.
        sd: the seed standard deviation at ``lr``.
        grid: LR -> mean final metric.
        curve: the mean metric curve at ``lr`` (``[(step, metric)]``).
        steps_to_final: first evaluated step where the mean curve reaches ``metric``.
        interior: whether the best LR is strictly inside the grid.
    """

    lr: float
    metric: float
    sd: float
    grid: dict[float, float]
    curve: list[tuple[int, float]]
    steps_to_final: int
    interior: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        return {
            "lr": self.lr,
            "metric": self.metric,
            "sd": self.sd,
            "grid": {repr(k): v for k, v in self.grid.items()},
            "steps_to_final": self.steps_to_final,
            "interior": self.interior,
        }


def _better(task: Task, a: float, b: float) -> bool:
    return a > b if task.higher_is_better else a < b


def _half_decade_step(lr: float, direction: int) -> float:
    k = round(2 * math.log10(lr)) + direction
    return float(f"{10 ** (k / 2):.3g}")


def oracle(store: Store, task: Task, cfg: Config) -> Oracle:
    """Run (or load) the fixed-LR grid, extending it by half-decades until the best is interior."""
    grid = sorted(task.grid)
    runs: dict[float, list[RunResult]] = {}
    for _ in range(MAX_GRID_EXTENSIONS + 1):
        for lr in grid:
            if lr not in runs:
                runs[lr] = [fixed_run(store, task, lr, s, True, cfg) for s in cfg.oracle_seeds]
        means = {lr: statistics.fmean(r.final for r in runs[lr]) for lr in grid}
        best = grid[0]
        for lr in grid:
            if _better(task, means[lr], means[best]):
                best = lr
        if best == grid[0]:
            grid.insert(0, _half_decade_step(grid[0], -1))
        elif best == grid[-1]:
            grid.append(_half_decade_step(grid[-1], +1))
        else:
            break
    means = {lr: statistics.fmean(r.final for r in runs[lr]) for lr in runs}
    best = sorted(means)[0]
    for lr in means:
        if _better(task, means[lr], means[best]):
            best = lr
    finals = [r.final for r in runs[best]]
    curve = mean_curve(runs[best])
    reach = steps_to_reach(curve, means[best], task.higher_is_better)
    result = Oracle(
        lr=best,
        metric=means[best],
        sd=statistics.stdev(finals) if len(finals) > 1 else 0.0,
        grid=dict(sorted(means.items())),
        curve=curve,
        steps_to_final=reach,
        interior=min(means) < best < max(means),
    )
    if not cfg.quick:
        store.export_oracle(
            task,
            {
                lr_key(lr, s): {**r.to_dict(), "curve_kind": "full"}
                for lr, rs in runs.items()
                for s, r in zip(cfg.oracle_seeds, rs, strict=True)
            },
            result.to_dict(),
        )
    return result


# --------------------------------------------------------------------------------------
# finders


def _source_hash(modules: Iterable[str]) -> str:
    h = hashlib.sha256()
    for name in modules:
        try:
            mod = __import__(name, fromlist=["_"])
            h.update(Path(mod.__file__ or "").read_bytes())
        except Exception as exc:
            h.update(repr(exc).encode())
    return h.hexdigest()[:10]


def family_version(family: str) -> str:
    """A tag that changes when the finder's code changes (cache invalidation)."""
    if family == "cyclr":
        # The range test itself; suggestions are re-read from the stored curve every run.
        return _source_hash(
            [
                "cyclr.torch.rangetest",
                "cyclr.rangetest.tracker",
                "cyclr.rangetest.sweep",
            ]
        )
    if family in ("cyclr-confirm", "cyclr-auto"):
        # Its suggestions come from training (the confirmation), not from re-reading the
        # curve: every cyclr module the call runs is hashed.
        from .finders_confirm import version

        return version()
    if family in finders.PEER_VERSIONS:
        return finders.PEER_VERSIONS[family][2]
    return "0"


def finder_record(
    store: Store,
    task: Task,
    family: str,
    seed: int,
    cfg: Config,
    scale: float = 1.0,
    shift: float = 0.0,
) -> finders.FinderRecord:
    """One range test of ``family`` (cached); cyclr's suggestions are re-read from its curve."""
    key = f"{family}-{family_version(family)}-seed={seed}-scale={scale!r}-shift={shift!r}"
    rec = store.get(task, "finder", key)
    if rec is None and cfg.read_only:
        raise NotCachedError(key)
    if rec is None:
        problem = finders.check_family(family)
        if problem is not None:  # not cached: the family runs once it is installed
            return finders.FinderRecord(
                family,
                {m: None for m in _methods_or_family(family)},
                {m: problem for m in _methods_or_family(family)},
            )
        out = finders.run_family(family, task, seed, scale, shift)
        cfg.log(
            f"  [{task.name}] {family} seed={seed} scale={scale:g} shift={shift:g}: "
            f"{_fmt_suggestions(out.suggestions)} ({out.steps} steps, {out.wall_s:.1f}s)"
        )
        store.put(task, "finder", key, out.to_dict())
    else:
        out = finders.FinderRecord.from_dict(rec)
    if family == "cyclr" and out.lrs:
        out = reread_cyclr(out, cfg)
    if cfg.choice_prototypes and out.confirmation:
        method = finders.family_methods(family)[0]  # the family's own suggest()
        extra = choice.reread(method, out, task.steps)
        out = dataclasses.replace(out, suggestions={**out.suggestions, **extra})
    return out


def _methods_or_family(family: str) -> tuple[str, ...]:
    try:
        return finders.family_methods(family)
    except Exception:
        return (family,)


def _fmt_suggestions(s: dict[str, float | None]) -> str:
    return ", ".join(f"{k}={'-' if v is None else f'{v:.3g}'}" for k, v in s.items())


def reread_cyclr(rec: finders.FinderRecord, cfg: Config) -> finders.FinderRecord:
    """Recompute cyclr's suggestions (and prototype rules) from the stored curve."""
    from cyclr.rangetest import suggest as _suggest

    lrs = np.asarray(rec.lrs, dtype=np.float64)
    losses = np.asarray(rec.losses, dtype=np.float64)
    sugg: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name in ("default", *_suggest.METHODS):
        key = f"cyclr-{name}"
        try:
            sugg[key] = float(_suggest.suggest(lrs, losses, None if name == "default" else name).lr)
        except Exception as exc:
            sugg[key] = None
            errors[key] = f"{type(exc).__name__}: {exc}"
    for rule in CURVE_RULES:
        prefix = CLR_SOURCES[rule].prefix
        try:
            base, peak = _suggest.clr_bounds(lrs, losses, rule=rule)
            sugg[f"{prefix}-base"], sugg[f"{prefix}-max"] = float(base), float(peak)
        except Exception as exc:
            sugg[f"{prefix}-base"] = sugg[f"{prefix}-max"] = None
            errors[f"{prefix}-bounds"] = f"{type(exc).__name__}: {exc}"
    for name, rule in cfg.prototypes.items():
        try:
            sugg[name] = float(rule(lrs, losses))
        except Exception as exc:
            sugg[name] = None
            errors[name] = f"{type(exc).__name__}: {exc}"
    return dataclasses.replace(rec, suggestions=sugg, errors=errors)


# --------------------------------------------------------------------------------------
# the whole suite


@dataclass
class TaskResults:
    """Everything measured on one task."""

    task: Task
    oracle: Oracle | None = None
    records: dict[str, dict[int, finders.FinderRecord]] = field(default_factory=dict)
    runs: dict[str, dict[int, RunResult | None]] = field(default_factory=dict)
    invariance: dict[str, dict[tuple[float, float], dict[int, float | None]]] = field(
        default_factory=dict
    )
    clr: dict[tuple[str, str], dict[int, RunResult]] = field(default_factory=dict)
    clr_bounds: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)


def run_suite(cfg: Config, store: Store) -> dict[str, TaskResults]:
    """Run the configured phases on every configured task; return what was measured."""
    results: dict[str, TaskResults] = {}
    tasks = [resolve_task(n, cfg) for n in cfg.tasks]
    for task in tasks:
        results[task.name] = TaskResults(task)
    t_start = time.perf_counter()

    if "oracle" in cfg.phases:
        for task in tasks:
            cfg.log(f"oracle: {task.name}")
            with _skip_missing():
                results[task.name].oracle = oracle(store, task, cfg)

    if "finders" in cfg.phases:
        # Peers first: they do not depend on cyclr's (evolving) rule.
        for family in sorted(cfg.families, key=lambda f: f.startswith("cyclr")):
            for task in tasks:
                cfg.log(f"finder: {family} on {task.name}")
                recs = results[task.name].records.setdefault(family, {})
                for s in cfg.seeds:
                    with _skip_missing():
                        recs[s] = finder_record(store, task, family, s, cfg)

    if "suggest" in cfg.phases:
        for task in tasks:
            tr = results[task.name]
            for recs in tr.records.values():
                for seed, rec in recs.items():
                    for method, lr in rec.suggestions.items():
                        if method in CLR_METHODS:
                            continue
                        if lr is None:
                            tr.runs.setdefault(method, {})[seed] = None
                            continue
                        with _skip_missing():
                            run = fixed_run(store, task, lr, seed, False, cfg)
                            tr.runs.setdefault(method, {})[seed] = run

    if "invariance" in cfg.phases:
        inv_tasks = [t for t in tasks if t.name == cfg.invariance_task] or tasks[:1]
        for task in inv_tasks:
            tr = results[task.name]
            for family in cfg.families:
                cfg.log(f"invariance: {family} on {task.name}")
                for seed in cfg.seeds:
                    for scale, shift in ((1.0, 0.0), *INVARIANCE_VARIANTS):
                        with _skip_missing():
                            rec = finder_record(store, task, family, seed, cfg, scale, shift)
                            for method, lr in rec.suggestions.items():
                                tr.invariance.setdefault(method, {}).setdefault((scale, shift), {})[
                                    seed
                                ] = lr

    if "clr" in cfg.phases:
        for task in tasks:
            tr = results[task.name]
            cfg.log(f"clr: {task.name}")
            for rule in cfg.clr_rules:
                family = source_of(rule).family
                if family not in cfg.families:
                    cfg.log(f"  clr rule {rule} skipped: family {family} is not run")
                    continue
                for seed in cfg.clr_seeds:
                    with _skip_missing():
                        rec = finder_record(store, task, family, seed, cfg)
                        bounds = bounds_of(task, rec, rule)
                        if bounds is None:
                            continue
                        base, peak = bounds
                        tr.clr_bounds.setdefault(rule, {})[seed] = (base, peak)
                        flow_time = rec.suggestions.get(FLOW_TIMES.get(family, ""))
                        for kind in cfg.clr_kinds:
                            lo, hi = run_bounds(task, kind, rule, base, peak, flow_time)
                            tr.clr.setdefault((rule, kind), {})[seed] = schedule_run(
                                store, task, kind, lo, hi, seed, cfg.read_only, cfg.log
                            )
    if "timing" in cfg.phases and not cfg.read_only:
        # Wall times measured back to back (not cached): the cached runs may have been
        # computed while the machine was busy with other work.
        for task in tasks:
            tr = results[task.name]
            cfg.log(f"timing: {task.name}")
            lr = tr.oracle.lr if tr.oracle is not None else task.grid[len(task.grid) // 2]
            tr.timing["train"] = train(task, lr, 0, curve=False).wall_s
            for family in cfg.families:
                if finders.check_family(family) is None:
                    tr.timing[family] = finders.run_family(family, task, 0).wall_s

    cfg.log(f"done in {time.perf_counter() - t_start:.0f}s")
    return results


@contextlib.contextmanager
def _skip_missing() -> Iterator[None]:
    """In a read-only run, leave out what is not cached."""
    with contextlib.suppress(NotCachedError):
        yield
