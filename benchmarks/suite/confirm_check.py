"""Does ``cyclr.torch.confirm`` pick what the measured prototype rule picked?

``python -m benchmarks.suite.confirm_check [--tasks a,b] [--seeds 3]`` runs the library's
confirmation stage with the prototype's inputs: candidates around the cached default
suggestion (``bottom``), 40 steps on the first 40 batches of the seed's stream of the
training examples outside the validation split, scored on the validation split (one
batch), and compares its choice and scores with ``confirm-vrise-q5-k40`` of
:mod:`benchmarks.suite.proto_val` (cached runs). Prints one line per task and seed and a
summary. The prototype rounds each candidate LR to 4 significant digits (its cache key)
and does not reset the RNG between candidates, so a near-tie, or a model whose 40-step
trajectory is chaotic, can differ.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys

import numpy as np

from . import proto_confirm as pc
from . import proto_val as pv
from .cli import DEFAULT_CACHE, ORACLE_FILE
from .run import Config, run_suite
from .store import Store
from .tasks import TASKS
from .train import set_threads

K = 40


def main(argv: list[str] | None = None) -> int:
    """Compare the library's picks with the prototype's on every task and seed."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite.confirm_check")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args(argv)
    set_threads(1)
    from cyclr.torch import confirm

    store = Store(DEFAULT_CACHE, ORACLE_FILE)
    tasks = [t for t in args.tasks.split(",") if t]
    cfg = Config(
        tasks=tasks,
        families=["cyclr"],
        seeds=tuple(range(args.seeds)),
        phases=("oracle", "finders"),
        read_only=True,
    )
    rule = pv.val_rules()["confirm-vrise-q5-k40"]
    same = total = 0
    for name, tr in run_suite(cfg, store).items():
        task = tr.task
        for seed, rec in tr.records.get("cyclr", {}).items():
            ctx = pc.Context(
                task, seed, np.asarray(rec.lrs), np.asarray(rec.losses), rec.steps, store
            )
            proto_lr, _ = rule(ctx)
            model = task.make_model(seed)
            opt = task.make_optimizer(model.parameters(), ctx.bottom())
            x_fit, y_fit, x_val, y_val = pv.val_split(task)
            batches = list(itertools.islice(pv.train_batches(task, seed, x_fit, y_fit), K))
            held = [(x_val, y_val)]
            got = confirm(
                model,
                opt,
                batches,
                task.loss,
                lr=ctx.bottom(),
                held_out=held,
                steps=K,
                offsets=pv.GRIDS["q5"],
            )
            proto = [
                pv.score(task, pv.cached_val_run(store, task, seed, c), K, "rise")
                for c in got.candidates
            ]
            agree = math.isclose(got.lr, proto_lr, rel_tol=1e-3)
            same += agree
            total += 1
            print(
                f"{name} seed={seed}: library {got.lr:.4g} prototype {proto_lr:.4g} "
                f"{'same' if agree else 'DIFFERENT'}; scores "
                + ", ".join(f"{a:.4g}/{b:.4g}" for a, b in zip(got.scores, proto, strict=True))
            )
    print(f"{same}/{total} picks agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
