"""Markdown of :mod:`benchmarks.suite.experiments` (``results/suggest_experiments.md``)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .report import tolerance
from .run import TaskResults

FINDINGS = Path(__file__).resolve().parent / "findings.md"
PEER_PREFIXES = ("torch-lr-finder", "fastai-", "lightning", "ignite")


def _f(v: float, d: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return "inf" if math.isinf(v) else f"{v:.{d}f}"


def _summary(table: dict[str, Any], tasks: list[str]) -> dict[str, float]:
    meds = [table[t].median for t in tasks if t in table]
    worsts = [table[t].worst for t in tasks if t in table]
    spreads = [table[t].spread for t in tasks if t in table]
    steps = [s for t in tasks if t in table for s in table[t].steps.values()]
    return {
        "n": len(meds),
        "median": statistics.median(meds) if meds else math.nan,
        "worst_task": max(meds) if meds else math.nan,
        "worst_run": max(worsts) if worsts else math.nan,
        "over": sum(m > 1.0 for m in meds),
        "spread": max(spreads) if spreads else math.nan,
        "fails": sum(table[t].failures for t in tasks if t in table),
        "steps": max(steps) if steps else math.nan,
        "steps_med": statistics.median(steps) if steps else math.nan,
    }


def _is_peer(m: str) -> bool:
    return m.startswith(PEER_PREFIXES)


MAX_SHOWN = 10
"""Per-task tables list every prototype rule when a run scores at most this many (else
only those leave-one-task-out chose)."""


def write_report(
    command: str,
    trs: dict[str, TaskResults],
    scored: dict[str, dict[str, Any]],
    peers: dict[str, dict[str, Any]],
    sched: dict[str, dict[str, list[Any]]] | None,
    loto: Callable[..., dict[str, tuple[str, Any]]],
    schedule_summary: Callable[..., tuple[float, float, int]],
    findings: bool = True,
) -> str:
    """The whole markdown (with the hand-written ``findings.md`` if ``findings``)."""
    tasks = list(trs)
    lines: list[str] = []
    add = lines.append
    add("# Suggestion experiments: confirmation, budget, lag, one-cycle")
    add("")
    add(
        f"Command: `{command}` (after `python -m benchmarks --seeds 3 --threads 1 "
        "--phases oracle,finders,suggest --prototypes`).  "
    )
    add(
        f"Tasks: {len(tasks)}; seeds 0-2 per task; oracle = best fixed LR of the half-decade "
        "grid, 3 seeds (`benchmarks/oracle_cache.json`).  "
    )
    add(
        "Regrets are in units of each task's target (1 accuracy point, 3% of a test loss, "
        "5% of a test MSE; 1.00 = at the target, negative = better than the oracle). "
        "`steps` = training steps one suggestion costs: the range test (all its reruns) "
        "plus confirmation runs; a plain range test is 100."
    )
    add("")
    if findings and FINDINGS.exists():
        add(FINDINGS.read_text().strip())
        add("")
    everything = {**scored, **{m: v for m, v in peers.items() if m not in scored}}

    add("## Every rule and peer over all tasks")
    add("")
    add(
        "`median` = median over tasks of the per-task median regret over seeds; `worst task` "
        "= largest per-task median; `worst run` = largest single-seed regret; `> target` = "
        "tasks whose median exceeds 1.0; `spread` = largest per-task max/min LR over seeds; "
        "`steps` = largest cost of one suggestion (median in brackets)."
    )
    add("")
    add("| rule | tasks | median | worst task | worst run | > target | failures | spread | steps |")
    add("|---|---|---|---|---|---|---|---|---|")
    rows = sorted(everything, key=lambda m: (_is_peer(m), _summary(everything[m], tasks)["median"]))
    for m in rows:
        s = _summary(everything[m], tasks)
        add(
            f"| {m} | {s['n']} | {_f(s['median'])} | {_f(s['worst_task'])} | "
            f"{_f(s['worst_run'])} | {s['over']} | {s['fails']} | {_f(s['spread'], 1)} | "
            f"{_f(s['steps'], 0)} ({_f(s['steps_med'], 0)}) |"
        )
    add("")

    add("## Leave-one-task-out")
    add("")
    add(
        "For each held-out task the rule is chosen on the other tasks (lowest median of the "
        "per-task medians, rounded to 0.1; ties by the worst per-task median, then by name) "
        "and scored on the held-out task. Families: `confirm` = the confirmation rules; "
        "`one-pass` = rules that read the one curve (divisors, budget, lag); `all` = both."
    )
    add("")
    families = {
        "confirm": [r for r in scored if r.startswith("confirm-")],
        "one-pass": [r for r in scored if not r.startswith("confirm-")],
        "all": list(scored),
    }
    results = {f: loto(scored, tasks, rs) for f, rs in families.items() if rs}
    default = peers.get("cyclr-default", {})
    best_peer = min(
        (m for m in peers if _is_peer(m)),
        key=lambda m: _summary(peers[m], tasks)["median"],
        default=None,
    )
    head = "| held-out task | unit |"
    for f in results:
        head += f" {f}: chosen rule | {f}: median (worst) | {f}: spread |"
    head += f" default median (worst) | default spread | {best_peer or 'peer'} median (worst) |"
    add(head)
    add("|---|---|" + "---|---|---|" * len(results) + "---|---|---|")
    for t in tasks:
        unit = "pts" if trs[t].task.higher_is_better else "%"
        tol = tolerance(trs[t].task)
        row = f"| {t} | {unit} |"
        for res in results.values():
            rule, sc = res[t]
            row += f" {rule} | {_f(sc.median * tol)} ({_f(sc.worst * tol)}) | {_f(sc.spread, 1)} |"
        d = default.get(t)
        p = peers.get(best_peer, {}).get(t) if best_peer else None
        row += (
            f" {_f(d.median * tol) if d else '-'} ({_f(d.worst * tol) if d else '-'}) |"
            f" {_f(d.spread, 1) if d else '-'} |"
            f" {_f(p.median * tol) if p else '-'} ({_f(p.worst * tol) if p else '-'}) |"
        )
        add(row)
    add("")
    add(
        "Summary in target units (median over tasks of the held-out median; worst = largest "
        "held-out single-seed regret):"
    )
    add("")
    add("| rule set | median | worst task median | worst run | tasks > target | max spread |")
    add("|---|---|---|---|---|---|")
    for f, res in results.items():
        meds = [res[t][1].median for t in tasks]
        worst = [res[t][1].worst for t in tasks]
        spr = [res[t][1].spread for t in tasks]
        add(
            f"| LOTO {f} | {_f(statistics.median(meds))} | {_f(max(meds))} | {_f(max(worst))} "
            f"| {sum(m > 1 for m in meds)} | {_f(max(spr), 1)} |"
        )
    for m in ["cyclr-default", best_peer]:
        if m and m in everything:
            s = _summary(everything[m], tasks)
            add(
                f"| {m} | {_f(s['median'])} | {_f(s['worst_task'])} | {_f(s['worst_run'])} "
                f"| {s['over']} | {_f(s['spread'], 1)} |"
            )
    add("")

    add("## Per task: median / worst regret (task units), LR spread, steps")
    add("")
    chosen = {res[t][0] for res in results.values() for t in tasks}
    few = len(scored) <= MAX_SHOWN
    show = [m for m in rows if not m.startswith("confirm-") or few or m in chosen]
    for t in tasks:
        tr = trs[t]
        o = tr.oracle
        assert o is not None
        tol = tolerance(tr.task)
        unit = "pts" if tr.task.higher_is_better else "%"
        add(f"### {t}")
        add("")
        add(
            f"Oracle lr {o.lr:.3g}, {tr.task.metric} {o.metric:.4g} (sd {o.sd:.2g}); "
            f"{tr.task.optimizer}, batch {tr.task.batch_size}, {tr.task.steps} steps."
        )
        add("")
        add(f"| rule | median LR | median regret ({unit}) | worst ({unit}) | spread | steps |")
        add("|---|---|---|---|---|---|")
        for m in show:
            sc = everything[m].get(t)
            if sc is None:
                continue
            lrs = list(sc.lrs.values())
            med_lr = math.exp(statistics.median(math.log(v) for v in lrs)) if lrs else math.nan
            st = max(sc.steps.values()) if sc.steps else math.nan
            add(
                f"| {m} | {med_lr:.3g} | {_f(sc.median * tol)} | {_f(sc.worst * tol)} | "
                f"{_f(sc.spread, 1)} | {_f(st, 0)} |"
            )
        add("")

    if sched:
        _schedules(add, trs, sched, schedule_summary, tasks)
    return "\n".join(lines) + "\n"


def _schedules(
    add: Any,
    trs: dict[str, TaskResults],
    sched: dict[str, dict[str, list[Any]]],
    schedule_summary: Callable[..., tuple[float, float, int]],
    tasks: list[str],
) -> None:
    add("## One-cycle over the whole budget vs the oracle fixed LR")
    add("")
    add(
        "`onecycle xk (pick)`: `OneCycle(max_lr = k * LR of the LOTO confirmation pick, "
        "total_steps, pct_start=0.25, div_factor=25, final_div_factor=1e4)`, cosine, momentum "
        "(SGD momentum or Adam beta1) 0.95 -> 0.85 -> 0.95 (not cycled for plain SGD); "
        "`clr_bounds(rule)`: max_lr and base_lr (`div_factor = max/base`, pct_start 0.3) from "
        "cyclr's range test; `fastai fit_one_cycle @ valley`: fastai's recipe at fastai's "
        "valley suggestion. Cells: regret of the mean final metric over seeds (task units; "
        "negative = beats the oracle) / first evaluated step where the mean curve reaches "
        "the oracle's final mean (`-` = never), with the oracle's own step in the header."
    )
    add("")
    kinds: list[str] = []
    for t in tasks:
        for k in sched.get(t, {}):
            if k not in kinds:
                kinds.append(k)
    add("| task | oracle (steps to final) | " + " | ".join(kinds) + " |")
    add("|---|---|" + "---|" * len(kinds))
    per_kind: dict[str, dict[str, float]] = {k: {} for k in kinds}
    for t in tasks:
        tr = trs[t]
        o = tr.oracle
        assert o is not None
        tol = tolerance(tr.task)
        cells = []
        for k in kinds:
            runs = sched.get(t, {}).get(k)
            if not runs:
                cells.append("-")
                continue
            _, reg, reach = schedule_summary(tr, runs)
            per_kind[k][t] = reg
            cells.append(f"{_f(reg * tol)} / {reach if reach > 0 else '-'}")
        add(f"| {t} | {o.metric:.4g} ({o.steps_to_final}) | " + " | ".join(cells) + " |")
    add("")
    add("| schedule | median regret (target units) | worst task | tasks beating the oracle |")
    add("|---|---|---|---|")
    for k, d in per_kind.items():
        if d:
            v = list(d.values())
            add(
                f"| {k} | {_f(statistics.median(v))} | {_f(max(v))} | {sum(x < 0 for x in v)}"
                f"/{len(v)} |"
            )
    add("")
    ks = [k for k in kinds if k.startswith("onecycle x")]
    if ks and all(len(per_kind[k]) == len(tasks) for k in ks):
        add("LOTO choice of the peak multiplier k (lowest median regret on the other tasks):")
        add("")
        add("| held-out task | chosen | regret (target units) |")
        add("|---|---|---|")
        held = []
        for t in tasks:
            rest = [u for u in tasks if u != t]
            best = min(ks, key=lambda k: (statistics.median(per_kind[k][u] for u in rest), k))
            held.append(per_kind[best][t])
            add(f"| {t} | {best} | {_f(per_kind[best][t])} |")
        add(f"| **median / worst** | | {_f(statistics.median(held))} / {_f(max(held))} |")
        add("")


def schedule_table(
    trs: dict[str, TaskResults],
    sched: dict[str, dict[str, list[Any]]],
    schedule_summary: Callable[..., tuple[float, float, int]],
) -> dict[str, dict[str, dict[str, float]]]:
    """task -> schedule -> mean final, regret (target units), worst seed regret, steps, n."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for t, rows in sched.items():
        tr = trs[t]
        o = tr.oracle
        assert o is not None
        tol = tolerance(tr.task)
        for k, runs in rows.items():
            if not runs:
                continue
            mean, reg, reach = schedule_summary(tr, runs)
            seed_regs = [tr.task.regret(o.metric, r.final) / tol for r in runs]
            out.setdefault(t, {})[k] = {
                "mean_final": mean,
                "regret": reg,
                "worst_seed": max(seed_regs),
                "steps_to_oracle": reach,
                "n": len(runs),
                "diverged": sum(bool(getattr(r, "diverged", False)) for r in runs),
            }
    return out


