"""The schedules equal torch's OneCycleLR and CyclicLR, driven through a real optimizer."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from cyclr import ExpRange, OneCycle, Schedule, Triangular, Triangular2

torch.set_num_threads(1)

# numpy's transcendental functions may differ from libm's by an ulp on some CPUs.
VECTOR_RTOL = 1e-15
EPS = float(np.finfo(np.float64).eps)


def _param() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(2))]


def _drive(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, n: int
) -> tuple[list[float], list[float]]:
    """The LR and momentum each of ``n`` optimizer steps used."""
    lrs: list[float] = []
    momenta: list[float] = []
    group = optimizer.param_groups[0]
    for index in range(n):
        lrs.append(group["lr"])
        momenta.append(group["momentum"] if "momentum" in group else group["betas"][0])
        optimizer.step()
        if index < n - 1:
            scheduler.step()
    return lrs, momenta


ONECYCLE_CASES = [
    pytest.param(total, pct, anneal, three, id=f"{anneal}-{'3' if three else '2'}phase-T{total}")
    for anneal in ("cos", "linear")
    for three in (False, True)
    for total, pct in ((1000, 0.3), (257, 0.25), (37, 0.4))
]


@pytest.mark.parametrize("total, pct, anneal, three_phase", ONECYCLE_CASES)
def test_onecycle_equals_torch_every_step(
    total: int, pct: float, anneal: str, three_phase: bool
) -> None:
    params = _param()
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=0.1,
        total_steps=total,
        pct_start=pct,
        anneal_strategy=anneal,
        three_phase=three_phase,
        div_factor=25.0,
        final_div_factor=1e4,
        base_momentum=0.85,
        max_momentum=0.95,
    )
    torch_lrs, torch_momenta = _drive(optimizer, reference, total)

    schedule = OneCycle(0.1, total, pct_start=pct, anneal=anneal, three_phase=three_phase)
    momentum = schedule.momentum(0.85, 0.95)
    assert [schedule(i) for i in range(total)] == torch_lrs
    assert [momentum(i) for i in range(total)] == torch_momenta
    steps = np.arange(total)
    np.testing.assert_allclose(schedule(steps), torch_lrs, rtol=VECTOR_RTOL, atol=0)
    np.testing.assert_allclose(momentum(steps), torch_momenta, rtol=VECTOR_RTOL, atol=0)


def test_onecycle_momentum_equals_torch_betas_for_adam() -> None:
    params = _param()
    optimizer = torch.optim.Adam(params, lr=0.1, betas=(0.9, 0.999))
    reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=120)
    torch_lrs, torch_betas = _drive(optimizer, reference, 120)
    schedule = OneCycle(0.01, 120)
    assert [schedule(i) for i in range(120)] == torch_lrs
    assert [schedule.momentum(0.85, 0.95)(i) for i in range(120)] == torch_betas


CYCLIC_CASES = [
    pytest.param(mode, up, down, id=f"{mode}-{up}-{down}")
    for mode in ("triangular", "triangular2", "exp_range")
    for up, down in ((20, None), (7, 13), (1, 1), (50, 3))
]


def _cyclr_schedule(mode: str, up: int, down: int | None, gamma: float) -> Schedule:
    if mode == "triangular":
        return Triangular(0.001, 0.006, up, down)
    if mode == "triangular2":
        return Triangular2(0.001, 0.006, up, down)
    return ExpRange(0.001, 0.006, up, down, gamma=gamma)


@pytest.mark.parametrize("mode, up, down", CYCLIC_CASES)
def test_cyclic_equals_torch_cycliclr(mode: str, up: int, down: int | None) -> None:
    gamma = 0.999
    n = 600
    params = _param()
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    reference = torch.optim.lr_scheduler.CyclicLR(
        optimizer,
        base_lr=0.001,
        max_lr=0.006,
        step_size_up=up,
        step_size_down=down,
        mode=mode,
        gamma=gamma,
        cycle_momentum=True,
        base_momentum=0.8,
        max_momentum=0.9,
    )
    torch_lrs, torch_momenta = _drive(optimizer, reference, n)
    schedule = _cyclr_schedule(mode, up, down, gamma)
    momentum = schedule.momentum(0.8, 0.9)
    ours = [schedule(i) for i in range(n)]
    ours_momenta = [momentum(i) for i in range(n)]
    # cyclr's cycle position is exact (integer divmod, one division); torch rounds
    # ``1 + it / total - cycle``, an error that grows with ``it / total``: the two agree
    # within that bound, and cyclr is within an ulp of the exact rational value.
    total = up + (up if down is None else down)
    drift = 8 * EPS * (2 + np.arange(n) / total)
    assert np.all(np.abs(np.subtract(ours, torch_lrs)) <= drift * 0.005 + 8 * EPS * 0.006)
    assert np.all(np.abs(np.subtract(ours_momenta, torch_momenta)) <= drift * 0.1 + 8 * EPS)
    if mode != "exp_range":
        for it in range(n):
            exact = _exact_cyclic(mode, it, up, up if down is None else down)
            assert abs(Fraction(ours[it]) - exact) <= Fraction(math.ulp(ours[it]))
    steps = np.arange(n)
    np.testing.assert_array_equal(schedule(steps), ours)
    np.testing.assert_array_equal(momentum(steps), ours_momenta)


def _exact_cyclic(mode: str, it: int, up: int, down: int) -> Fraction:
    """Triangular / triangular2 at ``it`` in exact rational arithmetic."""
    index, pos = divmod(it, up + down)
    s = Fraction(pos, up) if pos <= up else Fraction(up + down - pos, down)
    scale = Fraction(1, 2**index) if mode == "triangular2" else Fraction(1)
    return Fraction(0.001) + (Fraction(0.006) - Fraction(0.001)) * s * scale


def test_exp_range_long_run_stays_within_ulps_of_torch() -> None:
    schedule = ExpRange(0.001, 0.006, 2000, gamma=0.99994)
    for it in (10**4, 10**5, 3 * 10**5):
        torch_formula = 0.001 + (0.006 - 0.001) * _torch_s(it, 2000) * 0.99994**it
        assert math.isclose(schedule(it), torch_formula, rel_tol=1e-13, abs_tol=0)


def _torch_s(it: int, step_size: int) -> float:
    total = 2.0 * step_size
    cycle = math.floor(1 + it / total)
    x = 1.0 + it / total - cycle
    return x / 0.5 if x <= 0.5 else (x - 1) / (0.5 - 1)
