"""Guarded confirmation rules (measured, not in the library): ``confirm-g...``.

The plain confirmation rules of :mod:`benchmarks.suite.proto_confirm` train a few
candidates ``bottom * 10 ** offset`` for ``k`` steps from one saved state and keep the
lowest short-window loss. A short window favours the larger LR (it falls faster at first,
and trouble that shows later is not seen). The guards below distrust that window in
scale-free ways; no constant depends on a task:

* ``1se`` (one-standard-error rule): each candidate's score is the mean training loss of
  the last half of its window (``w = k // 2`` steps) and its standard error
  ``std(ddof=1) / sqrt(w)``; among the candidates whose score is within one SE of the
  best one's (the best candidate's SE), keep the smallest LR;
* ``trend`` (rising-trend guard): drop a candidate whose ``log`` training loss rises over
  the second half of its window (least-squares slope over steps ``k // 2 .. k - 1``
  with ``slope / SE(slope) > 2``), or which went non-finite within ``k`` steps; if every
  candidate is dropped, keep the smallest one;
* ``edge`` (edge back-off): drop the candidates above the curve's edge / sqrt(10)
  (:meth:`~benchmarks.suite.proto_confirm.Context.edge`); the bottom suggestion is
  always below, so the ``q5`` grid loses at most a candidate exactly at it, ``h5`` its
  top one or two when the bottom of the curve is narrower than a decade;
* ``fall`` (added after the first run, from its candidate table, so post hoc): keep only
  the candidates whose log training loss is still significantly falling over the second
  half of the window (``slope / SE(slope) < -2``); if none is, keep the smallest one;
* ``held``: the score is the loss on a fixed batch of training examples in eval mode
  after step ``k`` (no SE, so not with ``1se``) instead of the training loss.

Names: ``confirm-g<guards>-<grid>-k<k>-<score>``, e.g. ``confirm-g1se+trend-q5-k30-train``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .proto_confirm import EXTRA_BUDGET, Context, Rule, cached_confirm, score

GRIDS: dict[str, tuple[float, ...]] = {
    "q5": (-0.5, -0.25, 0.0, 0.25, 0.5),
    "h5": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "h3": (-0.5, 0.0, 0.5),
}
TREND_T = 2.0
"""``slope / SE(slope)`` above which a window's loss counts as rising."""