def write_schedule_report(
    command: str,
    trs: dict[str, TaskResults],
    sched: dict[str, dict[str, list[Any]]],
    peaks: dict[str, dict[str, list[float]]],
    schedule_summary: Callable[..., tuple[float, float, int]],
    seeds: tuple[int, ...],
) -> str:
    """The one-cycle study alone (no confirmation pick): per task and summary tables."""
    table = schedule_table(trs, sched, schedule_summary)
    lines: list[str] = []
    add = lines.append
    add("# One-cycle over the whole budget vs the oracle fixed LR (no confirmation pick)")
    add("")
    add(f"Command: `{command}`.  ")
    add(
        f"Seeds {', '.join(map(str, seeds))}; oracle = best fixed LR of the half-decade grid, "
        "3 seeds (`benchmarks/oracle_cache.json`)."
    )
    add("")
    add(
        "Regret of the mean final metric over seeds, in target units (1 accuracy point, 3% of "
        "a test loss, 5% of a test MSE; negative = better than the oracle); `worst seed` = "
        "largest single-seed regret; `steps` = first evaluated step where the mean curve "
        "reaches the oracle's final mean (`never` = not within the budget)."
    )
    add("")
    kinds: list[str] = []
    for t in table:
        for k in table[t]:
            if k not in kinds:
                kinds.append(k)
    for t, rows in table.items():
        tr = trs[t]
        o = tr.oracle
        assert o is not None
        tol = tolerance(tr.task)
        add(f"### {t}")
        add("")
        add(
            f"Oracle lr {o.lr:.3g}, {tr.task.metric} {o.metric:.4g} (sd {o.sd:.2g}), reaches "
            f"it at step {o.steps_to_final}; budget {tr.task.steps} steps; target unit "
            f"{tol:g}."
        )
        add("")
        add(
            "| variant | median max_lr | mean final | regret (target units) | worst seed | "
            "steps to oracle final | budget | seeds |"
        )
        add("|---|---|---|---|---|---|---|---|")
        for k in kinds:
            if k not in rows:
                add(f"| {k} | - | no bounds | - | - | - | {tr.task.steps} | 0 |")
                continue
            r = rows[k]
            pk = statistics.median(peaks.get(t, {}).get(k, [math.nan]))
            reach = int(r["steps_to_oracle"])
            add(
                f"| {k} | {pk:.3g} | {r['mean_final']:.4g} | {_f(r['regret'])} | "
                f"{_f(r['worst_seed'])} | {reach if reach > 0 else 'never'} | "
                f"{tr.task.steps} | {int(r['n'])} |"
            )
        add("")
    add("## Summary over these tasks")
    add("")
    add(
        "| variant | tasks | median regret | worst task | tasks > 1 | tasks < 0 | "
        "reaches oracle final |"
    )
    add("|---|---|---|---|---|---|---|")
    for k in kinds:
        v = [table[t][k]["regret"] for t in table if k in table[t]]
        reach = sum(table[t][k]["steps_to_oracle"] > 0 for t in table if k in table[t])
        if v:
            add(
                f"| {k} | {len(v)} | {_f(statistics.median(v))} | {_f(max(v))} | "
                f"{sum(x > 1 for x in v)} | {sum(x < 0 for x in v)} | {reach}/{len(v)} |"
            )
    add("")
    return "\n".join(lines) + "\n"
