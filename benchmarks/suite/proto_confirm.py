"""Prototype suggestion rules that go beyond reading one curve (measured, not in the library).

Every rule starts from cyclr's default range test of a task and seed (the suite's cached
``cyclr`` finder record) and may spend more training steps:

* **confirmation** (``confirm-...``): read 2-6 candidate LRs from the curve, train each
  for ``k`` steps from the same initial state (``copy.deepcopy`` of the model, the
  optimizer's ``state_dict``, the same ``k`` batches), score each by the mean training
  loss of the last quarter of the window (``train``) or by the loss on a fixed batch of
  training examples in eval mode after step ``k`` (``held``), keep the best;
* **budget** (``budget-a``): the bottom rule times ``(steps / 300) ** -a``;
* **lag** (``lag-d``): the bottom rule's log-LR moved back by the momentum lag,
  ``beta / (1 - beta)`` sweep steps (SGD momentum or Adam ``beta1``), divided by ``d``
  instead of 10;
* **average** (``avg2``): the bottom rule on the mean curve of two 50-step tests.

Only cyclr's public API is used: :func:`cyclr.torch.range_test`,
:func:`cyclr.rangetest.suggest.suggestions` and :func:`~cyclr.rangetest.suggest.fit_curve`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .store import Store
from .tasks import Task

K_MAX = 60
HELD_AT = (20, 30, 40, 50, 60)
HELD_SIZE = 1024
EXTRA_BUDGET = 200
"""Most confirmation steps a rule may spend: 2x a plain 100-step range test."""


def _held_batch(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    s = task.split()
    gen = torch.Generator().manual_seed(12_345)
    idx = torch.randperm(len(s.x_train), generator=gen)[: min(HELD_SIZE, len(s.x_train))]
    return s.x_train[idx], s.y_train[idx]


def confirm_run(task: Task, seed: int, lr: float) -> dict[str, Any]:
    """Train ``K_MAX`` steps at ``lr`` from the seed's initial state; record the losses.

    The model and optimizer are deep copies of one saved state, and the batches are the
    first ``K_MAX`` of the seed's stream, so every candidate of a seed sees the same.
    """
    base_model = task.make_model(seed)
    base_opt = task.make_optimizer(base_model.parameters(), lr)
    model = copy.deepcopy(base_model)
    opt = task.make_optimizer(model.parameters(), lr)
    opt.load_state_dict(base_opt.state_dict())
    for group in opt.param_groups:
        group["lr"] = lr
    batches = task.batches(seed)
    xh, yh = _held_batch(task)
    losses: list[float] = []
    held: dict[str, float] = {}
    model.train()
    for step in range(K_MAX):
        xb, yb = next(batches)
        opt.zero_grad(set_to_none=True)
        loss = task.loss(model(xb), yb)
        value = float(loss.item())
        if not math.isfinite(value):
            break
        losses.append(value)
        loss.backward()
        opt.step()
        if step + 1 in HELD_AT:
            model.eval()
            with torch.no_grad():
                h = float(task.loss(model(xh), yh))
            model.train()
            held[str(step + 1)] = h if math.isfinite(h) else math.inf
    return {"lr": lr, "losses": losses, "held": held}


def cached_confirm(store: Store, task: Task, seed: int, lr: float) -> dict[str, Any]:
    """:func:`confirm_run`, cached in ``store`` under ``confirm``."""
    lr = float(f"{lr:.4g}")
    key = f"lr={lr!r}-seed={seed}-k={K_MAX}"
    rec = store.get(task, "confirm", key)
    if rec is None:
        rec = confirm_run(task, seed, lr)
        store.put(task, "confirm", key, rec)
    return rec


def score(rec: dict[str, Any], k: int, how: str) -> float:
    """Lower is better: ``train`` = mean loss of the last quarter of the first ``k`` steps,
    ``train2`` = of the last half, ``held`` = the held-out batch loss after step ``k``;
    ``inf`` if the run diverged."""
    losses = rec["losses"]
    if len(losses) < k:
        return math.inf
    if how in ("train", "train2"):
        w = max(1, k // 4 if how == "train" else k // 2)
        return float(np.mean(losses[k - w : k]))
    return float(rec["held"].get(str(k), math.inf))


@dataclass
class Context:
    """What a rule sees for one task and seed."""

    task: Task
    seed: int
    lrs: np.ndarray
    losses: np.ndarray
    test_steps: int
    store: Store
    extra_tests: Callable[[], tuple[np.ndarray, np.ndarray, int]] | None = None
    spent: int = 0
    cache: dict[str, Any] = field(default_factory=dict)

    def curve(self) -> Any:
        """cyclr's fit of the curve."""
        if "curve" not in self.cache:
            from cyclr.rangetest.suggest import fit_curve

            self.cache["curve"] = fit_curve(self.lrs, self.losses)
        return self.cache["curve"]

    def sugg(self) -> dict[str, float]:
        """cyclr's named suggestions (those that gave one)."""
        if "sugg" not in self.cache:
            from cyclr.rangetest.suggest import suggestions

            out = {}
            try:
                for name, s in suggestions(self.lrs, self.losses).items():
                    out[name] = float(s.lr)
            except Exception:
                pass
            self.cache["sugg"] = out
        return dict(self.cache["sugg"])

    def bottom(self) -> float:
        """The default (bottom) suggestion."""
        return self.sugg()["bottom"]

    def edge(self) -> float:
        """The LR at the edge of the bottom (the minimum's LR when the sweep ended there)."""
        c = self.curve()
        x = c.x[c.i_min] if math.isnan(c.x_edge) else c.x_edge
        return float(10.0**x)


