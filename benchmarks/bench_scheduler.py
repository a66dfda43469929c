"""Per-step cost of cyclr.torch.Scheduler.step() against torch's CyclicLR and OneCycleLR.

Also times evaluating 10**6 steps at once (vectorized) for every schedule kind.

Run from the repository root, either way::

    .venv/bin/python -m benchmarks.bench_scheduler
    .venv/bin/python benchmarks/bench_scheduler.py --write benchmarks/results/scheduler.md

Each comparison drives its own optimizer of the same kind; the contenders are timed in
turn inside every repeat (the order rotates), so drifts in machine load hit them alike.
The figures are medians over the repeats of the CPU time of the benchmarking thread
(``time.thread_time``), so that other processes on a shared machine do not inflate them.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import cyclr
from cyclr import (
    Constant,
    Cyclic,
    ExpRange,
    Linear,
    OneCycle,
    Schedule,
    Triangular,
    Triangular2,
    join,
    warmup,
)
from cyclr.torch.scheduler import Scheduler

_clock = time.thread_time
"""CPU time of this thread: other processes on a shared machine do not inflate it."""

BASE, PEAK, STEP_SIZE, GAMMA = 0.001, 0.006, 2000, 0.99994
HUGE = 10**9  # OneCycleLR raises once stepped past total_steps


def _optimizer(groups: int) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(8))]} for _ in range(groups)]
    return torch.optim.SGD(params, lr=0.01, momentum=0.9)


LRScheduler = torch.optim.lr_scheduler.LRScheduler
Factory = Callable[[torch.optim.Optimizer], LRScheduler]


def _pairs(momentum: bool) -> list[tuple[str, Factory, Factory]]:
    """(name, torch scheduler factory, cyclr scheduler factory)."""

    def cyclic(mode: str, schedule: Schedule) -> tuple[str, Factory, Factory]:
        def make_torch(opt: torch.optim.Optimizer) -> LRScheduler:
            return torch.optim.lr_scheduler.CyclicLR(
                opt, BASE, PEAK, STEP_SIZE, mode=mode, gamma=GAMMA, cycle_momentum=momentum
            )

        def make_cyclr(opt: torch.optim.Optimizer) -> LRScheduler:
            return Scheduler(
                opt, schedule, momentum=schedule.momentum(0.8, 0.9) if momentum else None
            )

        return mode, make_torch, make_cyclr

    def onecycle(three_phase: bool, anneal: str) -> tuple[str, Factory, Factory]:
        schedule = OneCycle(0.1, HUGE, anneal=anneal, three_phase=three_phase)

        def make_torch(opt: torch.optim.Optimizer) -> LRScheduler:
            return torch.optim.lr_scheduler.OneCycleLR(
                opt,
                0.1,
                total_steps=HUGE,
                anneal_strategy=anneal,
                three_phase=three_phase,
                cycle_momentum=momentum,
            )

        def make_cyclr(opt: torch.optim.Optimizer) -> LRScheduler:
            return Scheduler(opt, schedule, momentum=schedule.momentum() if momentum else None)

        name = f"onecycle {anneal}{' 3-phase' if three_phase else ''}"
        return name, make_torch, make_cyclr

    return [
        cyclic("triangular", Triangular(BASE, PEAK, STEP_SIZE)),
        cyclic("triangular2", Triangular2(BASE, PEAK, STEP_SIZE)),
        cyclic("exp_range", ExpRange(BASE, PEAK, STEP_SIZE, gamma=GAMMA)),
        onecycle(False, "cos"),
        onecycle(True, "linear"),
    ]


def _time_steps(scheduler: LRScheduler, calls: int) -> float:
    """Seconds per ``scheduler.step()``, over ``calls`` calls."""
    step = scheduler.step
    start = _clock()
    for _ in range(calls):
        step()
    return (_clock() - start) / calls


def bench_step(repeats: int, calls: int, groups: int, momentum: bool) -> list[dict[str, Any]]:
    """Median per-step cost of each torch/cyclr pair, timed interleaved."""
    rows = []
    for name, make_torch, make_cyclr in _pairs(momentum):
        contenders = {
            "torch": make_torch(_optimizer(groups)),
            "cyclr": make_cyclr(_optimizer(groups)),
        }
        for scheduler in contenders.values():
            scheduler.optimizer.step()  # the call order the step-order check expects
            _time_steps(scheduler, calls // 10 + 1)  # warm up
        times: dict[str, list[float]] = {key: [] for key in contenders}
        order = list(contenders)
        for _ in range(repeats):
            for key in order:
                times[key].append(_time_steps(contenders[key], calls))
            order.reverse()
        torch_us = statistics.median(times["torch"]) * 1e6
        cyclr_us = statistics.median(times["cyclr"]) * 1e6
        rows.append(
            {
                "name": name,
                "torch_us": torch_us,
                "cyclr_us": cyclr_us,
                "ratio": cyclr_us / torch_us,
                "groups": groups,
                "momentum": momentum,
            }
        )
    return rows


def _vector_schedules() -> dict[str, Schedule]:
    n = 10**6
    onecycle = OneCycle(0.1, n)
    half = OneCycle(0.1, n // 2)
    return {
        "triangular": Triangular(BASE, PEAK, STEP_SIZE),
        "triangular2": Triangular2(BASE, PEAK, STEP_SIZE),
        "exp_range": ExpRange(BASE, PEAK, STEP_SIZE, gamma=GAMMA),
        "cyclic (registered fn)": Cyclic(BASE, PEAK, STEP_SIZE, scale_fn="triangular2"),
        "onecycle cos": onecycle,
        "onecycle linear 3-phase": OneCycle(0.1, n, anneal="linear", three_phase=True),
        "constant": Constant(0.01),
        "linear": Linear(0.001, 0.01, n),
        "warmup + onecycle": warmup(onecycle, 10_000),
        "join of 3 (ramp, onecycle, constant)": join(
            [Linear(1e-4, half(0), 1000), half, Constant(half(n // 2 - 1))], [1000, 1000 + n // 2]
        ),
        "momentum (onecycle)": onecycle.momentum(),
    }


def bench_vectorized(repeats: int) -> list[dict[str, Any]]:
    """Median milliseconds to evaluate ``schedule(np.arange(10**6))``, interleaved."""
    steps = np.arange(10**6, dtype=np.int64)
    schedules = _vector_schedules()
    for schedule in schedules.values():
        schedule(steps[:1000])
    times: dict[str, list[float]] = {name: [] for name in schedules}
    for _ in range(repeats):
        for name, schedule in schedules.items():
            start = _clock()
            schedule(steps)
            times[name].append(_clock() - start)
    return [{"name": name, "ms": statistics.median(t) * 1e3} for name, t in times.items()]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs; Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}, cyclr {cyclr.__version__}; "
        f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}"
    )


def report(step_rows: list[dict[str, Any]], vector_rows: list[dict[str, Any]], command: str) -> str:
    """The results as a markdown fragment."""
    lines = [
        "# Scheduler benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {_machine()}",
        "",
        "## Per-step cost of `scheduler.step()` (CPU microseconds, median of interleaved repeats)",
        "",
        "Target: cyclr / torch <= 1.0.",
        "",
        "| schedule | groups | momentum | torch | cyclr | cyclr / torch |",
        "|---|---|---|---|---|---|",
    ]
    for row in step_rows:
        lines.append(
            f"| {row['name']} | {row['groups']} | {'cycled' if row['momentum'] else 'off'} | "
            f"{row['torch_us']:.2f} | {row['cyclr_us']:.2f} | {row['ratio']:.2f}x |"
        )
    lines += [
        "",
        "torch: `CyclicLR` (triangular, triangular2, exp_range) or `OneCycleLR`, with",
        "`cycle_momentum` matching the momentum column; cyclr: `cyclr.torch.Scheduler` with",
        "the equal schedule (and `momentum=schedule.momentum(...)` when cycled).",
        "",
        "## Evaluating 10**6 steps at once: `schedule(np.arange(10**6))` (CPU ms, median)",
        "",
        "Target: < 50 ms.",
        "",
        "| schedule | ms |",
        "|---|---|",
    ]
    lines += [f"| {row['name']} | {row['ms']:.1f} |" for row in vector_rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21, help="interleaved repeats (median)")
    parser.add_argument("--calls", type=int, default=2000, help="step() calls per timing")
    parser.add_argument("--write", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    gc.disable()
    try:
        step_rows = []
        for groups, momentum in ((1, False), (1, True), (4, False)):
            step_rows += bench_step(args.repeats, args.calls, groups, momentum)
        vector_rows = bench_vectorized(max(5, args.repeats // 2))
    finally:
        gc.enable()
    command = "python benchmarks/bench_scheduler.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = report(step_rows, vector_rows, command.strip())
    print(text)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
