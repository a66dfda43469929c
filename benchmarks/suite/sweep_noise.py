"""How much the sweep's reading moves between seeds, for sweeps of several lengths.

``python -m benchmarks.suite.sweep_noise [--tasks a,b] [--seeds 8] [--steps 100,200,300]``
runs :func:`cyclr.torch.range_test` (no ``held_out``) on each task's fit part, as the
``cyclr-confirm`` family's sweep does, for every seed and sweep length, and prints the
seed standard deviation and range of ``log10`` of the ``bottom`` suggestion: the
anchor of the confirmation, whose seed noise sets the one call's seed spread. Nothing is
cached and no model is trained past the sweep.
"""

from __future__ import annotations

import argparse
import math
import statistics
import warnings

import torch

from .finders_confirm import START_LR, FitBatches, _criterion
from .proto_val import val_split
from .tasks import TASKS


def anchors(name: str, seeds: range, num_steps: int) -> list[float]:
    """``log10`` of the ``bottom`` suggestion per seed (NaN where there is none)."""
    from cyclr.torch import range_test

    task = TASKS[name]
    x_fit, y_fit, _, _ = val_split(task)
    out = []
    for seed in seeds:
        model = task.make_model(seed)
        opt = task.make_optimizer(model.parameters(), START_LR)
        batches = FitBatches(task, seed, x_fit, y_fit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = range_test(
                    model,
                    opt,
                    batches,
                    _criterion(task, 1.0, 0.0),
                    num_steps=num_steps,
                    max_steps=9 * num_steps,
                    progress=False,
                    held_out=None,
                )
                out.append(math.log10(result.suggest("bottom").lr))
            except Exception:  # no suggestion: left out of the spread
                out.append(math.nan)
    return out


def main(argv: list[str] | None = None) -> int:
    """Print one markdown row per task and sweep length."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite.sweep_noise")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--steps", default="100,200,300")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print("| task | sweep steps | seed sd of log10(bottom) | range (decades) | mean |")
    print("|---|---|---|---|---|")
    for name in (t for t in args.tasks.split(",") if t):
        for n in (int(v) for v in args.steps.split(",")):
            xs = [x for x in anchors(name, range(args.seeds), n) if math.isfinite(x)]
            sd = statistics.stdev(xs) if len(xs) > 1 else math.nan
            span = max(xs) - min(xs) if xs else math.nan
            mean = statistics.mean(xs) if xs else math.nan
            print(f"| {name} | {n} | {sd:.2f} | {span:.2f} | {mean:+.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
