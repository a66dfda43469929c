"""cyclr.torch.Scheduler: closed-form LRs, clean param groups, exact resume, integrations."""

from __future__ import annotations

import copy
import io
import json
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import cyclr
from cyclr.torch.scheduler import Scheduler

torch.set_num_threads(1)

TRI = cyclr.Triangular(0.001, 0.006, step_size_up=5)
ONECYCLE = cyclr.OneCycle(0.1, total_steps=40, three_phase=True)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(16, 4, generator=generator), torch.randn(16, 1, generator=generator)


def _train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    steps: int,
    key: str = "lr",
) -> list[Any]:
    """Run ``steps`` real training steps; return the group-0 value of ``key`` each used."""
    x, y = _batch()
    seen = []
    for _ in range(steps):
        value = optimizer.param_groups[0][key]
        seen.append(value.item() if isinstance(value, torch.Tensor) else value)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()
    return seen


# --- a plain loop -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [
        TRI,
        cyclr.Triangular2(0.001, 0.006, 3, 7),
        cyclr.ExpRange(0.001, 0.006, 4, gamma=0.95),
        ONECYCLE,
        cyclr.OneCycle(0.05, 30, anneal="linear"),
        cyclr.warmup(cyclr.Triangular(0.001, 0.006, 5), 4),
        cyclr.Constant(0.02),
    ],
    ids=[
        "triangular",
        "triangular2",
        "exp_range",
        "onecycle",
        "onecycle-linear",
        "warmup",
        "constant",
    ],
)
def test_plain_loop_uses_schedule_of_each_step(schedule: cyclr.Schedule) -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(optimizer, schedule)
    assert optimizer.param_groups[0]["lr"] == schedule(0)
    seen = _train(model, optimizer, scheduler, 60)
    assert seen == [schedule(i) for i in range(60)]
    assert scheduler.last_epoch == 60
    assert scheduler.get_last_lr() == [schedule(60)]


def test_onecycle_past_the_end_holds_instead_of_raising() -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, ONECYCLE)
    seen = _train(model, optimizer, scheduler, 3 * ONECYCLE.total_steps)
    tail = seen[ONECYCLE.total_steps - 1 :]
    assert tail == [ONECYCLE(ONECYCLE.total_steps - 1)] * len(tail)
    assert min(seen) > 0


def test_param_group_keys_are_unchanged_but_torchs_initial_lr() -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, nesterov=True)
    before = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    scheduler = Scheduler(optimizer, ONECYCLE)
    _train(model, optimizer, scheduler, 10)
    after = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    # torch's convention, which SequentialLR and later torch schedulers read.
    assert set(after) == set(before) | {"initial_lr"}
    assert after["initial_lr"] == 0.5
    assert {k: v for k, v in after.items() if k not in ("lr", "initial_lr")} == {
        k: v for k, v in before.items() if k != "lr"
    }


@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["sgd-no-momentum", "sgd-momentum"])
def test_momentum_is_untouched_unless_asked(momentum: float) -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=momentum)
    scheduler = Scheduler(optimizer, TRI)
    assert _train(model, optimizer, scheduler, 12, key="momentum") == [momentum] * 12
    assert scheduler.momentum_schedules is None


def test_adam_betas_are_untouched_unless_asked() -> None:
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.5, betas=(0.8, 0.99))
    scheduler = Scheduler(optimizer, TRI)
    _train(model, optimizer, scheduler, 5)
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.99)


