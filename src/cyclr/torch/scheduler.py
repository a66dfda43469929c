"""A PyTorch ``LRScheduler`` driven by a pure cyclr schedule, in closed form.

The LR of step ``t`` is ``schedule(t)``, computed from the step count alone: no chained
state, only ``lr`` (and the momentum key when asked) and torch's ``initial_lr`` written
into the optimizer's ``param_groups``, and a ``state_dict`` made of plain Python types
that resumes a run bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch

from .._validate import check_int, check_type
from .._warn import warn_caller
from ..schedules._steps import check_host_values
from ..schedules.base import Momentum, Schedule, schedule_from_dict
from ..schedules.ops import SCALAR_OPS
from ._groups import (
    STATE_FORMAT,
    check_state,
    holds,
    keep_initial_lr,
    momentum_keys,
    per_group,
    store,
    track_optimizer_step,
)

__all__ = ["Scheduler"]


_PLAN = ("_shared_evaluate", "_evaluates", "_momentum_plan")
"""Attributes derived from the schedules (closures): rebuilt, never pickled."""


_INF = float("inf")


def _shared(schedules: tuple[Schedule, ...]) -> Schedule | None:
    """Return the schedule every group uses, or ``None`` when the groups differ."""
    first = schedules[0]
    return first if all(s is first or s == first for s in schedules[1:]) else None


def _describe(schedules: tuple[Schedule, ...] | None) -> list[dict[str, Any]] | None:
    """Return the saved form of ``schedules``, or ``None`` when one cannot be saved."""
    if schedules is None:
        return None
    try:
        return [s.to_dict() for s in schedules]
    except ValueError:
        return None


def _first(schedules: tuple[Schedule, ...] | None) -> Schedule | None:
    """The first group's schedule, to name in a message."""
    return None if schedules is None else schedules[0]


def _lr_and_momentum(lr: Schedule, momentum: Momentum) -> Callable[[int], tuple[float, float]]:
    """``step -> (lr, momentum)`` on the scalar path, in one pass when the two mirror."""
    base, high = momentum.base_momentum, momentum.max_momentum
    if momentum.schedule == lr:
        both = lr.evaluate_with_momentum
        return lambda step: both(step, SCALAR_OPS, base, high)
    lr_evaluate = lr.evaluate
    momentum_evaluate = momentum.schedule.evaluate_momentum
    return lambda step: (
        lr_evaluate(step, SCALAR_OPS),
        momentum_evaluate(step, SCALAR_OPS, base, high),
    )


def _warn_if_flattened(optimizer: torch.optim.Optimizer) -> None:
    """Warn when one schedule is about to give param groups with different LRs the same LR."""
    lrs = [float(group["lr"]) for group in optimizer.param_groups]
    if len(set(lrs)) > 1:
        warn_caller(
            f"one schedule for {len(lrs)} param groups whose LRs differ (got lr={lrs}): "
            "every group now follows it and their ratios are lost; pass one schedule per "
            "group to keep them (after a range test: result.group_schedules(...))",
            UserWarning,
        )


