"""Param-group and state helpers of :class:`cyclr.torch.Scheduler`: one job each, no state.

They follow torch's own ``LRScheduler`` conventions (``initial_lr``, the wrapped
``optimizer.step``) so a cyclr scheduler mixes with torch's schedulers.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping
from typing import Any

import torch

from .._validate import check_type, describe
from ..schedules.base import Momentum, Schedule

__all__ = [
    "STATE_FORMAT",
    "check_state",
    "holds",
    "keep_initial_lr",
    "momentum_keys",
    "per_group",
    "store",
    "track_optimizer_step",
]

STATE_FORMAT = 1
"""Version of the :meth:`Scheduler.state_dict` layout."""

_STATE_KEYS = ("format", "schedules", "momentum", "last_epoch", "step_count", "applied")
"""The keys of :meth:`Scheduler.state_dict`, every one required by ``load_state_dict``."""

_MOMENTUM_KEYS = ("momentum", "betas")


def per_group(name: str, value: Any, num_groups: int, *, momentum: bool) -> tuple[Schedule, ...]:
    """Return one schedule per param group from a schedule or a sequence of them."""
    if isinstance(value, Schedule):
        items: tuple[Any, ...] = (value,) * num_groups
    elif isinstance(value, (list, tuple)):
        items = tuple(value)
        if len(items) != num_groups:
            raise ValueError(
                f"{name} must have one entry per param group (got {len(items)} "
                f"{name} entries for {num_groups} param groups)"
            )
    else:
        raise TypeError(f"{name} must be a Schedule or a list of them (got {name}={value!r})")
    for index, item in enumerate(items):
        if momentum and not isinstance(item, Momentum):
            raise TypeError(
                f"{name} must be a Momentum schedule such as schedule.momentum(0.85, 0.95) "
                f"(got {name}[{index}]={item!r})"
            )
        if not momentum and (not isinstance(item, Schedule) or isinstance(item, Momentum)):
            raise TypeError(
                f"{name} must be a learning-rate Schedule (got {name}[{index}]={item!r})"
            )
    return items


def keep_initial_lr(optimizer: torch.optim.Optimizer, last_epoch: int) -> None:
    """Torch's ``initial_lr`` convention: set if absent on a new run, required on a resume.

    ``SequentialLR`` resets each group's LR to it, and a torch scheduler built after this
    one takes it as its base LR.
    """
    for index, group in enumerate(optimizer.param_groups):
        if last_epoch == -1:
            initial = group["lr"]
            group.setdefault(
                "initial_lr", initial.clone() if isinstance(initial, torch.Tensor) else initial
            )
        elif "initial_lr" not in group:
            raise KeyError(
                f"param_groups[{index}] has no 'initial_lr': a scheduler built with "
                f"last_epoch={last_epoch} resumes a run and needs that run's optimizer state "
                "(load it first), as torch's schedulers do; use last_epoch=-1 for a new run"
            )


def check_state(state_dict: Any) -> None:
    """Refuse anything but a :meth:`Scheduler.state_dict`, naming the key and its value."""
    check_type("state_dict", state_dict, Mapping, "a mapping")
    keys = set(state_dict)
    missing = [key for key in _STATE_KEYS if key not in keys]
    unknown = sorted(map(str, keys - set(_STATE_KEYS)))
    if missing or unknown:
        raise ValueError(
            f"state_dict is not a cyclr Scheduler state of format {STATE_FORMAT}: it needs "
            f"exactly the keys {list(_STATE_KEYS)} (got missing keys={missing}, "
            f"unknown keys={unknown})"
        )
    fmt = state_dict["format"]
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt != STATE_FORMAT:
        raise ValueError(
            f"state_dict['format'] must be {STATE_FORMAT}, the format of this cyclr version "
            f"(got format={describe(fmt)})"
        )
    expected: dict[str, tuple[type, ...]] = {
        "schedules": (list,),
        "momentum": (list, type(None)),
        "applied": (bool,),
    }
    names = {"schedules": "a list", "momentum": "a list or None", "applied": "a bool"}
    for key, kinds in expected.items():
        if not isinstance(state_dict[key], kinds):
            raise TypeError(
                f"state_dict[{key!r}] must be {names[key]} (got {key}={describe(state_dict[key])})"
            )


def momentum_keys(optimizer: torch.optim.Optimizer) -> tuple[str, ...]:
    """Return, per param group, the key that holds its momentum: momentum or betas."""
    keys = []
    for index, group in enumerate(optimizer.param_groups):
        key = next((k for k in _MOMENTUM_KEYS if k in group), None)
        if key is None:
            raise ValueError(
                "momentum cannot be scheduled: the optimizer has no momentum "
                f"(param_groups[{index}] of {type(optimizer).__name__} has neither "
                "'momentum', as SGD and RMSprop, nor 'betas', as the Adam family)"
            )
        keys.append(key)
    return tuple(keys)


def track_optimizer_step(optimizer: torch.optim.Optimizer) -> None:
    """Flag ``optimizer.step`` calls, as torch's schedulers do, for the step-order warning.

    The wrapper and its marker attributes are those of ``torch.optim.lr_scheduler``, so
    an optimizer shared with torch schedulers is wrapped once.
    """
    step: Any = optimizer.step
    if hasattr(step, "_wrapped_by_lr_sched") or not hasattr(step, "__func__"):
        return
    opt_ref = weakref.ref(optimizer)
    func = step.__func__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opt = opt_ref()
        opt._opt_called = True  # type: ignore[union-attr]
        return func.__get__(opt, opt.__class__)(*args, **kwargs)

    setattr(wrapper, "_wrapped_by_lr_sched", True)  # noqa: B010
    optimizer.step = wrapper  # type: ignore[method-assign]


def store(group: dict[str, Any], key: str, value: float) -> None:
    """Set ``group[key]``; a tensor is filled in place (same object, no host sync)."""
    current = group[key]
    if isinstance(current, torch.Tensor):
        current.fill_(value)
    else:
        group[key] = value


def holds(current: Any, value: Any) -> bool:
    """Whether a group entry holds exactly ``value`` (a tensor as its dtype rounds it)."""
    if isinstance(current, torch.Tensor):
        return bool(torch.equal(current, torch.full_like(current, value)))
    return bool(current == value)