# --- momentum -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_optimizer, key",
    [
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "momentum"),
        (lambda p: torch.optim.SGD(p, lr=0.1), "momentum"),
        (lambda p: torch.optim.RMSprop(p, lr=0.1, momentum=0.5), "momentum"),
        (lambda p: torch.optim.Adam(p, lr=0.1), "betas"),
        (lambda p: torch.optim.AdamW(p, lr=0.1, betas=(0.9, 0.98)), "betas"),
        (lambda p: torch.optim.NAdam(p, lr=0.1), "betas"),
    ],
    ids=["sgd", "sgd-momentum-0", "rmsprop", "adam", "adamw", "nadam"],
)
def test_momentum_when_asked(make_optimizer: Any, key: str) -> None:
    model = _model()
    optimizer = make_optimizer(model.parameters())
    beta2 = optimizer.param_groups[0]["betas"][1] if key == "betas" else None
    momentum = ONECYCLE.momentum(0.85, 0.95)
    scheduler = Scheduler(optimizer, ONECYCLE, momentum=momentum)
    seen = _train(model, optimizer, scheduler, 45, key=key)
    if key == "betas":
        assert all(b[1] == beta2 for b in seen)
        seen = [b[0] for b in seen]
    assert seen == [momentum(i) for i in range(45)]
    assert scheduler.momentum_schedules == (momentum,)


def test_momentum_of_another_schedule() -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    momentum = ONECYCLE.momentum(0.8, 0.9)
    scheduler = Scheduler(optimizer, TRI, momentum=momentum)
    x, y = _batch()
    for step in range(50):
        group = optimizer.param_groups[0]
        assert (group["lr"], group["momentum"]) == (TRI(step), momentum(step))
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()


def test_momentum_needs_an_optimizer_with_momentum() -> None:
    optimizer = torch.optim.Adagrad(_model().parameters(), lr=0.1)
    with pytest.raises(
        ValueError, match=r"momentum cannot be scheduled.*param_groups\[0\] of Adagrad"
    ):
        Scheduler(optimizer, TRI, momentum=TRI.momentum())
    assert "initial_lr" not in optimizer.param_groups[0]
    Scheduler(optimizer, TRI)  # the LR alone is fine


def test_momentum_must_be_a_momentum_schedule() -> None:
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(
        TypeError, match=r"momentum must be a Momentum schedule .*schedule.momentum"
    ):
        Scheduler(optimizer, TRI, momentum=cyclr.Constant(0.9))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"momentum must be a Schedule or a list of them \(got momentum=0.9\)"
    ):
        Scheduler(optimizer, TRI, momentum=0.9)  # type: ignore[arg-type]


# --- one schedule per group ---------------------------------------------------------------


def _two_group_optimizer(**kwargs: Any) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = _model()
    groups = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.7}]
    return model, torch.optim.SGD(groups, lr=0.5, momentum=0.9, **kwargs)


def test_one_schedule_per_group() -> None:
    model, optimizer = _two_group_optimizer()
    second = cyclr.Triangular2(0.01, 0.06, 3)
    scheduler = Scheduler(
        optimizer, [TRI, second], momentum=[TRI.momentum(), second.momentum(0.8, 0.9)]
    )
    x, y = _batch()
    for step in range(20):
        assert [g["lr"] for g in optimizer.param_groups] == [TRI(step), second(step)]
        assert optimizer.param_groups[1]["momentum"] == second.momentum(0.8, 0.9)(step)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()
    assert scheduler.schedules == (TRI, second)


def test_a_single_schedule_drives_every_group() -> None:
    model, optimizer = _two_group_optimizer()
    scheduler = Scheduler(optimizer, TRI)
    _train(model, optimizer, scheduler, 7)
    assert [g["lr"] for g in optimizer.param_groups] == [TRI(7), TRI(7)]
    assert scheduler.get_last_lr() == [TRI(7), TRI(7)]


@pytest.mark.parametrize("count", [1, 3])
def test_schedule_list_length_must_match_param_groups(count: int) -> None:
    _, optimizer = _two_group_optimizer()
    with pytest.raises(
        ValueError,
        match=rf"schedule must have one entry per param group \(got {count} schedule "
        r"entries for 2 param groups\)",
    ):
        Scheduler(optimizer, [TRI] * count)
    with pytest.raises(ValueError, match=rf"got {count} momentum entries for 2 param groups"):
        Scheduler(optimizer, TRI, momentum=[TRI.momentum()] * count)