class Scheduler(torch.optim.lr_scheduler.LRScheduler):
    """Set each param group's LR to ``schedule(step)``, the closed form of the step count.

    After construction the optimizer holds ``schedule(0)``; after ``t`` calls of
    :meth:`step` it holds ``schedule(t)``, exactly the float the schedule returns. Call
    :meth:`step` once per optimizer step, after ``optimizer.step()``.

    Compared with ``torch.optim.lr_scheduler.CyclicLR`` and ``OneCycleLR``:

    * only ``lr`` is written into ``param_groups``, besides the ``initial_lr`` every torch
      scheduler keeps there (set if absent on a new run, required on a resume), so
      ``SequentialLR`` and ``ChainedScheduler`` mix it with torch's own schedulers;
    * momentum changes only when ``momentum=`` asks for it;
    * the schedule is saved by :meth:`state_dict` as plain data (no pickled callables),
      loads with ``torch.load(weights_only=True)``, and can be loaded any number of times;
    * stepping past the end of a one-cycle run holds its final LR instead of raising;
    * tensor LRs (``lr=torch.tensor(0.01)``, as capturable and compiled optimizers use)
      are updated in place, without a host sync;
    * it pickles whole (``torch.save(scheduler)``), momentum schedules included.

    It subclasses :class:`torch.optim.lr_scheduler.LRScheduler`, so Lightning
    (``"interval": "step"``), :class:`~torch.optim.lr_scheduler.SequentialLR` and
    :class:`~torch.optim.lr_scheduler.ChainedScheduler` drive it like torch's own
    schedulers. To chain cyclr schedules, prefer :func:`cyclr.join` or
    :func:`cyclr.warmup` in one scheduler, which also refuse a jump.

    Args:
        optimizer: The optimizer whose param groups it drives.
        schedule: One learning-rate :class:`~cyclr.Schedule` for every param group, or a
            list with one per group (after a range test,
            :meth:`~cyclr.rangetest.RangeTestResult.group_schedules` keeps the groups'
            ratios). One schedule for groups whose LRs differ warns: it gives them all
            the same LR.
        momentum: ``None`` (momentum untouched), one
            :class:`~cyclr.Momentum` schedule (for example ``schedule.momentum(0.85,
            0.95)``) or a list with one per group. It sets ``group["momentum"]`` (SGD,
            RMSprop) or ``group["betas"][0]`` (Adam, AdamW, NAdam, ...). On the
            benchmark suite, cycling SGD momentum under one-cycle moved results by under
            0.4 points, and cycling Adam's ``beta1`` cost a GRU 5.4 points
            (``benchmarks/RESULTS.md``, "One-cycle with and without momentum cycling").
        last_epoch: As in torch: the index of the last step taken, ``-1`` for a new run;
            the first LR applied is ``schedule(last_epoch + 1)``. As in torch, a resume
            (``last_epoch >= 0``) needs ``initial_lr`` in every param group, that is the
            optimizer state of the run. To resume, prefer :meth:`load_state_dict`.

    Raises:
        TypeError: If ``optimizer`` is not a torch optimizer, a schedule has the wrong
            type or ``last_epoch`` is not an integer.
        ValueError: If a list of schedules does not have one entry per param group,
            momentum is asked of an optimizer that has none, or ``last_epoch < -1``.
        KeyError: If ``last_epoch >= 0`` and a param group has no ``initial_lr``
            (torch's schedulers raise the same).

    Example:
        >>> import torch
        >>> from cyclr import Triangular
        >>> from cyclr.torch import Scheduler
        >>> model = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> sched = Scheduler(opt, Triangular(0.001, 0.006, step_size_up=4))
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 6) for lr in lrs]
        [0.001, 0.00225, 0.0035, 0.00475, 0.006, 0.00475]
        >>> opt.param_groups[0]["initial_lr"], opt.param_groups[0]["momentum"]
        (0.1, 0.9)

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        https://arxiv.org/abs/1506.01186
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule | Sequence[Schedule],
        *,
        momentum: Momentum | Sequence[Momentum] | None = None,
        last_epoch: int = -1,
    ) -> None:
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
        self.optimizer = optimizer
        self._configure(schedule, momentum)
        self.last_epoch = check_int("last_epoch", last_epoch, minimum=-1)
        if isinstance(schedule, Schedule) and self.last_epoch == -1:
            _warn_if_flattened(optimizer)
        keep_initial_lr(optimizer, self.last_epoch)
        self.base_lrs: list[float | torch.Tensor] = list(self._lr_values(0))
        track_optimizer_step(optimizer)
        self._initial_step()

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the per-step closures, which :meth:`__setstate__` rebuilds."""
        return {key: value for key, value in self.__dict__.items() if key not in _PLAN}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._plan()
        track_optimizer_step(self.optimizer)

    def _configure(self, schedule: Any, momentum: Any) -> None:
        """Validate and store the per-group schedules, and plan the per-step work."""
        num_groups = len(self.optimizer.param_groups)
        schedules = per_group("schedule", schedule, num_groups, momentum=False)
        moms: tuple[Schedule, ...] | None = None
        keys: tuple[str, ...] = ()
        if momentum is not None:
            moms = per_group("momentum", momentum, num_groups, momentum=True)
            keys = momentum_keys(self.optimizer)
        self._schedules = schedules
        self._momentum = moms
        self._momentum_keys = keys
        self._plan()

    def _plan(self) -> None:
        """Plan the per-step work: bound methods and closures, looked up once."""
        schedules, moms = self._schedules, self._momentum
        shared = _shared(schedules)
        self._shared_evaluate = None if shared is None else shared.evaluate
        self._evaluates = tuple(s.evaluate for s in schedules)
        self._momentum_plan: tuple[tuple[Callable[[int], tuple[float, float]], str], ...] = ()
        if moms is not None:
            self._momentum_plan = tuple(
                (_lr_and_momentum(lr, cast(Momentum, m)), key)
                for lr, m, key in zip(schedules, moms, self._momentum_keys, strict=True)
            )

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        """The learning-rate schedule of each param group."""
        return self._schedules

    @property
    def momentum_schedules(self) -> tuple[Schedule, ...] | None:
        """The momentum schedule of each param group, or ``None`` if momentum is not set."""
        return self._momentum

    def _lr_values(self, step: int) -> list[float]:
        """The LR of every group at ``step`` (an int), through the scalar math path."""
        shared = self._shared_evaluate
        if shared is not None:
            return [shared(step, SCALAR_OPS)] * len(self._evaluates)
        return [evaluate(step, SCALAR_OPS) for evaluate in self._evaluates]

    def _apply(self, step: int) -> None:
        """Write the LR (and momentum, if scheduled) of ``step`` into every param group."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self._evaluates):
            raise ValueError(
                "the optimizer's param groups changed after the scheduler was built "
                f"(got {len(groups)} param groups for {len(self._evaluates)} schedules)"
            )
        if self._momentum_plan:
            lrs = []
            for group, (evaluate, key) in zip(groups, self._momentum_plan, strict=True):
                lr, value = evaluate(step)
                if not 0.0 <= value < 1.0:
                    check_host_values(self._momentum, "momentum", step, value)
                lrs.append(lr)
                store(group, "lr", lr)
                if key == "momentum":
                    store(group, key, value)
                else:
                    betas = group["betas"]
                    if isinstance(betas[0], torch.Tensor):
                        betas[0].fill_(value)
                    else:
                        group["betas"] = (value, *betas[1:])
        else:
            lrs = self._lr_values(step)
            for group, lr in zip(groups, lrs, strict=True):
                current = group["lr"]
                if isinstance(current, torch.Tensor):
                    current.fill_(lr)
                else:
                    group["lr"] = lr
        for lr in lrs:
            if not 0.0 <= lr < _INF:
                check_host_values(self._schedules, "lr", step, lr)
        self._last_lr: list[float | torch.Tensor] = lrs  # type: ignore[assignment]

    def step(self, epoch: int | None = None) -> None:
        """Advance one step and apply ``schedule(step)``; call after ``optimizer.step()``.

        Args:
            epoch: Jump to this step instead of advancing by one (torch's deprecated
                argument; exact here, since the LR is a closed form of the step).

        Raises:
            TypeError: If ``epoch`` is not an integer.
            ValueError: If ``epoch`` is negative.
        """
        if self._step_count == 1:
            self._warn_step_order()
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        """Set the step (or advance by one) and apply it; ``SequentialLR`` calls this."""
        if epoch is None:
            self.last_epoch += 1
        else:
            self.last_epoch = check_int("epoch", epoch, minimum=0)
        self._apply(self.last_epoch)

    def _warn_step_order(self) -> None:
        """Torch's check that ``optimizer.step()`` ran before the first ``step()``."""
        if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
            warn_caller(
                "optimizer.step() was replaced after the scheduler was built, so the "
                "call order cannot be checked: call optimizer.step() before scheduler.step()",
                UserWarning,
            )
        elif not getattr(self.optimizer, "_opt_called", False):
            warn_caller(
                "scheduler.step() was called before optimizer.step(): call "
                "optimizer.step() first, or the schedule's first value is skipped",
                UserWarning,
            )

    def get_lr(self) -> list[float | torch.Tensor]:
        """Return each group's LR at the current step, ``schedule(last_epoch)``.

        A closed form with no side effect; it may be called at any time.

        Returns:
            One Python float per param group.
        """
        return list(self._lr_values(max(self.last_epoch, 0)))

    _get_closed_form_lr = get_lr

    def get_last_lr(self) -> list[float | torch.Tensor]:
        """Return the LRs last applied, one Python float per param group.

        They are the exact schedule values; a tensor ``lr`` holds them rounded to its dtype.
        """
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """Return the scheduler state as plain Python types.

        ``schedules`` and ``momentum`` hold each group's :meth:`~cyclr.Schedule.to_dict`;
        ``last_epoch`` is the current step. It pickles, serializes to JSON and loads with
        ``torch.load(..., weights_only=True)``. With tensor LRs it reads them once (a host
        sync at checkpoint time, never per step).

        Returns:
            ``{"format", "schedules", "momentum", "last_epoch", "step_count", "applied"}``.

        Raises:
            ValueError: If a schedule holds an unregistered callable (see
                :func:`cyclr.register_scale_fn`).
        """
        groups = self.optimizer.param_groups
        applied = len(groups) == len(self._last_lr) and all(
            holds(group["lr"], lr) for group, lr in zip(groups, self._last_lr, strict=True)
        )
        return {
            "format": STATE_FORMAT,
            "schedules": [s.to_dict() for s in self._schedules],
            "momentum": None if self._momentum is None else [m.to_dict() for m in self._momentum],
            "last_epoch": int(self.last_epoch),
            "step_count": int(self._step_count),
            "applied": applied,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`; the next :meth:`step` continues the run.

        The LR (and momentum) of the loaded step is written into the optimizer at once,
        so a resumed run continues with bit-identical values even with a fresh optimizer.
        This happens only if the saved scheduler's values were in the optimizer when the
        state was saved (inside ``SequentialLR`` a finished scheduler leaves its
        successor's LRs alone). ``state_dict`` is not modified, so it can be loaded again.

        The loaded schedules replace the constructor's. If they differ, a ``UserWarning``
        says so: a checkpoint resumes the run it came from. To continue with the new
        schedule instead, build the scheduler with ``last_epoch`` set to the saved
        ``last_epoch - 1`` and do not load the state.

        Args:
            state_dict: A mapping from :meth:`state_dict`.

        Raises:
            TypeError: If ``state_dict`` is not a mapping, or a field has the wrong type
                (``applied`` a bool, ``schedules`` a list, ...).
            ValueError: If it is not a cyclr scheduler state (a key missing or unknown, a
                ``format`` other than 1), or its schedule count does not match the
                optimizer's param groups.
        """
        check_state(state_dict)
        num_groups = len(self.optimizer.param_groups)
        saved_lr = state_dict["schedules"]
        saved_momentum = state_dict["momentum"]
        if len(saved_lr) != num_groups:
            raise ValueError(
                f"state_dict['schedules'] must have one entry per param group (got "
                f"{len(saved_lr)} schedules for {num_groups} param groups)"
            )
        schedules = [schedule_from_dict(d) for d in saved_lr]
        momentum = (
            None if saved_momentum is None else [schedule_from_dict(d) for d in saved_momentum]
        )
        last_epoch = check_int("state_dict['last_epoch']", state_dict["last_epoch"], minimum=-1)
        step_count = check_int("state_dict['step_count']", state_dict["step_count"], minimum=0)
        applied = state_dict["applied"]

        built = (self._schedules, self._momentum)
        self._configure(schedules, momentum)
        loaded = (self._schedules, self._momentum)
        for kind, old, new in zip(("schedule", "momentum"), built, loaded, strict=True):
            if _describe(old) != _describe(new):
                warn_caller(
                    f"the loaded {kind} differs from the one this Scheduler was built with; "
                    "the loaded one is used, so the run resumes as it was saved "
                    f"(built with {kind}={_first(old)!r}, loaded {kind}={_first(new)!r})",
                    UserWarning,
                )
                break
        self.last_epoch = last_epoch
        self._step_count = step_count
        if applied and last_epoch >= 0:
            self._apply(last_epoch)
        else:
            self._last_lr = list(self._lr_values(max(last_epoch, 0)))
