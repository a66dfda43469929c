"""cyclr's Scheduler mixed with torch's schedulers gives what the same mix of torch's gives.

Each case builds one mix with a cyclr ``Scheduler`` and the same mix with the torch
scheduler computing the same curve (``LinearLR``, ``ConstantLR``, ``CyclicLR``), and
compares the LR of every step. torch's chainable forms compute their LRs recursively,
so the comparison allows a relative ``1e-12``.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

from cyclr import Constant, Linear, Triangular
from cyclr.torch import Scheduler

torch.set_num_threads(1)

RTOL = 1e-12
LR = 0.1

Build = Callable[[torch.optim.Optimizer], tls.LRScheduler]


def _optimizer(lr: float = LR) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=0.9)


def _run(optimizer: torch.optim.Optimizer, scheduler: tls.LRScheduler, n: int) -> list[float]:
    """The LR each of ``n`` optimizer steps used."""
    seen = []
    for _ in range(n):
        seen.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
    return seen


def _cyclic(optimizer: torch.optim.Optimizer) -> tls.CyclicLR:
    return tls.CyclicLR(optimizer, 0.001, 0.006, step_size_up=4, cycle_momentum=False)


def _torch_tri(it: int) -> float:
    """torch ``CyclicLR``'s triangular formula (base 0.001, max 0.006, step size 4)."""
    cycle = math.floor(1 + it / 8)
    x = abs(it / 4 - 2 * cycle + 1)
    return 0.001 + (0.006 - 0.001) * max(0.0, 1 - x)


def _lambda_tri(optimizer: torch.optim.Optimizer, last_epoch: int = -1) -> tls.LambdaLR:
    """The triangle as a torch ``LambdaLR`` of the optimizer's ``initial_lr`` (``LR``).

    ``CyclicLR`` itself computes its first LR from ``initial_lr`` when that is not its
    ``base_lr`` (it sets ``base_lrs`` only after ``LRScheduler.__init__`` has stepped):
    after another torch scheduler, or on a ``last_epoch`` resume, its first LR is off.
    """
    return tls.LambdaLR(optimizer, lambda it: _torch_tri(it) / LR, last_epoch=last_epoch)


def _cyclr_tri(optimizer: torch.optim.Optimizer) -> Scheduler:
    return Scheduler(optimizer, Triangular(0.001, 0.006, 4))


def _warm(optimizer: torch.optim.Optimizer) -> tls.LinearLR:
    return tls.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=5)


def _cyclr_warm(optimizer: torch.optim.Optimizer) -> Scheduler:
    return Scheduler(optimizer, Linear(0.01 * LR, LR, 5))


def _cosine(optimizer: torch.optim.Optimizer) -> tls.CosineAnnealingLR:
    return tls.CosineAnnealingLR(optimizer, T_max=12)


def _constant(optimizer: torch.optim.Optimizer) -> tls.ConstantLR:
    return tls.ConstantLR(optimizer, factor=0.5, total_iters=10**6)


def _cyclr_constant(optimizer: torch.optim.Optimizer) -> Scheduler:
    return Scheduler(optimizer, Constant(0.5 * LR))


def _sequential(builds: list[Build], milestones: list[int]) -> Callable[[], list[float]]:
    def run() -> list[float]:
        optimizer = _optimizer()
        parts = [build(optimizer) for build in builds]
        return _run(optimizer, tls.SequentialLR(optimizer, parts, milestones), 30)

    return run


def _chained(builds: list[Build]) -> Callable[[], list[float]]:
    def run() -> list[float]:
        optimizer = _optimizer()
        parts = [build(optimizer) for build in builds]
        return _run(optimizer, tls.ChainedScheduler(parts, optimizer), 30)

    return run


def _exponential(optimizer: torch.optim.Optimizer) -> tls.ExponentialLR:
    return tls.ExponentialLR(optimizer, gamma=0.9)


MIXES = {
    # The report: a cyclr warm-up before a torch cosine gave the cosine base 0.001.
    "sequential-warmup-then-cosine": (
        _sequential([_cyclr_warm, _cosine], [5]),
        _sequential([_warm, _cosine], [5]),
    ),
    # The report: SequentialLR of cyclr schedulers only raised KeyError: 'initial_lr'.
    "sequential-cyclr-only": (
        _sequential([_cyclr_warm, _cyclr_tri], [5]),
        _sequential([_warm, _cyclic], [5]),
    ),
    "sequential-torch-built-first": (
        _sequential([_constant, _cyclr_tri], [7]),
        _sequential([_constant, _cyclic], [7]),
    ),
    "sequential-three-parts": (
        _sequential([_cyclr_warm, _cyclr_constant, _cosine], [5, 9]),
        _sequential([_warm, _constant, _cosine], [5, 9]),
    ),
    "chained-cyclr-then-exponential": (
        _chained([_cyclr_tri, _exponential]),
        _chained([_cyclic, _exponential]),
    ),
    "chained-exponential-then-cyclr": (
        _chained([_exponential, _cyclr_tri]),
        _chained([_exponential, _lambda_tri]),
    ),
    "sequential-cyclr-only-vs-lambda": (
        _sequential([_cyclr_warm, _cyclr_tri], [5]),
        _sequential([_warm, _lambda_tri], [5]),
    ),
}