def test_added_param_group_is_a_clear_error() -> None:
    _, optimizer = _two_group_optimizer()
    scheduler = Scheduler(optimizer, [TRI, TRI])
    optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))]})
    optimizer.step()
    with pytest.raises(
        ValueError, match=r"param groups changed .*got 3 param groups for 2 schedules"
    ):
        scheduler.step()


@pytest.mark.parametrize(
    "args, error, pattern",
    [
        (
            ("not an optimizer", TRI),
            TypeError,
            r"optimizer must be a torch.optim.Optimizer \(got optimizer='not an optimizer'\)",
        ),
        (
            (None, 0.01),
            TypeError,
            r"schedule must be a Schedule or a list of them \(got schedule=0.01\)",
        ),
        (
            (None, TRI.momentum()),
            TypeError,
            r"schedule must be a learning-rate Schedule \(got schedule\[0\]=Momentum",
        ),
        ((None, [TRI, "x"]), TypeError, r"got schedule\[1\]='x'"),
    ],
    ids=["optimizer", "schedule-float", "schedule-momentum", "schedule-list-item"],
)
def test_bad_constructor_arguments(args: tuple[Any, Any], error: type, pattern: str) -> None:
    _, optimizer = _two_group_optimizer()
    target = optimizer if args[0] is None else args[0]
    with pytest.raises(error, match=pattern):
        Scheduler(target, args[1])


# --- stepping -----------------------------------------------------------------------------


def test_step_with_epoch_jumps_exactly() -> None:
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, ONECYCLE)
    optimizer.step()
    scheduler.step(25)
    assert optimizer.param_groups[0]["lr"] == ONECYCLE(25)
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == ONECYCLE(26)
    with pytest.raises(ValueError, match=r"epoch must be >= 0 \(got epoch=-1\)"):
        scheduler.step(-1)
    with pytest.raises(TypeError, match=r"epoch must be an integer \(got epoch=2.5\)"):
        scheduler.step(2.5)  # type: ignore[arg-type]


def test_last_epoch_starts_after_it() -> None:
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5)
    # As torch's schedulers do, a resume needs the run's initial_lr in every group.
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'.*last_epoch=9"):
        Scheduler(optimizer, TRI, last_epoch=9)
    optimizer.param_groups[0]["initial_lr"] = 0.5
    scheduler = Scheduler(optimizer, TRI, last_epoch=9)
    assert scheduler.last_epoch == 10
    assert optimizer.param_groups[0]["lr"] == TRI(10)
    with pytest.raises(ValueError, match=r"last_epoch must be >= -1 \(got last_epoch=-2\)"):
        Scheduler(optimizer, TRI, last_epoch=-2)
    with pytest.raises(TypeError, match=r"last_epoch must be an integer \(got last_epoch=1.0\)"):
        Scheduler(optimizer, TRI, last_epoch=1.0)  # type: ignore[arg-type]


def test_get_lr_is_a_pure_closed_form() -> None:
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, TRI)
    optimizer.step()
    scheduler.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scheduler.get_lr() == [TRI(1)] == scheduler.get_lr()
    assert scheduler.last_epoch == 1
    assert optimizer.param_groups[0]["lr"] == TRI(1)


def test_step_before_optimizer_step_warns_like_torch() -> None:
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, TRI)
    with pytest.warns(
        UserWarning, match=r"scheduler.step\(\) was called before optimizer.step\(\)"
    ):
        scheduler.step()


def test_no_warning_in_the_right_order() -> None:
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, TRI)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.step()
        scheduler.step()
        scheduler.step()