def window_stats(losses: list[float], k: int) -> tuple[float, float]:
    """(mean, standard error of the mean) of the last half of the first ``k`` losses;
    ``(inf, inf)`` if the run has fewer than ``k`` finite losses."""
    if len(losses) < k:
        return math.inf, math.inf
    w = max(2, k // 2)
    v = np.asarray(losses[k - w : k], dtype=float)
    if not np.all(np.isfinite(v)):
        return math.inf, math.inf
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def trend_t(losses: list[float], k: int) -> float:
    """``slope / SE(slope)`` of the least-squares line through the log training loss over
    steps ``k // 2 .. k - 1`` (the raw loss if some loss is not positive); ``inf`` if the
    run has fewer than ``k`` finite losses."""
    if len(losses) < k:
        return math.inf
    v = np.asarray(losses[k // 2 : k], dtype=float)
    if not np.all(np.isfinite(v)):
        return math.inf
    y = np.log(v) if np.all(v > 0) else v
    x = np.arange(len(y), dtype=float)
    x -= x.mean()
    sxx = float(np.sum(x * x))
    slope = float(np.sum(x * (y - y.mean())) / sxx)
    resid = y - y.mean() - slope * x
    dof = len(y) - 2
    if dof <= 0:
        return 0.0
    se = math.sqrt(float(np.sum(resid * resid)) / dof / sxx)
    if se == 0.0:
        return math.copysign(math.inf, slope) if slope else 0.0
    return slope / se


def rising(losses: list[float], k: int, t_max: float = TREND_T) -> bool:
    """Whether the loss rises significantly over the second half of the first ``k`` steps
    (or the run went non-finite before step ``k``)."""
    return trend_t(losses, k) > t_max


def pick(
    recs: list[dict[str, Any]], k: int, how: str, guards: frozenset[str], edge: float
) -> tuple[float, str]:
    """The guarded choice among candidate records (sorted by LR) and why."""
    cands = sorted(recs, key=lambda r: r["lr"])
    kept = cands
    if "edge" in guards:
        kept = [r for r in kept if r["lr"] <= edge / math.sqrt(10.0) * (1 + 1e-9)]
        if not kept:
            return cands[0]["lr"], "edge: none below"
    if "trend" in guards:
        ok = [r for r in kept if not rising(r["losses"], k)]
        if not ok:
            return kept[0]["lr"], "trend: all rising"
        kept = ok
    if "fall" in guards:
        ok = [r for r in kept if trend_t(r["losses"], k) < -TREND_T]
        if not ok:
            return kept[0]["lr"], "fall: none falling"
        kept = ok
    if "1se" in guards:
        stats = [window_stats(r["losses"], k) for r in kept]
        i_best = min(range(len(kept)), key=lambda i: (stats[i][0], i))
        m_best, se_best = stats[i_best]
        if not math.isfinite(m_best):
            return kept[0]["lr"], "1se: all diverged"
        within = [i for i, (m, _) in enumerate(stats) if m <= m_best + se_best]
        return kept[min(within)]["lr"], "1se"
    scores = [score(r, k, how) for r in kept]
    i_best = min(range(len(kept)), key=lambda i: (scores[i], i))
    return kept[i_best]["lr"], "lowest"


def guarded_rule(offsets: tuple[float, ...], k: int, how: str, guards: frozenset[str]) -> Rule:
    """Candidates ``bottom * 10 ** offset``, ``k`` steps each, the guarded choice."""
    assert k * len(offsets) <= EXTRA_BUDGET
    assert not ("1se" in guards and how == "held")

    def rule(ctx: Context) -> tuple[float, int]:
        a = ctx.bottom()
        cands = sorted(a * 10.0**o for o in offsets)
        recs = []
        for lr in cands:
            rec = dict(cached_confirm(ctx.store, ctx.task, ctx.seed, lr))
            rec["lr"] = lr
            recs.append(rec)
        lr, _ = pick(recs, k, how, guards, ctx.edge())
        return lr, k * len(cands)

    return rule


GUARD_SETS: tuple[tuple[str, frozenset[str], str], ...] = (
    ("none", frozenset(), "train"),
    ("none", frozenset(), "held"),
    ("1se", frozenset({"1se"}), "train"),
    ("trend", frozenset({"trend"}), "train"),
    ("1se+trend", frozenset({"1se", "trend"}), "train"),
    ("all", frozenset({"1se", "trend", "edge"}), "train"),
    ("trend+edge", frozenset({"trend", "edge"}), "held"),
)
"""(name, guards, score); ``none`` = the no-guard control of the same grid and ``k``
(its ``train`` score is the last quarter of the window, as in ``proto_confirm``)."""
H3_SETS = ("none", "all", "trend+edge")

Spec = tuple[tuple[float, ...], int, str, frozenset[str]]
"""(offsets, k, score, guards) of one guarded rule."""


def guarded_specs() -> dict[str, Spec]:
    """Every guarded variant's settings, by name."""
    specs: dict[str, Spec] = {}
    plans = [(g, k) for g in ("q5", "h5") for k in (20, 30, 40)] + [("h3", 60)]
    for gname, k in plans:
        for sname, guards, how in GUARD_SETS:
            if gname == "h3" and sname not in H3_SETS:
                continue
            specs[f"confirm-g{sname}-{gname}-k{k}-{how}"] = (GRIDS[gname], k, how, guards)
    for gname, k, how in (
        ("q5", 30, "train"),
        ("q5", 40, "train"),
        ("q5", 30, "held"),
        ("q5", 40, "held"),
        ("h5", 40, "train"),
    ):
        specs[f"confirm-gfall-{gname}-k{k}-{how}"] = (GRIDS[gname], k, how, frozenset({"fall"}))
    specs["confirm-gedge-h5-k30-train"] = (GRIDS["h5"], 30, "train", frozenset({"edge"}))
    specs["confirm-gtrend+edge-h5-k30-train"] = (
        GRIDS["h5"],
        30,
        "train",
        frozenset({"trend", "edge"}),
    )
    return specs


def guarded_rules() -> dict[str, Rule]:
    """Every guarded variant, by name."""
    return {name: guarded_rule(*spec) for name, spec in guarded_specs().items()}


# --------------------------------------------------------------------------------------
# summary of a finished experiments run (everything cached): LOTO per rule family

BASELINES = ("bottom", "confirm-q5-k30-train", "lag-1")
KEY = (
    "bottom",
    "lag-1",
    "confirm-q5-k30-train",
    "confirm-g1se-q5-k30-train",
    "confirm-gnone-q5-k40-held",
    "confirm-gtrend+edge-q5-k40-held",
    "confirm-gnone-h3-k60-train",
    "confirm-gall-h3-k60-train",
    "confirm-gfall-q5-k40-held",
)
"""Rules shown task by task."""
DIAGNOSE = ("digits-mlp-sgd", "diabetes-mlp-adam", "fashion-resnet-adamw", "mnist1d-gru-adam")
"""Tasks whose candidates are listed one by one (the worst tasks of the rules above)."""


def _row(name: str, cells: list[Any]) -> str:
    return f"| {name} | " + " | ".join(str(c) for c in cells) + " |"


def _f(v: float, fmt: str = ".2f") -> str:
    return "inf" if math.isinf(v) else format(v, fmt)


def control_of(name: str) -> str | None:
    """The no-guard rule of the same grid, ``k`` and score (``train`` for ``1se``)."""
    parts = name.split("-")
    if not name.startswith("confirm-g") or parts[1] == "gnone":
        return None
    return "-".join([parts[0], "gnone", *parts[2:]])


def _candidates(store: Any, task: Any, seed: int, rec: Any, offsets: tuple[float, ...]) -> Any:
    ctx = Context(task, seed, np.asarray(rec.lrs), np.asarray(rec.losses), 0, store)
    b = ctx.bottom()
    recs = [{**cached_confirm(store, task, seed, b * 10.0**o), "lr": b * 10.0**o} for o in offsets]
    return ctx, b, recs


def summary(argv: list[str] | None = None) -> str:
    """Markdown: in-sample table, LOTO over the guarded rules, what each guard changed, the
    chosen rule's picks and the candidates of the worst tasks."""
    import argparse
    import statistics

    from . import experiments as ex
    from .cli import DEFAULT_CACHE, ORACLE_FILE
    from .proto_confirm import build_rules
    from .report import tolerance
    from .run import Config, NotCachedError, fixed_run, run_suite
    from .store import Store
    from .tasks import TASKS
    from .train import set_threads

    p = argparse.ArgumentParser(prog="python -m benchmarks.suite.proto_guarded")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    set_threads(args.threads)
    seeds = tuple(range(args.seeds))
    store = Store(DEFAULT_CACHE, ORACLE_FILE)
    cfg = Config(
        tasks=[t for t in args.tasks.split(",") if t],
        seeds=seeds,
        phases=("oracle", "finders", "suggest"),
        read_only=True,
        log=lambda _m: None,
    )
    trs = run_suite(cfg, store)
    trs = {n: tr for n, tr in trs.items() if tr.oracle is not None and "cyclr" in tr.records}
    cfg.read_only = False
    every = build_rules()
    specs = guarded_specs()
    rules = {**{b: every[b] for b in BASELINES}, **{n: every[n] for n in specs}}
    scored = ex.score_rules(trs, store, cfg, rules, seeds)
    tasks = list(trs)
    out: list[str] = []
    add = out.append

    def stats(table: dict[str, ex.Scored], names: list[str]) -> list[str]:
        meds = [table[t].median for t in names]
        worst_t = max(names, key=lambda t: table[t].median)
        steps = [s for t in names for s in table[t].steps.values()]
        return [
            f"{statistics.median(meds):.2f}",
            f"{max(meds):.2f} ({worst_t})",
            f"{max(table[t].worst for t in names):.2f}",
            str(sum(m > 1.0 for m in meds)),
            str(sum(table[t].failures for t in names)),
            f"{max(table[t].spread for t in names):.1f}",
            f"{max(steps)} ({statistics.median(steps):g})",
        ]

    head = (
        "| rule | median | worst task | worst run | tasks > 1 | failures | max spread | "
        "steps max (median) |\n|---|---|---|---|---|---|---|---|"
    )
    add("### In sample (all tasks), sorted by median (ties by worst task)")
    add("")
    add("Target units; baselines in bold; `gnone` = the same grid and `k` without guards.")
    add("")
    add(head)
    order = sorted(rules, key=lambda r: (ex._select_key(scored[r], tasks), r))
    for r in order:
        add(_row(("**" + r + "**") if r in BASELINES else r, stats(scored[r], tasks)))
    add("")

    add("### Per task, key rules (median regret over seeds, target units)")
    add("")
    key = [r for r in KEY if r in scored]
    add("| task | " + " | ".join(key) + " |")
    add("|---|" + "---|" * len(key))
    for t in tasks:
        add(_row(t, [f"{scored[r][t].median:.2f}" for r in key]))
    add("")

    add("### What each guard changed (vs its `gnone` control, 3 seeds x all tasks)")
    add("")
    add(
        "`changed` = task-seeds whose pick differs from the control's (`down` = a smaller "
        "LR); median / worst task of the rule and of its control."
    )
    add("")
    add(
        "| rule | control | changed | down | median | control median | worst task | "
        "control worst task |"
    )
    add("|---|---|---|---|---|---|---|---|")
    for r in order:
        c = control_of(r)
        if c is None or c not in scored:
            continue
        diff = down = 0
        for t in tasks:
            for sd, lr in scored[r][t].lrs.items():
                lc = scored[c][t].lrs.get(sd)
                if lc is not None and not math.isclose(lr, lc, rel_tol=1e-6):
                    diff += 1
                    down += lr < lc
        a, b = stats(scored[r], tasks), stats(scored[c], tasks)
        add(_row(r, [c, diff, down, a[0], b[0], a[1], b[1]]))
    add("")

    planned = [n for n, sp in specs.items() if sp[3] and "fall" not in sp[3]]
    families = {
        "guarded": planned,
        "guarded + fall": [n for n, sp in specs.items() if sp[3]],
        "all confirmation": [*specs, "confirm-q5-k30-train"],
    }
    add("### Leave-one-task-out")
    add("")
    add(
        "Per held-out task: the rule chosen on the other tasks (`experiments.loto`: lowest "
        "median of per-task medians rounded to 0.1, ties by the worst), its held-out median "
        "regret (worst seed) in target units, the LR spread over seeds, and the baselines "
        "(median (worst)) on that task. `guarded` = rules with at least one of the planned "
        "guards (1se, trend, edge); `guarded + fall` adds the post-hoc `fall` rules; `all "
        "confirmation` adds the `gnone` controls and `confirm-q5-k30-train`."
    )
    add("")
    picks = {fam: ex.loto(scored, tasks, allowed) for fam, allowed in families.items()}
    cols = [f"{f}: {c}" for f in families for c in ("chosen", "regret (worst)", "spread")]
    add("| held-out task | " + " | ".join(cols + list(BASELINES)) + " |")
    add("|---|" + "---|" * (len(cols) + len(BASELINES)))
    for t in tasks:
        cells: list[Any] = []
        for fam in families:
            r, sc = picks[fam][t]
            cells += [r, f"{sc.median:.2f} ({sc.worst:.2f})", f"{sc.spread:.1f}"]
        cells += [f"{scored[b][t].median:.2f} ({scored[b][t].worst:.2f})" for b in BASELINES]
        add(_row(t, cells))
    add("")
    add(head.replace("| rule |", "| LOTO / rule |"))
    for fam in families:
        add(_row(f"LOTO {fam}", stats({t: picks[fam][t][1] for t in tasks}, tasks)))
    for b in BASELINES:
        add(_row(b, stats(scored[b], tasks)))
    add("")

    for fam in ("guarded", "guarded + fall"):
        add(f"### The LOTO choice's picks ({fam})")
        add("")
        add(
            "Offset = log10(pick / bottom); why = which step of `pick` decided; regret in "
            "the task's units (pts or %)."
        )
        add("")
        add("| task | rule | seed | bottom | pick | offset | why | regret |")
        add("|---|---|---|---|---|---|---|---|")
        for t in tasks:
            r, sc = picks[fam][t]
            tr = trs[t]
            offsets, k, how, guards = specs[r]
            for seed in seeds:
                rec = tr.records["cyclr"].get(seed)
                if rec is None or seed not in sc.lrs:
                    continue
                ctx, b, recs = _candidates(store, tr.task, seed, rec, offsets)
                lr, why = pick(recs, k, how, guards, ctx.edge())
                reg = sc.regrets[seed] * tolerance(tr.task)
                cells = [r, seed, f"{b:.3g}", f"{lr:.3g}", f"{math.log10(lr / b):+.2f}", why]
                add(_row(t, [*cells, f"{reg:.2f}"]))
        add("")

    add("### Candidates on the worst tasks")
    add("")
    add(
        "Every candidate of q5 and h5 (offset from bottom): `n` = finite training losses of "
        "the 60 recorded; `train40` = mean +- SE of the training loss over steps 20-39 (the "
        "1se score at k=40); `t20/t30/t40` = the trend statistic at k = 20/30/40 (rejected "
        f"above {TREND_T:g}); `held20/held40` = the held-out batch loss after 20/40 steps; "
        "`full` = regret (task units) of training the whole budget at that LR (`-` = not "
        "trained: no rule picked it); `edge/sqrt10` = the edge guard's cap, as an offset."
    )
    cfg.read_only = True
    union = tuple(sorted(set(GRIDS["q5"]) | set(GRIDS["h5"])))
    for t in [t for t in DIAGNOSE if t in trs]:
        tr = trs[t]
        o = tr.oracle
        assert o is not None
        add("")
        add(f"**{t}** (oracle lr {o.lr:.3g})")
        add("")
        add(
            "| seed | offset | lr | n | train40 | t20 | t30 | t40 | held20 | held40 | full | "
            "edge/sqrt10 |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for seed in seeds:
            rec = tr.records["cyclr"].get(seed)
            if rec is None:
                continue
            ctx, b, recs = _candidates(store, tr.task, seed, rec, union)
            cap = math.log10(ctx.edge() / math.sqrt(10.0) / b)
            for off, c in zip(union, recs, strict=True):
                m, se = window_stats(c["losses"], 40)
                try:
                    run = fixed_run(store, tr.task, c["lr"], seed, False, cfg)
                    full = f"{tr.task.regret(o.metric, run.final):.2f}"
                except NotCachedError:
                    full = "-"
                held = [float(c["held"].get(str(k), math.inf)) for k in (20, 40)]
                ts = [trend_t(c["losses"], k) for k in (20, 30, 40)]
                add(
                    _row(
                        seed,
                        [
                            f"{off:+.2f}",
                            f"{c['lr']:.3g}",
                            len(c["losses"]),
                            f"{_f(m, '.4g')} +- {_f(se, '.2g')}",
                            *(_f(v, ".1f") for v in ts),
                            *(_f(v, ".4g") for v in held),
                            full,
                            f"{cap:+.2f}",
                        ],
                    )
                )
    add("")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(summary())
