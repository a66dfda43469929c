"""Confirmation scored on a real validation split, and successive halving (measured prototypes).

The earlier confirmation prototypes (:mod:`benchmarks.suite.proto_confirm`) scored a
candidate by the loss on 1,024 *training* examples in eval mode. The library's
:func:`cyclr.torch.confirm` scores on the ``held_out`` batches the user passes, which in
practice are validation data the candidates never trained on. Overfitting (the
diabetes task's best LR is set by it) can only show on such data, so these rules are
the faithful measurement of the library's stage:

* the training examples are split once per task (fixed permutation, seed 54,321) into a
  validation part (a fifth, at most 1,000 examples) and the rest; candidates train on
  batches of the rest only (seed-deterministic, the same batches for every candidate of
  a seed) and are scored on the validation part;
* ``confirm-val-{grid}-k{k}``: every candidate ``bottom * 10**o`` trains ``k`` steps;
  the lowest validation loss after step ``k`` wins (ties to the smaller LR);
* ``confirm-valsh-{grid}-r{k1}`` (successive halving): every candidate trains ``k1``
  steps; the best two go on training to ``k2``, chosen so that
  the total stays within :data:`EXTRA_BUDGET`; the lowest validation loss at ``k2``
  wins. The final comparison sees a longer horizon than one round could afford;
* ``confirm-vtr-...``: the same runs scored by the loss on training examples in eval mode
  (the earlier ``held`` score), as the control that separates "validation data" from
  "the reduced training stream";
* ``confirm-vacc-...``: scored by validation accuracy on classification tasks (loss
  elsewhere), the metric the user is judged by;
* ``confirm-vrise-...``: the validation loss at ``k`` plus its largest rise above its
  running minimum over the window (:func:`rise`): a candidate whose held-out loss
  bounced back up, on the edge of stability or starting to overfit, pays for the bounce.

Each candidate run is cached once (``K_MAX`` steps, scores every ``EVERY`` steps), so
every rule is a read of the same runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from cyclr.rangetest.confirm import largest_rise

from .proto_confirm import EXTRA_BUDGET, Context, Rule
from .store import Store
from .tasks import Task

K_MAX = 100
EVERY = 10
VAL_FRACTION = 5
VAL_MAX = 1000
TRAIN_HELD = 1024
GRIDS = {
    "q5": (-0.5, -0.25, 0.0, 0.25, 0.5),
    "h3": (-0.5, 0.0, 0.5),
    "h5": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "up4": (-0.5, 0.0, 0.5, 1.0),
}
_SPLITS: dict[str, tuple[torch.Tensor, ...]] = {}


def val_split(task: Task) -> tuple[torch.Tensor, ...]:
    """``(x_fit, y_fit, x_val, y_val)``: the training examples split once per task."""
    if task.name not in _SPLITS:
        s = task.split()
        n = len(s.x_train)
        n_val = min(VAL_MAX, n // VAL_FRACTION)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(54_321))
        val, fit = perm[:n_val], perm[n_val:]
        _SPLITS[task.name] = (s.x_train[fit], s.y_train[fit], s.x_train[val], s.y_train[val])
    return _SPLITS[task.name]


def train_batches(task: Task, seed: int, x: torch.Tensor, y: torch.Tensor) -> Any:
    gen = torch.Generator().manual_seed(20_000 + seed)
    while True:
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - task.batch_size + 1, task.batch_size):
            idx = perm[i : i + task.batch_size]
            yield x[idx], y[idx]


@torch.no_grad()
def _scores(
    task: Task, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, float]:
    """(mean loss, accuracy in percent or nan) of ``model`` on ``x, y`` in eval mode."""
    model.eval()
    try:
        loss_sum, hits = 0.0, 0.0
        for i in range(0, len(x), 500):
            out = model(x[i : i + 500])
            loss_sum += float(task.loss(out, y[i : i + 500])) * len(out)
            if task.metric == "accuracy":
                hits += float((out.argmax(-1) == y[i : i + 500]).sum())
    finally:
        model.train()
    loss = loss_sum / len(x)
    acc = 100.0 * hits / len(x) if task.metric == "accuracy" else math.nan
    return (loss if math.isfinite(loss) else math.inf), acc


def val_run(task: Task, seed: int, lr: float) -> dict[str, Any]:
    """Train ``K_MAX`` steps at ``lr`` on the fit part; score every ``EVERY`` steps."""
    x_fit, y_fit, x_val, y_val = val_split(task)
    model = task.make_model(seed)
    opt = task.make_optimizer(model.parameters(), lr)
    batches = train_batches(task, seed, x_fit, y_fit)
    xh, yh = x_fit[:TRAIN_HELD], y_fit[:TRAIN_HELD]
    rec: dict[str, Any] = {"lr": lr, "val": {}, "acc": {}, "train": {}}
    model.train()
    for step in range(1, K_MAX + 1):
        xb, yb = next(batches)
        opt.zero_grad(set_to_none=True)
        loss = task.loss(model(xb), yb)
        if not math.isfinite(float(loss)):
            break
        loss.backward()
        opt.step()
        if step % EVERY == 0:
            v, a = _scores(task, model, x_val, y_val)
            t, _ = _scores(task, model, xh, yh)
            rec["val"][str(step)], rec["acc"][str(step)], rec["train"][str(step)] = v, a, t
    return rec


def cached_val_run(store: Store, task: Task, seed: int, lr: float) -> dict[str, Any]:
    """:func:`val_run`, cached in ``store`` under ``confirmval``."""
    lr = float(f"{lr:.4g}")
    key = f"lr={lr!r}-seed={seed}-k={K_MAX}-every={EVERY}"
    rec = store.get(task, "confirmval", key)
    if rec is None:
        rec = val_run(task, seed, lr)
        store.put(task, "confirmval", key, rec)
    return rec


def score(task: Task, rec: dict[str, Any], k: int, how: str) -> float:
    """Lower is better; ``inf`` when the run stopped before step ``k``."""
    if how == "acc" and task.metric == "accuracy":
        a = rec["acc"].get(str(k))
        return math.inf if a is None or math.isnan(a) else -float(a)
    table = rec["train" if how == "train" else "val"]
    value = table.get(str(k))
    if value is None:
        return math.inf
    if how == "rise":
        return float(value) + rise(rec, k)
    return float(value)


def rise(rec: dict[str, Any], k: int) -> float:
    """The largest rise of the validation loss above its running minimum by step ``k``.

    ``max_j (v_j - min_{i <= j} v_i)`` over the evaluations every :data:`EVERY` steps:
    0 for a loss that only fell, the size of the bounce for one that went back up
    (an LR on the edge of stability, or a model starting to overfit). In the loss's own
    units, so adding it to the final loss needs no constant. The library's
    :func:`cyclr.rangetest.confirm.largest_rise`; ``inf`` if the run stopped before ``k``.
    """
    values = [rec["val"].get(str(step)) for step in range(EVERY, k + 1, EVERY)]
    if any(v is None for v in values):
        return math.inf
    return largest_rise(values)


def _best(task: Task, recs: list[dict[str, Any]], k: int, how: str) -> dict[str, Any]:
    """The lowest score at ``k``; ties (and all-inf) go to the smaller LR."""
    return min(recs, key=lambda r: (score(task, r, k, how), r["lr"]))


def one_round(offsets: tuple[float, ...], k: int, how: str) -> Rule:
    """Every candidate ``k`` steps; the best score at ``k`` wins."""

    def rule(ctx: Context) -> tuple[float, int]:
        cands = sorted(ctx.bottom() * 10.0**o for o in offsets)
        recs = [cached_val_run(ctx.store, ctx.task, ctx.seed, lr) for lr in cands]
        return float(_best(ctx.task, recs, k, how)["lr"]), k * len(cands)

    return rule


def halving(offsets: tuple[float, ...], k1: int, how: str) -> tuple[Rule, int]:
    """Successive halving: all candidates ``k1`` steps, the best two on to ``k2``.

    Returns the rule and ``k2``, the largest multiple of :data:`EVERY` (at most
    :data:`K_MAX`) that keeps the total within :data:`EXTRA_BUDGET`.
    """
    n = len(offsets)
    keep = 2
    k2 = (k1 + (EXTRA_BUDGET - n * k1) // keep) // EVERY * EVERY
    k2 = min(k2, K_MAX)

    def rule(ctx: Context) -> tuple[float, int]:
        cands = sorted(ctx.bottom() * 10.0**o for o in offsets)
        recs = [cached_val_run(ctx.store, ctx.task, ctx.seed, lr) for lr in cands]
        ranked = sorted(recs, key=lambda r: (score(ctx.task, r, k1, how), r["lr"]))
        finalists = ranked[:keep]
        return float(_best(ctx.task, finalists, k2, how)["lr"]), n * k1 + keep * (k2 - k1)

    return rule, k2


def backed_off(offsets: tuple[float, ...], k: int) -> Rule:
    """The ``vrise`` choice among the candidates at least two grid steps below the first
    unsteady one (finite and never rising: see :func:`rise`); the smallest candidate if
    none is.

    The edge of stability moves down as training goes on: a candidate steady for ``k``
    steps right below one that bounced may bounce later, so its neighbour is skipped.
    """

    def rule(ctx: Context) -> tuple[float, int]:
        cands = sorted(ctx.bottom() * 10.0**o for o in offsets)
        recs = [cached_val_run(ctx.store, ctx.task, ctx.seed, lr) for lr in cands]
        unsteady = [
            i
            for i, r in enumerate(recs)
            if not math.isfinite(score(ctx.task, r, k, "rise")) or rise(r, k) > 0.0
        ]
        allowed = recs if not unsteady else recs[: max(1, unsteady[0] - 1)]
        return float(_best(ctx.task, allowed, k, "rise")["lr"]), k * len(cands)

    return rule


def extended(k: int = 40) -> Rule:
    """The ``vrise`` choice over ``q5``, extended by one candidate when it lands on an end.

    A best candidate at the grid's end (``+-0.5`` decades) says the best LR may lie
    beyond it, as in a line search; one more candidate half a decade further (``+-1``)
    is trained and compared. Costs ``k`` more steps when it happens.
    """

    def rule(ctx: Context) -> tuple[float, int]:
        b = ctx.bottom()
        offsets = sorted(GRIDS["q5"])
        cands = [b * 10.0**o for o in offsets]
        recs = [cached_val_run(ctx.store, ctx.task, ctx.seed, lr) for lr in cands]
        best = _best(ctx.task, recs, k, "rise")
        i = recs.index(best)
        if i in (0, len(recs) - 1):
            outer = b * 10.0 ** (2 * offsets[i])
            recs.append(cached_val_run(ctx.store, ctx.task, ctx.seed, outer))
            best = _best(ctx.task, recs, k, "rise")
        return float(best["lr"]), k * len(recs)

    return rule


def vertex(points: list[tuple[float, float]]) -> float | None:
    """The minimum of the least-squares parabola through ``(x, score)`` points.

    A response surface: the scores of the candidates, in log-LR, fitted by
    ``a x**2 + b x + c``; the vertex ``-b / 2a`` is clipped to the candidates' range.
    Every candidate's score informs the estimate, where the argmin reads only the
    smallest (and so inherits its noise: the winner's curse). ``None`` when fewer than
    three scores are finite or the fit is not convex (no interior minimum to read).
    """
    pts = [(x, y) for x, y in points if math.isfinite(y)]
    if len(pts) < 3:
        return None
    xs = [p[0] for p in pts]
    a, b, _ = np.polyfit(xs, [p[1] for p in pts], 2)
    if a <= 0:
        return None
    return float(min(max(-b / (2 * a), min(xs)), max(xs)))


ANCHORS: dict[str, Callable[[Context], float]] = {
    "bottom": lambda ctx: ctx.bottom(),
    "valley": lambda ctx: ctx.sugg().get("valley", ctx.bottom()),
    "mid": lambda ctx: math.sqrt(ctx.bottom() * ctx.sugg().get("valley", ctx.bottom())),
}
"""Where a confirmation window is centred: the curve's ``bottom`` reading (the library),
its ``valley`` reading (``bottom`` when it has none), or their geometric mean."""


def fitted(
    offsets: tuple[float, ...],
    k: int,
    how: str = "rise",
    anchor: str = "bottom",
    horizon: float = 0.0,
) -> Rule:
    """Every candidate ``k`` steps; the vertex of the parabola through their scores.

    Falls back to the best candidate (:func:`_best`) when :func:`vertex` has no answer.
    ``horizon = a`` scales the answer by ``(T / k) ** -a``, ``T`` the task's budget: the
    best constant LR for ``T`` steps taken as a power law of the horizon below the best
    for ``k`` (budget awareness from ``total_steps``; ``a = 0`` is the library).
    """
    centre = ANCHORS[anchor]

    def rule(ctx: Context) -> tuple[float, int]:
        cands = sorted(centre(ctx) * 10.0**o for o in offsets)
        recs = [cached_val_run(ctx.store, ctx.task, ctx.seed, lr) for lr in cands]
        x = vertex([(math.log10(r["lr"]), score(ctx.task, r, k, how)) for r in recs])
        lr = float(_best(ctx.task, recs, k, how)["lr"]) if x is None else 10.0**x
        return float(f"{lr * (ctx.task.steps / k) ** -horizon:.3g}"), k * len(cands)

    return rule


def verified(k: int, k2: int, tolerance: float) -> Rule:
    """:func:`fitted` over ``q5``, then the candidate nearest the LR trains on to ``k2``.

    If its held-out loss rises over the longer run by more than ``tolerance`` of the
    progress it made (``rise > tolerance * (untrained - min)``, the untrained loss the mean
    of the sweep's first 10 losses: scale-free), the LR is read again from the candidates
    below it, and so on down. Late instability and overfitting show after step ``k``; this
    looks for them at the one LR about to be returned. Costs ``k2 - k`` more steps.
    """
    first = fitted(GRIDS["q5"], k)

    def rule(ctx: Context) -> tuple[float, int]:
        lr, steps = first(ctx)
        recs = [
            cached_val_run(ctx.store, ctx.task, ctx.seed, ctx.bottom() * 10.0**o)
            for o in GRIDS["q5"]
        ]
        untrained = float(np.mean(ctx.losses[:10]))
        while True:
            j = min(range(len(recs)), key=lambda i: abs(math.log(recs[i]["lr"] / lr)))
            values = [recs[j]["val"].get(str(s), math.inf) for s in range(EVERY, k2 + 1, EVERY)]
            progress = untrained - min(values)
            if j == 0 or not (progress > 0 and largest_rise(values) > tolerance * progress):
                return float(f"{lr:.3g}"), steps + (k2 - k)
            recs = recs[:j]
            pts = [(math.log10(r["lr"]), score(ctx.task, r, k, "rise")) for r in recs]
            x = vertex(pts)
            lr = float(_best(ctx.task, recs, k, "rise")["lr"]) if x is None else 10.0**x

    return rule


def fitted_extended(k: int = 40, extra: int = 2) -> Rule:
    """:func:`fitted` over ``q5``; when the vertex is clipped to an end, ``extra`` more
    candidates a quarter decade apart beyond that end, and the vertex of all of them.

    A line search's step: a parabola whose minimum lies past the window says the best
    LR may lie there. Costs ``extra * k`` more steps when it happens.
    """

    def rule(ctx: Context) -> tuple[float, int]:
        b = ctx.bottom()
        offsets = sorted(GRIDS["q5"])
        recs = [cached_val_run(ctx.store, ctx.task, ctx.seed, b * 10.0**o) for o in offsets]

        def pick(rs: list[dict[str, Any]]) -> tuple[float | None, list[dict[str, Any]]]:
            rs = sorted(rs, key=lambda r: r["lr"])
            x = vertex([(math.log10(r["lr"]), score(ctx.task, r, k, "rise")) for r in rs])
            return (None if x is None else 10.0**x), rs

        lr, recs = pick(recs)
        finite = [r["lr"] for r in recs if math.isfinite(score(ctx.task, r, k, "rise"))]
        if lr is not None and finite and (lr >= finite[-1] * 0.999 or lr <= finite[0] * 1.001):
            sign = 1.0 if lr >= finite[-1] * 0.999 else -1.0
            end = offsets[-1] if sign > 0 else offsets[0]
            more = [b * 10.0 ** (end + sign * 0.25 * (i + 1)) for i in range(extra)]
            recs += [cached_val_run(ctx.store, ctx.task, ctx.seed, v) for v in more]
            lr, recs = pick(recs)
        if lr is None:
            return float(_best(ctx.task, recs, k, "rise")["lr"]), k * len(recs)
        return float(f"{lr:.3g}"), k * len(recs)

    return rule


def shrunk(offsets: tuple[float, ...], k: int, weight: float = 0.5) -> Rule:
    """The geometric mean of the curve's reading and the confirmed candidate.

    ``lr = bottom ** (1 - w) * pick ** w``: two estimates of the best LR with different
    errors (the sweep's and the window's), combined.
    """
    pick_rule = one_round(offsets, k, "rise")

    def rule(ctx: Context) -> tuple[float, int]:
        pick, steps = pick_rule(ctx)
        lr = ctx.bottom() ** (1.0 - weight) * pick**weight
        return float(f"{lr:.3g}"), steps

    return rule


def val_rules() -> dict[str, Rule]:
    """Every rule of this module, by name."""
    rules: dict[str, Rule] = {}
    for how, tag in (("val", "val"), ("train", "vtr"), ("acc", "vacc"), ("rise", "vrise")):
        for gname, offs in GRIDS.items():
            for k in (20, 40, 60):
                if k * len(offs) <= EXTRA_BUDGET:
                    rules[f"confirm-{tag}-{gname}-k{k}"] = one_round(offs, k, how)
            for k1 in (10, 20, 30):
                rule, k2 = halving(offs, k1, how)
                if k2 > k1:
                    rules[f"confirm-{tag}sh-{gname}-r{k1}-{k2}"] = rule
    for gname, offs in GRIDS.items():
        for k in (40, 60):
            if k * len(offs) <= EXTRA_BUDGET:
                rules[f"confirm-vback-{gname}-k{k}"] = backed_off(offs, k)
    rules["confirm-vext-q5-k40"] = extended(40)
    for gname in ("q5", "h5", "h3"):
        for k in (20, 40, 60, 80, 100):
            rules[f"confirm-vfit-{gname}-k{k}"] = fitted(GRIDS[gname], k)
    rules["confirm-vfitval-q5-k40"] = fitted(GRIDS["q5"], 40, "val")
    for name in ("valley", "mid"):
        rules[f"confirm-vfit{name}-q5-k40"] = fitted(GRIDS["q5"], 40, anchor=name)
    rules["confirm-vshrink-q5-k40"] = shrunk(GRIDS["q5"], 40)
    for k2, tol in ((80, 0.02), (80, 0.05), (100, 0.02)):
        rules[f"confirm-vver{k2}-t{tol:g}-q5-k40"] = verified(40, k2, tol)
    for a in (0.2, 0.4):
        rules[f"confirm-vfithz{a:g}-q5-k40"] = fitted(GRIDS["q5"], 40, horizon=a)
    rules["confirm-vfitext-q5-k40"] = fitted_extended(40)
    from .proto_horizon import horizon_rules

    rules.update(horizon_rules())
    return rules


def largest_stable(ctx: Context, grid: str = "q5", k: int = 40) -> float:
    """The largest candidate whose validation loss only fell, or the pick if larger.

    A candidate is stable when its run stayed finite and :func:`rise` is 0 by step
    ``k``. The peak ``Confirmation.bounds`` gives a schedule: the largest LR the
    confirmation saw train without a bounce, never below the candidate the
    ``confirm-vrise`` rule picks.
    """
    cands = sorted(ctx.bottom() * 10.0**o for o in GRIDS[grid])
    recs = [cached_val_run(ctx.store, ctx.task, ctx.seed, lr) for lr in cands]
    stable = [r["lr"] for r in recs if rise(r, k) == 0.0 and str(k) in r["val"]]
    return float(max([_best(ctx.task, recs, k, "rise")["lr"], *stable]))