# --- tensor learning rates ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_tensor_lr_is_updated_in_place(dtype: torch.dtype) -> None:
    model = _model()
    lr = torch.tensor(0.5, dtype=dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = Scheduler(optimizer, TRI)
    seen = _train(model, optimizer, scheduler, 12)
    assert optimizer.param_groups[0]["lr"] is lr
    assert seen == [torch.tensor(TRI(i), dtype=dtype).item() for i in range(12)]
    assert scheduler.get_last_lr() == [TRI(12)]


def test_tensor_betas_are_updated_in_place() -> None:
    model = _model()
    lr, beta1, beta2 = torch.tensor(0.5), torch.tensor(0.9), torch.tensor(0.999)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(beta1, beta2), foreach=False)
    momentum = TRI.momentum(0.85, 0.95)
    scheduler = Scheduler(optimizer, TRI, momentum=momentum)
    seen = _train(model, optimizer, scheduler, 8, key="betas")
    group = optimizer.param_groups[0]
    assert group["lr"] is lr
    assert group["betas"][0] is beta1
    assert group["betas"][1] is beta2
    assert [b[0].item() for b in seen[-1:]] == [torch.tensor(momentum(8)).item()]
    assert beta2.item() == torch.tensor(0.999).item()


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
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(optimizer, schedule, **kwargs)
    _train(model, optimizer, scheduler, steps)
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
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5, momentum=0.9)
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
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5, momentum=0.9)
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
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(optimizer, TRI, momentum=TRI.momentum(0.85, 0.95))
    with pytest.warns(UserWarning, match=r"loaded momentum differs .*max_momentum=0.9\)"):
        scheduler.load_state_dict(source.state_dict())
    assert optimizer.param_groups[0]["momentum"] == TRI.momentum(0.8, 0.9)(13)


def test_load_writes_no_lr_the_scheduler_did_not_set() -> None:
    optimizer, source = _stepped(schedule=TRI)
    optimizer.param_groups[0]["lr"] = 0.123  # changed by hand after the last step
    state = source.state_dict()
    assert state["applied"] is False
    fresh = torch.optim.SGD(_model().parameters(), lr=0.5, momentum=0.9)
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
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, TRI)
    with pytest.raises(error, match=pattern):
        scheduler.load_state_dict(state)
    assert scheduler.schedules == (TRI,)


def test_load_refuses_a_torch_scheduler_state() -> None:
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.5, momentum=0.9)
    torch_state = torch.optim.lr_scheduler.CyclicLR(optimizer, 0.001, 0.006).state_dict()
    scheduler = Scheduler(torch.optim.SGD(_model().parameters(), lr=0.5), TRI)
    with pytest.raises(ValueError, match=r"not a cyclr Scheduler state"):
        scheduler.load_state_dict(torch_state)


@pytest.mark.parametrize("at", [0, 1, 17, 39, 55])
def test_resume_in_process_is_exact(at: int) -> None:
    total = 70
    reference_model = _model()
    optimizer = torch.optim.SGD(reference_model.parameters(), lr=0.5, momentum=0.9)
    momentum = ONECYCLE.momentum()
    scheduler = Scheduler(optimizer, ONECYCLE, momentum=momentum)
    reference = _train(reference_model, optimizer, scheduler, at)
    state = scheduler.state_dict()
    reference += _train(reference_model, optimizer, scheduler, total - at)

    model = _model()
    fresh = torch.optim.SGD(model.parameters(), lr=0.25, momentum=0.0)
    resumed = Scheduler(fresh, ONECYCLE, momentum=momentum)
    resumed.load_state_dict(state)
    assert _train(model, fresh, resumed, total - at) == reference[at:]
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


# --- integrations --------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["warmup-first", "cyclr-first"])
def test_inside_sequential_lr_after_a_linear_warmup(order: str) -> None:
    schedule = cyclr.Triangular2(0.001, 0.006, 4)
    warm_steps, total = 6, 30
    model = _model()
    # Either scheduler keeps the optimizer's LR as initial_lr, which LinearLR warms up to.
    optimizer = torch.optim.SGD(model.parameters(), lr=schedule(0), momentum=0.9)
    keys = set(optimizer.param_groups[0])
    if order == "warmup-first":
        warm = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=0.1, total_iters=warm_steps
        )
        main = Scheduler(optimizer, schedule)
    else:
        main = Scheduler(optimizer, schedule)
        warm = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=0.1, total_iters=warm_steps
        )
    sequential = torch.optim.lr_scheduler.SequentialLR(
        optimizer, [warm, main], milestones=[warm_steps]
    )
    seen = _train(model, optimizer, sequential, total)
    expected_warm = [schedule(0) * (0.1 + 0.9 * i / warm_steps) for i in range(warm_steps)]
    np.testing.assert_allclose(seen[:warm_steps], expected_warm, rtol=1e-12)
    assert seen[warm_steps:] == [schedule(i) for i in range(total - warm_steps)]
    # Both add torch's initial_lr, nothing else.
    assert set(optimizer.param_groups[0]) == keys | {"initial_lr"}
    assert optimizer.param_groups[0]["initial_lr"] == schedule(0)


