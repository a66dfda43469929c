"""cyclr.torch.Scheduler state: plain, portable state dicts and exact resume."""

from __future__ import annotations

import copy
import io
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from scheduler_support import ONECYCLE, TRI, make_model, train

import cyclr
from cyclr.torch.scheduler import Scheduler

torch.set_num_threads(1)


# --- state ----------------------------------------------------------------------------------


def _is_plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def _stepped(
    schedule: cyclr.Schedule = ONECYCLE, steps: int = 13, **kwargs: Any
) -> tuple[torch.optim.Optimizer, Scheduler]:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(optimizer, schedule, **kwargs)
    train(model, optimizer, scheduler, steps)
    return optimizer, scheduler


def test_state_dict_is_plain_and_portable() -> None:
    _, scheduler = _stepped(momentum=ONECYCLE.momentum())
    state = scheduler.state_dict()
    assert _is_plain(state)
    assert state["last_epoch"] == 13
    assert state["schedules"] == [ONECYCLE.to_dict()]
    assert state["momentum"] == [ONECYCLE.momentum().to_dict()]
    assert json.loads(json.dumps(state, allow_nan=False)) == state
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True) == state
    assert pickle.loads(pickle.dumps(state)) == state


def test_load_state_dict_twice_and_state_is_not_modified() -> None:
    _, source = _stepped()
    state = source.state_dict()
    snapshot = copy.deepcopy(state)
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(optimizer, ONECYCLE)
    scheduler.load_state_dict(state)
    scheduler.load_state_dict(state)
    assert state == snapshot
    assert scheduler.last_epoch == 13
    assert optimizer.param_groups[0]["lr"] == ONECYCLE(13)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == ONECYCLE(14)


def test_loaded_schedule_wins_with_a_warning() -> None:
    _, source = _stepped(schedule=TRI, momentum=TRI.momentum())
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(optimizer, ONECYCLE)
    with pytest.warns(UserWarning, match=r"loaded schedule differs .* the loaded one is used"):
        scheduler.load_state_dict(source.state_dict())
    assert scheduler.schedules == (TRI,)
    assert optimizer.param_groups[0]["lr"] == TRI(13)
    assert optimizer.param_groups[0]["momentum"] == TRI.momentum()(13)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == TRI(14)


def test_loaded_momentum_differing_warns_too() -> None:
    _, source = _stepped(schedule=TRI, momentum=TRI.momentum(0.8, 0.9))
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(optimizer, TRI, momentum=TRI.momentum(0.85, 0.95))
    with pytest.warns(UserWarning, match=r"loaded momentum differs .*max_momentum=0.9\)"):
        scheduler.load_state_dict(source.state_dict())
    assert optimizer.param_groups[0]["momentum"] == TRI.momentum(0.8, 0.9)(13)


def test_load_writes_no_lr_the_scheduler_did_not_set() -> None:
    optimizer, source = _stepped(schedule=TRI)
    optimizer.param_groups[0]["lr"] = 0.123  # changed by hand after the last step
    state = source.state_dict()
    assert state["applied"] is False
    fresh = torch.optim.SGD(make_model().parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(fresh, TRI)
    scheduler.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == TRI(0)  # left as it was
    assert scheduler.get_last_lr() == [TRI(13)]
    fresh.step()
    scheduler.step()
    assert fresh.param_groups[0]["lr"] == TRI(14)


def test_unregistered_callable_fails_at_state_dict() -> None:
    schedule = cyclr.Cyclic(0.001, 0.006, 5, scale_fn=lambda x, ops: 1.0 / x)
    _, scheduler = _stepped(schedule=schedule, steps=3)
    with pytest.raises(
        ValueError, match=r"scale_fn is an unregistered callable.*register_scale_fn"
    ):
        scheduler.state_dict()


@pytest.mark.parametrize(
    "state, error, pattern",
    [
        ([1, 2], TypeError, r"state_dict must be a mapping"),
        (
            {"last_epoch": 3},
            ValueError,
            r"state_dict is not a cyclr Scheduler state .*got missing keys=\['format', "
            r"'schedules', 'momentum', 'step_count', 'applied'\], unknown keys=\[\]",
        ),
        (
            {
                "format": 1,
                "schedules": [TRI.to_dict()] * 2,
                "momentum": None,
                "last_epoch": 1,
                "step_count": 2,
                "applied": True,
            },
            ValueError,
            r"one entry per param group \(got 2 schedules for 1 param groups\)",
        ),
        (
            {
                "format": 1,
                "schedules": [TRI.to_dict()],
                "momentum": None,
                "last_epoch": 1.5,
                "step_count": 2,
                "applied": True,
            },
            TypeError,
            r"last_epoch'\] must be an integer \(got .*=1.5\)",
        ),
        (
            {
                "format": 1,
                "schedules": [{"kind": "nope"}],
                "momentum": None,
                "last_epoch": 1,
                "step_count": 2,
                "applied": True,
            },
            ValueError,
            r"kind must be one of",
        ),
    ],
    ids=["not-mapping", "torch-state", "group-count", "last-epoch", "bad-schedule"],
)
def test_load_state_dict_rejects_bad_state(state: Any, error: type, pattern: str) -> None:
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, TRI)
    with pytest.raises(error, match=pattern):
        scheduler.load_state_dict(state)
    assert scheduler.schedules == (TRI,)


