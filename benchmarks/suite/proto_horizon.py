"""Prototypes that read the confirmation against the run's length (measured on the suite).

The candidate runs are :mod:`benchmarks.suite.proto_val`'s (``q5`` around the curve's
``bottom``, held-out loss every 10 steps); these rules read the same held-out losses
through :mod:`cyclr.rangetest.horizon`, as the library does:

* ``confirm-vfitrun-q5-k40``: the fitted vertex, lowered to the run's length where the
  candidates overfit (the library's ``suggest(total_steps=T)``); ``-h3-k60``, ``-h3-k70``,
  ``-q5-k50``, ``-q5-k60``: the same with fewer candidates or longer windows, so that a
  rise after step 40 can count;
* ``confirm-vfitflow{delta}``: also raised to the end of the flow path where none
  overfit (measured, not adopted);
* ``confirm-vfitcap{delta}``: lowered to the end of the flow path where it lies above it;
  ``confirm-vfitpath{delta}``: the path's end both ways.
"""

from __future__ import annotations

from cyclr.rangetest.scores import untrained_bar, untrained_loss

from .proto_confirm import Context, Rule
from .proto_val import EVERY, GRIDS, cached_val_run, fitted


def _window(
    ctx: Context, k: int, grid: str = "q5"
) -> tuple[list[float], list[list[float]], tuple[int, ...], float, float]:
    """The ``grid`` candidates' LRs, held-out losses at steps 10 to ``k``, those steps, and
    the untrained loss and learning bar of the sweep's first 10 losses (as the library
    reads them)."""
    cands = sorted(ctx.bottom() * 10.0**o for o in GRIDS[grid])
    recs = [cached_val_run(ctx.store, ctx.task, ctx.seed, c) for c in cands]
    at = tuple(range(EVERY, k + 1, EVERY))
    losses = [[r["val"][str(s)] for s in at if str(s) in r["val"]] for r in recs]
    untrained, bar = untrained_loss(ctx.losses), untrained_bar(ctx.losses)
    if untrained is None or bar is None:
        raise ValueError(f"the sweep of {ctx.task.name} seed {ctx.seed} has no untrained loss")
    return [r["lr"] for r in recs], losses, at, untrained, bar


def run_length(k: int = 40, use_bar: bool = True, grid: str = "q5") -> Rule:
    """:func:`fitted` over ``grid``, then ``min(lr, lr_T)`` from the candidates that overfit.

    :func:`cyclr.rangetest.horizon.run_length_lr` on the held-out losses the library's
    confirmation would have (steps 10 to ``k``), with ``T`` the task's budget and the
    learning bar of the sweep's first losses (``use_bar=False``: no bar). No extra cost.
    """
    from cyclr.rangetest.horizon import run_length_lr

    first = fitted(GRIDS[grid], k)

    def rule(ctx: Context) -> tuple[float, int]:
        lr, steps = first(ctx)
        lrs, losses, at, _, bar = _window(ctx, k, grid)
        h = run_length_lr(lrs, losses, at, bar if use_bar else None, ctx.task.steps)
        if h.lr is not None and h.lr < lr:
            lr = float(f"{h.lr:.3g}")
        return lr, steps

    return rule


def flow_path(k: int = 40, delta: float = 0.1, *, lower: bool, raise_: bool) -> Rule:
    """:func:`run_length`, moved to the end of the flow path.

    :func:`cyclr.rangetest.horizon.flow_path_end` (tolerance ``delta``) on the candidate
    runs of this module, the sweep's first losses giving the untrained loss and the bar.
    ``raise_``: raised to the path's end where no candidate's held-out loss turned up (the
    library's reading, reported as ``flow_path_lr`` and not applied). ``lower``: lowered to
    it where it lies below the LR: a candidate whose held-out loss lags the smaller ones' at
    equal ``lr * t`` (by more than ``delta`` of their progress) has left the gradient-flow
    path (noise, the edge of stability), and a long run at it may lose what the window's few
    steps hid. Both: the path's end either way. Measured and not adopted.
    """
    from cyclr.rangetest.horizon import flow_path_end, overfitting_times

    first = run_length(k)

    def rule(ctx: Context) -> tuple[float, int]:
        lr, steps = first(ctx)
        lrs, losses, at, untrained, bar = _window(ctx, k)
        end = flow_path_end(lrs, losses, at, untrained, bar, delta)
        if end is None:
            return lr, steps
        if (lower and lrs[end] < lr) or (
            raise_ and lrs[end] > lr and not overfitting_times(lrs, losses, at, bar)
        ):
            return float(f"{lrs[end]:.3g}"), steps
        return lr, steps

    return rule


def horizon_rules() -> dict[str, Rule]:
    """Every rule of this module, by name."""
    rules: dict[str, Rule] = {
        "confirm-vfitrun-q5-k40": run_length(40),
        "confirm-vfitrunnobar-q5-k40": run_length(40, use_bar=False),
    }
    for grid, k in (("h3", 60), ("h3", 70), ("q5", 50), ("q5", 60)):
        rules[f"confirm-vfitrun-{grid}-k{k}"] = run_length(k, grid=grid)
    for delta in (0.05, 0.1, 0.2):
        rules[f"confirm-vfitflow{delta:g}-q5-k40"] = flow_path(40, delta, lower=False, raise_=True)
    for delta in (0.1, 0.2, 0.3):
        rules[f"confirm-vfitcap{delta:g}-q5-k40"] = flow_path(40, delta, lower=True, raise_=False)
        rules[f"confirm-vfitpath{delta:g}-q5-k40"] = flow_path(40, delta, lower=True, raise_=True)
    return rules