@pytest.mark.parametrize("mix", list(MIXES), ids=list(MIXES))
def test_a_mix_with_cyclr_equals_the_torch_mix(mix: str) -> None:
    ours, theirs = MIXES[mix]
    np.testing.assert_allclose(ours(), theirs(), rtol=RTOL, atol=0)


def test_warmup_then_cosine_starts_the_cosine_at_the_optimizers_lr() -> None:
    seen = _sequential([_cyclr_warm, _cosine], [5])()
    assert seen[5] == LR  # before the fix: 0.001, the warm-up's first LR
    assert seen[:5] == [Linear(0.01 * LR, LR, 5)(i) for i in range(5)]


def _sequential_pair(optimizer: torch.optim.Optimizer, cyclr: bool) -> tls.SequentialLR:
    first = (_cyclr_warm if cyclr else _warm)(optimizer)
    second = (_cyclr_tri if cyclr else _cyclic)(optimizer)
    return tls.SequentialLR(optimizer, [first, second], milestones=[5])


@pytest.mark.parametrize("cut", [3, 5, 6, 13], ids=lambda c: f"saved-after-{c}")
@pytest.mark.parametrize("cyclr", [True, False], ids=["cyclr-mix", "torch-mix"])
def test_sequential_resumes_from_saved_state_mid_run(cut: int, cyclr: bool) -> None:
    optimizer = _optimizer()
    reference = _run(optimizer, _sequential_pair(optimizer, cyclr), 25)

    optimizer = _optimizer()
    sequential = _sequential_pair(optimizer, cyclr)
    first = _run(optimizer, sequential, cut)
    buffer = io.BytesIO()
    torch.save({"opt": optimizer.state_dict(), "sched": sequential.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    resumed_optimizer = _optimizer(lr=0.7)  # a fresh run: its LR is replaced by the state
    resumed = _sequential_pair(resumed_optimizer, cyclr)
    resumed_optimizer.load_state_dict(saved["opt"])
    resumed.load_state_dict(saved["sched"])
    rest = _run(resumed_optimizer, resumed, 25 - cut)
    assert first + rest == reference
    if cyclr:  # and the cyclr mix equals the torch mix
        optimizer = _optimizer()
        torch_reference = _run(optimizer, _sequential_pair(optimizer, False), 25)
        np.testing.assert_allclose(first + rest, torch_reference, rtol=RTOL, atol=0)


@pytest.mark.parametrize("last_epoch", [0, 3, 10], ids=lambda e: f"last_epoch={e}")
def test_last_epoch_resume_equals_torch(last_epoch: int) -> None:
    def resumed(build: Callable[[torch.optim.Optimizer, int], tls.LRScheduler]) -> list[float]:
        optimizer = _optimizer()
        optimizer.param_groups[0]["initial_lr"] = LR  # as loaded from the run's checkpoint
        return _run(optimizer, build(optimizer, last_epoch), 12)

    ours = resumed(lambda o, e: Scheduler(o, Triangular(0.001, 0.006, 4), last_epoch=e))
    theirs = resumed(_lambda_tri)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)
    assert ours[0] == Triangular(0.001, 0.006, 4)(last_epoch + 1)


def test_resume_without_initial_lr_raises_like_torch() -> None:
    with pytest.raises(KeyError, match="initial_lr"):
        tls.CyclicLR(_optimizer(), 0.001, 0.006, cycle_momentum=False, last_epoch=3)
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        Scheduler(_optimizer(), Triangular(0.001, 0.006, 4), last_epoch=3)


def test_initial_lr_is_kept_if_present_and_copied_for_tensor_lrs() -> None:
    optimizer = _optimizer()
    optimizer.param_groups[0]["initial_lr"] = 0.3
    Scheduler(optimizer, Triangular(0.001, 0.006, 4))
    assert optimizer.param_groups[0]["initial_lr"] == 0.3
    lr = torch.tensor(0.05)
    tensor_optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)
    Scheduler(tensor_optimizer, Triangular(0.001, 0.006, 4))
    initial = tensor_optimizer.param_groups[0]["initial_lr"]
    assert isinstance(initial, torch.Tensor)
    assert initial is not tensor_optimizer.param_groups[0]["lr"]
    assert float(initial) == pytest.approx(0.05)


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_scheduler_with_momentum_pickles_whole_and_continues(how: str) -> None:
    schedule = Triangular(0.001, 0.006, 4)
    optimizer = _optimizer()
    scheduler = Scheduler(optimizer, schedule, momentum=schedule.momentum(0.8, 0.9))
    _run(optimizer, scheduler, 5)
    if how == "pickle":
        loaded_optimizer, loaded = pickle.loads(pickle.dumps((optimizer, scheduler)))
    else:
        buffer = io.BytesIO()
        torch.save((optimizer, scheduler), buffer)
        buffer.seek(0)
        loaded_optimizer, loaded = torch.load(buffer, weights_only=False)
    assert loaded.optimizer is loaded_optimizer
    assert loaded.schedules == scheduler.schedules
    assert loaded.momentum_schedules == scheduler.momentum_schedules
    assert loaded.state_dict() == scheduler.state_dict()

    def momenta(opt: torch.optim.Optimizer, sched: tls.LRScheduler) -> list[tuple[float, float]]:
        seen = []
        for _ in range(9):
            group = opt.param_groups[0]
            seen.append((group["lr"], group["momentum"]))
            opt.step()
            sched.step()
        return seen

    assert momenta(loaded_optimizer, loaded) == momenta(optimizer, scheduler)
