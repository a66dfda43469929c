"""A PyTorch ``LRScheduler`` driven by a pure cyclr schedule, in closed form.

The LR of step ``t`` is ``schedule(t)``, computed from the step count alone: no chained
state, nothing stored in the optimizer's ``param_groups`` but ``lr`` (and the momentum
key when asked), and a ``state_dict`` made of plain Python types that resumes a run
bit for bit.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch

from .._validate import check_int
from ..schedules.base import Momentum, Schedule, schedule_from_dict
from ..schedules.ops import SCALAR_OPS

__all__ = ["Scheduler"]

_STATE_FORMAT = 1
"""Version of the :meth:`Scheduler.state_dict` layout."""

_MOMENTUM_KEYS = ("momentum", "betas")


def _per_group(name: str, value: Any, num_groups: int, *, momentum: bool) -> tuple[Schedule, ...]:
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


def _momentum_keys(optimizer: torch.optim.Optimizer) -> tuple[str, ...]:
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


def _track_optimizer_step(optimizer: torch.optim.Optimizer) -> None:
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


def _lr_and_momentum(lr: Schedule, momentum: Momentum) -> Callable[[float], tuple[float, float]]:
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


def _store(group: dict[str, Any], key: str, value: float) -> None:
    """Set ``group[key]``; a tensor is filled in place (same object, no host sync)."""
    current = group[key]
    if isinstance(current, torch.Tensor):
        current.fill_(value)
    else:
        group[key] = value


def _holds(current: Any, value: Any) -> bool:
    """Whether a group entry holds exactly ``value`` (a tensor as its dtype rounds it)."""
    if isinstance(current, torch.Tensor):
        return bool(torch.equal(current, torch.full_like(current, value)))
    return bool(current == value)


class Scheduler(torch.optim.lr_scheduler.LRScheduler):
    """Set each param group's LR to ``schedule(step)``, the closed form of the step count.

    After construction the optimizer holds ``schedule(0)``; after ``t`` calls of
    :meth:`step` it holds ``schedule(t)``, exactly the float the schedule returns. Call
    :meth:`step` once per optimizer step, after ``optimizer.step()``.

    Compared with ``torch.optim.lr_scheduler.CyclicLR`` and ``OneCycleLR``:

    * only ``lr`` is written into ``param_groups``: no ``initial_lr`` or other keys;
    * momentum changes only when ``momentum=`` asks for it;
    * the schedule is saved by :meth:`state_dict` as plain data (no pickled callables),
      loads with ``torch.load(weights_only=True)``, and can be loaded any number of times;
    * stepping past the end of a one-cycle run holds its final LR instead of raising;
    * tensor LRs (``lr=torch.tensor(0.01)``, as capturable and compiled optimizers use)
      are updated in place, without a host sync.

    It subclasses :class:`torch.optim.lr_scheduler.LRScheduler`, so Lightning
    (``"interval": "step"``) and :class:`~torch.optim.lr_scheduler.SequentialLR` drive it
    like torch's own schedulers. ``SequentialLR`` reads ``initial_lr``, which torch's
    schedulers write and this one does not; to chain cyclr schedules, prefer
    :func:`cyclr.join` or :func:`cyclr.warmup` in one scheduler, which also refuse a jump.

    Args:
        optimizer: The optimizer whose param groups it drives.
        schedule: One learning-rate :class:`~cyclr.Schedule` for every param group, or a
            list with one per group.
        momentum: ``None`` (momentum untouched), one
            :class:`~cyclr.Momentum` schedule (for example ``schedule.momentum(0.85,
            0.95)``) or a list with one per group. It sets ``group["momentum"]`` (SGD,
            RMSprop) or ``group["betas"][0]`` (Adam, AdamW, NAdam, ...).
        last_epoch: As in torch: the index of the last step taken, ``-1`` for a new run;
            the first LR applied is ``schedule(last_epoch + 1)``. To resume, prefer
            :meth:`load_state_dict`.

    Raises:
        TypeError: If ``optimizer`` is not a torch optimizer, a schedule has the wrong
            type or ``last_epoch`` is not an integer.
        ValueError: If a list of schedules does not have one entry per param group,
            momentum is asked of an optimizer that has none, or ``last_epoch < -1``.

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
        >>> "initial_lr" in opt.param_groups[0], opt.param_groups[0]["momentum"]
        (False, 0.9)

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
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer (got optimizer={optimizer!r})"
            )
        self.optimizer = optimizer
        self._configure(schedule, momentum)
        self.last_epoch = check_int("last_epoch", last_epoch, minimum=-1)
        self.base_lrs: list[float | torch.Tensor] = list(self._lr_values(0.0))
        _track_optimizer_step(optimizer)
        self._initial_step()

    def _configure(self, schedule: Any, momentum: Any) -> None:
        """Validate and store the per-group schedules, and plan the per-step work."""
        num_groups = len(self.optimizer.param_groups)
        schedules = _per_group("schedule", schedule, num_groups, momentum=False)
        moms: tuple[Schedule, ...] | None = None
        plan: tuple[tuple[Callable[[float], tuple[float, float]], str], ...] = ()
        if momentum is not None:
            moms = _per_group("momentum", momentum, num_groups, momentum=True)
            keys = _momentum_keys(self.optimizer)
            plan = tuple(
                (_lr_and_momentum(lr, cast(Momentum, m)), key)
                for lr, m, key in zip(schedules, moms, keys, strict=True)
            )
        shared = _shared(schedules)
        self._schedules = schedules
        self._momentum = moms
        # Bound methods, looked up once: the per-step path is a few calls and stores.
        self._shared_evaluate = None if shared is None else shared.evaluate
        self._evaluates = tuple(s.evaluate for s in schedules)
        self._momentum_plan = plan

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        """The learning-rate schedule of each param group."""
        return self._schedules

    @property
    def momentum_schedules(self) -> tuple[Schedule, ...] | None:
        """The momentum schedule of each param group, or ``None`` if momentum is not set."""
        return self._momentum

    def _lr_values(self, step: float) -> list[float]:
        """The LR of every group at ``step`` (a float), through the scalar math path."""
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
        x = float(step)
        if self._momentum_plan:
            lrs = []
            for group, (evaluate, key) in zip(groups, self._momentum_plan, strict=True):
                lr, value = evaluate(x)
                lrs.append(lr)
                _store(group, "lr", lr)
                if key == "momentum":
                    _store(group, key, value)
                else:
                    betas = group["betas"]
                    if isinstance(betas[0], torch.Tensor):
                        betas[0].fill_(value)
                    else:
                        group["betas"] = (value, *betas[1:])
        else:
            lrs = self._lr_values(x)
            for group, lr in zip(groups, lrs, strict=True):
                current = group["lr"]
                if isinstance(current, torch.Tensor):
                    current.fill_(lr)
                else:
                    group["lr"] = lr
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
            warnings.warn(
                "optimizer.step() was replaced after the scheduler was built, so the "
                "call order cannot be checked: call optimizer.step() before scheduler.step()",
                UserWarning,
                stacklevel=3,
            )
        elif not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(
                "scheduler.step() was called before optimizer.step(): call "
                "optimizer.step() first, or the schedule's first value is skipped",
                UserWarning,
                stacklevel=3,
            )

    def get_lr(self) -> list[float | torch.Tensor]:
        """Return each group's LR at the current step, ``schedule(last_epoch)``.

        A closed form with no side effect; it may be called at any time.

        Returns:
            One Python float per param group.
        """
        return list(self._lr_values(float(max(self.last_epoch, 0))))

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
            _holds(group["lr"], lr) for group, lr in zip(groups, self._last_lr, strict=True)
        )
        return {
            "format": _STATE_FORMAT,
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
            TypeError: If ``state_dict`` is not a mapping, or a field has the wrong type.
            ValueError: If it is not a cyclr scheduler state, or its schedule count does
                not match the optimizer's param groups.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping (got state_dict={state_dict!r})")
        if state_dict.get("format") != _STATE_FORMAT:
            raise ValueError(
                f"state_dict is not a cyclr Scheduler state of format {_STATE_FORMAT} "
                f"(got keys={sorted(map(str, state_dict))!r}, "
                f"format={state_dict.get('format')!r})"
            )
        num_groups = len(self.optimizer.param_groups)
        saved_lr = state_dict.get("schedules")
        saved_momentum = state_dict.get("momentum")
        if not isinstance(saved_lr, list):
            raise TypeError(f"state_dict['schedules'] must be a list (got {saved_lr!r})")
        if saved_momentum is not None and not isinstance(saved_momentum, list):
            raise TypeError(
                f"state_dict['momentum'] must be a list or None (got {saved_momentum!r})"
            )
        if len(saved_lr) != num_groups:
            raise ValueError(
                f"state_dict['schedules'] must have one entry per param group (got "
                f"{len(saved_lr)} schedules for {num_groups} param groups)"
            )
        schedules = [schedule_from_dict(d) for d in saved_lr]
        momentum = (
            None if saved_momentum is None else [schedule_from_dict(d) for d in saved_momentum]
        )
        last_epoch = check_int("state_dict['last_epoch']", state_dict.get("last_epoch"), minimum=-1)
        step_count = check_int("state_dict['step_count']", state_dict.get("step_count"), minimum=0)
        applied = state_dict.get("applied", True)

        built = (self._schedules, self._momentum)
        self._configure(schedules, momentum)
        loaded = (self._schedules, self._momentum)
        for kind, old, new in zip(("schedule", "momentum"), built, loaded, strict=True):
            if _describe(old) != _describe(new):
                warnings.warn(
                    f"the loaded {kind} differs from the one this Scheduler was built with; "
                    "the loaded one is used, so the run resumes as it was saved "
                    f"(built with {kind}={_first(old)!r}, loaded {kind}={_first(new)!r})",
                    UserWarning,
                    stacklevel=2,
                )
                break
        self.last_epoch = last_epoch
        self._step_count = step_count
        if applied and last_epoch >= 0:
            self._apply(last_epoch)
        else:
            self._last_lr = list(self._lr_values(float(max(last_epoch, 0))))