def test_load_refuses_a_torch_scheduler_state() -> None:
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5, momentum=0.9)
    torch_state = torch.optim.lr_scheduler.CyclicLR(optimizer, 0.001, 0.006).state_dict()
    scheduler = Scheduler(torch.optim.SGD(make_model().parameters(), lr=0.5), TRI)
    with pytest.raises(ValueError, match=r"not a cyclr Scheduler state"):
        scheduler.load_state_dict(torch_state)


@pytest.mark.parametrize("at", [0, 1, 17, 39, 55])
def test_resume_in_process_is_exact(at: int) -> None:
    total = 70
    reference_model = make_model()
    optimizer = torch.optim.SGD(reference_model.parameters(), lr=0.5, momentum=0.9)
    momentum = ONECYCLE.momentum()
    scheduler = Scheduler(optimizer, ONECYCLE, momentum=momentum)
    reference = train(reference_model, optimizer, scheduler, at)
    state = scheduler.state_dict()
    reference += train(reference_model, optimizer, scheduler, total - at)

    model = make_model()
    fresh = torch.optim.SGD(model.parameters(), lr=0.25, momentum=0.0)
    resumed = Scheduler(fresh, ONECYCLE, momentum=momentum)
    resumed.load_state_dict(state)
    assert train(model, fresh, resumed, total - at) == reference[at:]
    assert fresh.param_groups[0]["momentum"] == momentum(total)


RESUME_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    torch.set_num_threads(1)
    from cyclr import OneCycle, warmup
    from cyclr.torch.scheduler import Scheduler

    schedule = warmup(OneCycle(0.1, total_steps=50, three_phase=True), 5)
    states = torch.load(sys.argv[1], weights_only=True)
    total = int(sys.argv[2])
    out = {}
    for at, state in states.items():
        model = torch.nn.Linear(4, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.0)
        scheduler = Scheduler(optimizer, schedule, momentum=schedule.momentum(0.85, 0.95))
        scheduler.load_state_dict(state)
        seen = []
        for _ in range(int(at), total):
            group = optimizer.param_groups[0]
            seen.append([group["lr"].hex(), group["momentum"].hex()])
            optimizer.step()
            scheduler.step()
        out[at] = seen
    print(json.dumps(out))
    """
)


def test_resume_in_a_new_process_is_bit_identical(tmp_path: Path) -> None:
    schedule = cyclr.warmup(cyclr.OneCycle(0.1, total_steps=50, three_phase=True), 5)
    momentum = schedule.momentum(0.85, 0.95)
    total = 64
    checkpoints = (0, 1, 4, 5, 6, 30, 54, 60)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.0)
    scheduler = Scheduler(optimizer, schedule, momentum=momentum)
    states: dict[str, Any] = {}
    reference = []
    for step in range(total):
        if step in checkpoints:
            states[str(step)] = scheduler.state_dict()
        group = optimizer.param_groups[0]
        reference.append([group["lr"].hex(), group["momentum"].hex()])
        optimizer.step()
        scheduler.step()
    path = tmp_path / "states.pt"
    torch.save(states, path)
    result = subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, str(path), str(total)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    resumed = json.loads(result.stdout)
    assert sorted(resumed) == sorted(states)
    for at, seen in resumed.items():
        assert seen == reference[int(at) :], at