def test_sequential_lr_resume_leaves_a_successor_lr_alone() -> None:
    def build() -> tuple[
        torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.SequentialLR
    ]:
        model = _model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        first = Scheduler(optimizer, cyclr.Linear(0.001, 0.01, 5))
        then = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
        return (
            model,
            optimizer,
            torch.optim.lr_scheduler.SequentialLR(optimizer, [first, then], milestones=[5]),
        )

    model, optimizer, sequential = build()
    reference = _train(model, optimizer, sequential, 9)
    saved = (copy.deepcopy(optimizer.state_dict()), copy.deepcopy(sequential.state_dict()))
    reference += _train(model, optimizer, sequential, 6)

    model, optimizer, sequential = build()
    optimizer.load_state_dict(saved[0])
    sequential.load_state_dict(saved[1])
    assert _train(model, optimizer, sequential, 6) == pytest.approx(reference[9:], rel=1e-15)


class _Module:
    """Built lazily so that importing this test module does not import Lightning."""

    @staticmethod
    def make(schedule: cyclr.Schedule) -> Any:
        import lightning

        class Module(lightning.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(0)
                self.layer = torch.nn.Linear(4, 1)
                self.seen: list[tuple[float, float]] = []

            def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
                group = self.trainer.optimizers[0].param_groups[0]
                self.seen.append((group["lr"], group["momentum"]))
                x, y = batch
                return torch.nn.functional.mse_loss(self.layer(x), y)

            def configure_optimizers(self) -> Any:
                optimizer = torch.optim.SGD(self.parameters(), lr=0.5, momentum=0.9)
                scheduler = Scheduler(optimizer, schedule, momentum=schedule.momentum())
                return {
                    "optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
                }

        return Module()


def _lightning_trainer(root: Path, max_steps: int) -> Any:
    from tests.lightning.lightning_support import make_trainer

    return make_trainer(root, [], max_steps=max_steps, max_epochs=None)


def _lightning_data() -> torch.utils.data.DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(
        torch.randn(24, 4, generator=generator), torch.randn(24, 1, generator=generator)
    )
    return torch.utils.data.DataLoader(data, batch_size=4)


# Lightning 2.6 on torch 2.13: torch's LeafSpec deprecation, and advice about workers.
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")
@pytest.mark.filterwarnings("ignore:.*does not have many workers.*")
def test_lightning_steps_the_scheduler_every_step_and_resumes(tmp_path: Path) -> None:
    schedule = cyclr.OneCycle(0.1, total_steps=10)
    momentum = schedule.momentum()
    expected = [(schedule(i), momentum(i)) for i in range(18)]
    module = _Module.make(schedule)
    trainer = _lightning_trainer(tmp_path, max_steps=12)  # two epochs of 6 batches
    trainer.fit(module, _lightning_data())
    assert module.seen == expected[:12]
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert isinstance(scheduler, Scheduler)
    assert scheduler.last_epoch == 12
    assert "initial_lr" in trainer.optimizers[0].param_groups[0]  # torch's convention

    checkpoint = tmp_path / "run.ckpt"
    trainer.save_checkpoint(checkpoint)
    resumed = _Module.make(schedule)
    _lightning_trainer(tmp_path, max_steps=18).fit(resumed, _lightning_data(), ckpt_path=checkpoint)
    assert resumed.seen == expected[12:]
