"""Bad states and arguments for cyclr.torch.Scheduler: type, parameter and value named."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from cyclr import Triangular
from cyclr.torch import Scheduler

torch.set_num_threads(1)

TRI = Triangular(0.001, 0.006, 4)


def _scheduler() -> Scheduler:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    return Scheduler(optimizer, TRI)


def _state(**changes: Any) -> dict[str, Any]:
    state = _scheduler().state_dict()
    for key, value in changes.items():
        if value is _DROP:
            del state[key]
        else:
            state[key] = value
    return state


_DROP = object()

STATE_CASES = {
    "applied='no'": (_state(applied="no"), TypeError, ("'applied'", "applied='no'")),
    "applied=1": (_state(applied=1), TypeError, ("'applied'", "applied=1")),
    "applied=None": (_state(applied=None), TypeError, ("'applied'", "applied=None")),
    "format=True": (_state(format=True), ValueError, ("'format'", "format=True")),
    "format=2": (_state(format=2), ValueError, ("'format'", "format=2")),
    "format='1'": (_state(format="1"), ValueError, ("'format'", "format='1'")),
    "format=1.0": (_state(format=1.0), ValueError, ("'format'", "format=1.0")),
    "schedules=dict": (_state(schedules={}), TypeError, ("'schedules'", "schedules={}")),
    "schedules=None": (_state(schedules=None), TypeError, ("'schedules'", "schedules=None")),
    "momentum=dict": (_state(momentum={}), TypeError, ("'momentum'", "momentum={}")),
    "momentum='x'": (_state(momentum="x"), TypeError, ("'momentum'", "momentum='x'")),
    "last_epoch=1.5": (_state(last_epoch=1.5), TypeError, ("last_epoch", "1.5")),
    "last_epoch=-2": (_state(last_epoch=-2), ValueError, ("last_epoch", "-2")),
    "last_epoch=True": (_state(last_epoch=True), TypeError, ("last_epoch", "True")),
    "step_count=-1": (_state(step_count=-1), ValueError, ("step_count", "-1")),
    "step_count='2'": (_state(step_count="2"), TypeError, ("step_count", "'2'")),
    "missing-applied": (_state(applied=_DROP), ValueError, ("missing keys=['applied']",)),
    "missing-format": (_state(format=_DROP), ValueError, ("missing keys=['format']",)),
    "missing-last_epoch": (
        _state(last_epoch=_DROP),
        ValueError,
        ("missing keys=['last_epoch']",),
    ),
    "extra-key": (_state(extra=1), ValueError, ("unknown keys=['extra']",)),
    "extra-base_lrs": (_state(base_lrs=[0.1]), ValueError, ("unknown keys=['base_lrs']",)),
    "not-a-mapping": ([("format", 1)], TypeError, ("state_dict=[('format', 1)]",)),
    "bad-schedule": (
        _state(schedules=[{"kind": "triangular", "base_lr": 10**400, "max_lr": 1.0}]),
        ValueError,
        ("base_lr=1000...0 (401 digits)",),
    ),
}


@pytest.mark.parametrize("state, error, needles", list(STATE_CASES.values()), ids=list(STATE_CASES))
def test_load_state_dict_refuses_bad_states(
    state: Any, error: type[Exception], needles: tuple[str, ...]
) -> None:
    scheduler = _scheduler()
    before = scheduler.state_dict()
    with pytest.raises(error) as info:
        scheduler.load_state_dict(state)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert scheduler.state_dict() == before  # nothing was half-loaded


def _stepped(optimizer: torch.optim.Optimizer) -> Scheduler:
    scheduler = Scheduler(optimizer, TRI)
    optimizer.step()
    return scheduler


ARG_CASES = {
    "schedule=float": (lambda o: Scheduler(o, 0.1), TypeError, ("schedule=0.1",)),
    "schedule=momentum": (
        lambda o: Scheduler(o, TRI.momentum()),
        TypeError,
        ("schedule[0]=Momentum",),
    ),
    "momentum=lr-schedule": (
        lambda o: Scheduler(o, TRI, momentum=TRI),
        TypeError,
        ("momentum[0]=Triangular",),
    ),
    "last_epoch=-2": (lambda o: Scheduler(o, TRI, last_epoch=-2), ValueError, ("last_epoch=-2",)),
    "last_epoch=1.0": (lambda o: Scheduler(o, TRI, last_epoch=1.0), TypeError, ("last_epoch=1.0",)),
    "optimizer=None": (lambda o: Scheduler(None, TRI), TypeError, ("optimizer=None",)),
    "step(epoch=-1)": (lambda o: _stepped(o).step(-1), ValueError, ("epoch=-1",)),
    "step(epoch=1.5)": (lambda o: _stepped(o).step(1.5), TypeError, ("epoch=1.5",)),
}


@pytest.mark.parametrize("build, error, needles", list(ARG_CASES.values()), ids=list(ARG_CASES))
def test_bad_arguments_are_refused(build: Any, error: type[Exception], needles: Any) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    with pytest.raises(error) as info:
        build(optimizer)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
