"""cyclr.torch.Scheduler: closed-form LRs, clean param groups, momentum, stepping."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from scheduler_support import ONECYCLE, TRI, make_batch, make_model, train

import cyclr
from cyclr.torch.scheduler import Scheduler

torch.set_num_threads(1)


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
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    scheduler = Scheduler(optimizer, schedule)
    assert optimizer.param_groups[0]["lr"] == schedule(0)
    seen = train(model, optimizer, scheduler, 60)
    assert seen == [schedule(i) for i in range(60)]
    assert scheduler.last_epoch == 60
    assert scheduler.get_last_lr() == [schedule(60)]


def test_onecycle_past_the_end_holds_instead_of_raising() -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, ONECYCLE)
    seen = train(model, optimizer, scheduler, 3 * ONECYCLE.total_steps)
    tail = seen[ONECYCLE.total_steps - 1 :]
    assert tail == [ONECYCLE(ONECYCLE.total_steps - 1)] * len(tail)
    assert min(seen) > 0


def test_param_group_keys_are_unchanged_but_torchs_initial_lr() -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, nesterov=True)
    before = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    scheduler = Scheduler(optimizer, ONECYCLE)
    train(model, optimizer, scheduler, 10)
    after = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    # torch's convention, which SequentialLR and later torch schedulers read.
    assert set(after) == set(before) | {"initial_lr"}
    assert after["initial_lr"] == 0.5
    assert {k: v for k, v in after.items() if k not in ("lr", "initial_lr")} == {
        k: v for k, v in before.items() if k != "lr"
    }


@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["sgd-no-momentum", "sgd-momentum"])
def test_momentum_is_untouched_unless_asked(momentum: float) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=momentum)
    scheduler = Scheduler(optimizer, TRI)
    assert train(model, optimizer, scheduler, 12, key="momentum") == [momentum] * 12
    assert scheduler.momentum_schedules is None


def test_adam_betas_are_untouched_unless_asked() -> None:
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.5, betas=(0.8, 0.99))
    scheduler = Scheduler(optimizer, TRI)
    train(model, optimizer, scheduler, 5)
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
    model = make_model()
    optimizer = make_optimizer(model.parameters())
    beta2 = optimizer.param_groups[0]["betas"][1] if key == "betas" else None
    momentum = ONECYCLE.momentum(0.85, 0.95)
    scheduler = Scheduler(optimizer, ONECYCLE, momentum=momentum)
    seen = train(model, optimizer, scheduler, 45, key=key)
    if key == "betas":
        assert all(b[1] == beta2 for b in seen)
        seen = [b[0] for b in seen]
    assert seen == [momentum(i) for i in range(45)]
    assert scheduler.momentum_schedules == (momentum,)


def test_momentum_of_another_schedule() -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    momentum = ONECYCLE.momentum(0.8, 0.9)
    scheduler = Scheduler(optimizer, TRI, momentum=momentum)
    x, y = make_batch()
    for step in range(50):
        group = optimizer.param_groups[0]
        assert (group["lr"], group["momentum"]) == (TRI(step), momentum(step))
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()


def test_momentum_needs_an_optimizer_with_momentum() -> None:
    optimizer = torch.optim.Adagrad(make_model().parameters(), lr=0.1)
    with pytest.raises(
        ValueError, match=r"momentum cannot be scheduled.*param_groups\[0\] of Adagrad"
    ):
        Scheduler(optimizer, TRI, momentum=TRI.momentum())
    assert "initial_lr" not in optimizer.param_groups[0]
    Scheduler(optimizer, TRI)  # the LR alone is fine


def test_momentum_must_be_a_momentum_schedule() -> None:
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.1, momentum=0.9)
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
    model = make_model()
    groups = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.7}]
    return model, torch.optim.SGD(groups, lr=0.5, momentum=0.9, **kwargs)


def test_one_schedule_per_group() -> None:
    model, optimizer = _two_group_optimizer()
    second = cyclr.Triangular2(0.01, 0.06, 3)
    scheduler = Scheduler(
        optimizer, [TRI, second], momentum=[TRI.momentum(), second.momentum(0.8, 0.9)]
    )
    x, y = make_batch()
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
    with pytest.warns(
        UserWarning, match=r"one schedule for 2 param groups whose LRs differ"
    ) as seen:
        scheduler = Scheduler(optimizer, TRI)
    assert seen[0].filename == __file__  # the caller's line
    train(model, optimizer, scheduler, 7)
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
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5)
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
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5)
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
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, TRI)
    optimizer.step()
    scheduler.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scheduler.get_lr() == [TRI(1)] == scheduler.get_lr()
    assert scheduler.last_epoch == 1
    assert optimizer.param_groups[0]["lr"] == TRI(1)


def test_step_before_optimizer_step_warns_like_torch() -> None:
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, TRI)
    with pytest.warns(
        UserWarning, match=r"scheduler.step\(\) was called before optimizer.step\(\)"
    ):
        scheduler.step()


def test_no_warning_in_the_right_order() -> None:
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.5)
    scheduler = Scheduler(optimizer, TRI)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.step()
        scheduler.step()
        scheduler.step()


# --- tensor learning rates ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_tensor_lr_is_updated_in_place(dtype: torch.dtype) -> None:
    model = make_model()
    lr = torch.tensor(0.5, dtype=dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = Scheduler(optimizer, TRI)
    seen = train(model, optimizer, scheduler, 12)
    assert optimizer.param_groups[0]["lr"] is lr
    assert seen == [torch.tensor(TRI(i), dtype=dtype).item() for i in range(12)]
    assert scheduler.get_last_lr() == [TRI(12)]


def test_tensor_betas_are_updated_in_place() -> None:
    model = make_model()
    lr, beta1, beta2 = torch.tensor(0.5), torch.tensor(0.9), torch.tensor(0.999)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(beta1, beta2), foreach=False)
    momentum = TRI.momentum(0.85, 0.95)
    scheduler = Scheduler(optimizer, TRI, momentum=momentum)
    seen = train(model, optimizer, scheduler, 8, key="betas")
    group = optimizer.param_groups[0]
    assert group["lr"] is lr
    assert group["betas"][0] is beta1
    assert group["betas"][1] is beta2
    assert [b[0].item() for b in seen[-1:]] == [torch.tensor(momentum(8)).item()]
    assert beta2.item() == torch.tensor(0.999).item()