Rule = Callable[[Context], tuple[float, int]]
"""A rule returns (lr, extra training steps spent beyond the default range test)."""


def confirm_rule(
    offsets: tuple[float, ...], k: int, how: str, anchor: str = "bottom", post: float = 0.0
) -> Rule:
    """Candidates ``anchor * 10 ** offset``; ``k`` steps each; keep the lowest score, times
    ``10 ** post``.

    Ties (equal scores, e.g. two diverged candidates) go to the smaller LR.
    """

    def rule(ctx: Context) -> tuple[float, int]:
        a = ctx.bottom() if anchor == "bottom" else ctx.edge()
        cands = sorted(a * 10.0**o for o in offsets)
        best, best_s = cands[0], math.inf
        for lr in cands:
            s = score(cached_confirm(ctx.store, ctx.task, ctx.seed, lr), k, how)
            if s < best_s:
                best, best_s = lr, s
        return best * 10.0**post, k * len(cands)

    return rule


def budget_rule(a: float) -> Rule:
    """The bottom rule times ``(steps / 300) ** -a``."""

    def rule(ctx: Context) -> tuple[float, int]:
        return ctx.bottom() * (ctx.task.steps / 300.0) ** (-a), 0

    return rule


def _momentum(task: Task) -> float:
    return task.first_moment


def lag_rule(divisor: float) -> Rule:
    """The bottom's centre moved back by the momentum lag, then divided by ``divisor``."""

    def rule(ctx: Context) -> tuple[float, int]:
        c = ctx.curve()
        beta = _momentum(ctx.task)
        lag = beta / (1.0 - beta)
        dx = float(np.median(np.diff(np.log10(ctx.lrs))))
        lo = float(c.x[c.i_min])
        hi = lo if math.isnan(c.x_edge) else float(c.x_edge)
        x = 0.5 * (lo + hi) - lag * dx
        return float(10.0**x) / divisor, 0

    return rule


def divisor_rule(divisor: float) -> Rule:
    """The bottom's centre divided by ``divisor`` (10 is cyclr's default)."""

    def rule(ctx: Context) -> tuple[float, int]:
        return ctx.bottom() * 10.0 / divisor, 0

    return rule


def two_short_tests(store: Store, task: Task, seed: int) -> dict[str, Any]:
    """Two 50-step cyclr range tests (batch orders ``seed`` and ``seed + 100``), cached."""
    key = f"seed={seed}-n=50"
    rec = store.get(task, "avg2", key)
    if rec is not None:
        return rec
    from cyclr.torch import range_test

    out: dict[str, Any] = {"lrs": [], "losses": [], "steps": 0}
    for s in (seed, seed + 100):
        model = task.make_model(seed)
        opt = task.make_optimizer(model.parameters(), 1e-7)
        r = range_test(
            model, opt, task.loader(s), task.loss, num_steps=50, progress=False, held_out=None
        )
        out["lrs"].append([float(v) for v in r.lrs[:, 0]])
        out["losses"].append([float(v) for v in r.losses])
        out["steps"] += int(r.settings.get("steps_run_total", len(r.losses)))
    store.put(task, "avg2", key, out)
    return out


def avg2_rule(ctx: Context) -> tuple[float, int]:
    """The bottom rule on the mean of two 50-step curves (their common steps).

    Replaces the default test: the cost returned is minus the default test's steps plus
    the two short tests' steps.
    """
    from cyclr.rangetest.suggest import suggest

    rec = two_short_tests(ctx.store, ctx.task, ctx.seed)
    n = min(len(v) for v in rec["losses"])
    lrs = np.asarray(rec["lrs"][0][:n])
    losses = np.mean([np.asarray(v[:n]) for v in rec["losses"]], axis=0)
    return float(suggest(lrs, losses, "bottom").lr), int(rec["steps"]) - ctx.test_steps


def build_rules() -> dict[str, Rule]:
    """Every prototype variant, by name."""
    rules: dict[str, Rule] = {"bottom": divisor_rule(10.0)}
    for d in (3.16, 31.6):
        rules[f"bottom/{d:g}"] = divisor_rule(d)
    grids = {
        "h3": (-0.5, 0.0, 0.5),
        "d3": (-1.0, 0.0, 1.0),
        "h4lo": (-1.0, -0.5, 0.0, 0.5),
        "h5": (-1.0, -0.5, 0.0, 0.5, 1.0),
        "q5": (-0.5, -0.25, 0.0, 0.25, 0.5),
        "h6": (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0),
    }
    edge_grids = {"e4": (-0.5, -1.0, -1.5, -2.0), "e3": (-1.0, -1.5, -2.0)}
    for anchor, table in (("bottom", grids), ("edge", edge_grids)):
        for gname, offs in table.items():
            for k in (30, 40, 60):
                if k * len(offs) > EXTRA_BUDGET:
                    continue
                for how in ("train", "train2", "held"):
                    rules[f"confirm-{gname}-k{k}-{how}"] = confirm_rule(offs, k, how, anchor)
                    if gname.startswith("h"):  # one half-decade below the winner
                        rules[f"confirm-{gname}-k{k}-{how}-down"] = confirm_rule(
                            offs, k, how, anchor, -0.5
                        )
    rules["avg2"] = avg2_rule
    for a in (0.5, 1.0):
        rules[f"budget-{a:g}"] = budget_rule(a)
    for d in (1.0, 3.16, 10.0):
        rules[f"lag-{d:g}"] = lag_rule(d)
    from .proto_guarded import guarded_rules

    rules.update(guarded_rules())
    from .proto_val import val_rules

    rules.update(val_rules())
    return rules
