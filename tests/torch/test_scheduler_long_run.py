"""Ten million scheduler steps: the LR stays the closed form, and nothing accumulates.

Whether a step costs the same at step 10**7 as at step 1 is a timing question, so it
lives in ``benchmarks/bench_scheduler.py``; this test checks exactness and memory.
"""

import gc
import tracemalloc

import torch

import cyclr
from cyclr.torch import Scheduler

TOTAL_STEPS = 10**7
CHECK_EVERY = 10**6


def test_ten_million_steps_stay_exact_and_allocate_nothing() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    optimizer.step()
    schedule = cyclr.ExpRange(0.001, 0.006, step_size_up=2000, gamma=0.9999999)
    scheduler = Scheduler(optimizer, schedule, momentum=schedule.momentum(0.85, 0.95))
    momentum = schedule.momentum(0.85, 0.95)
    group = optimizer.param_groups[0]
    optimizer.step()  # torch warns when the scheduler steps before the optimizer ever has

    mismatches = []
    for chunk in range(TOTAL_STEPS // CHECK_EVERY):
        for _ in range(CHECK_EVERY):
            scheduler.step()
        step = (chunk + 1) * CHECK_EVERY
        if group["lr"] != schedule(step) or group["momentum"] != momentum(step):
            mismatches.append((step, group["lr"], schedule(step)))
    assert scheduler.last_epoch == TOTAL_STEPS
    assert mismatches == []

    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(20_000):
        scheduler.step()
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 4096, f"memory grew by {after - before} bytes over 20,000 steps"
    assert group["lr"] == schedule(TOTAL_STEPS + 20_000)
