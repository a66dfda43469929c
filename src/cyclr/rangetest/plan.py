r"""From a curve's CLR bounds to a training schedule fitted to the run.

:func:`schedule_from_bounds` is what :meth:`RangeTestResult.schedule
<cyclr.rangetest.RangeTestResult.schedule>` calls. Cyclical kinds (triangular,
triangular2, exp_range) rise from ``base_lr`` to ``max_lr`` in ``step_size_up`` steps and
come back in ``step_size_down``; one-cycle spans the whole run.

**Fitting the cycles to the run.** Smith stops training at the end of a cycle, when the
LR is back at ``base_lr``, and advises 2 to 10 epochs per half cycle (section 3.2). Given
``total_steps`` (and no explicit ``step_size_up``), the run is split into ``c`` whole
cycles of ``total_steps / c`` steps, with ``c`` the divisor of ``total_steps`` whose half
cycle lies closest, in log scale, to ``epochs_per_half_cycle`` (4 by default) within
``[2, 10]`` epochs. A run shorter than two half cycles of 2 epochs gets one cycle over the
whole run (a half cycle under 2 epochs), and a warning says so; a run whose step count
has no divisor in range is refused with the nearest lengths that fit.

**exp_range's decay.** Without ``gamma=``, exp_range keeps Smith's decay per half cycle:
his CIFAR-10 run used :math:`\gamma_S = 0.99994` per step with ``step_size_up`` :math:`=
2000`, an amplitude factor of :math:`\gamma_S^{2000} \approx 0.887` per half cycle, so a
half cycle of :math:`s` steps gets

.. math:: \gamma = \gamma_S^{2000 / s}

(:func:`smith_gamma`); the run's length in steps then does not change how fast the
cycles shrink.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186 (section 3.2, how to choose the cycle length).

    L. N. Smith, "A disciplined approach to neural network hyper-parameters: Part 1",
    2018, https://arxiv.org/abs/1803.09820 (one-cycle).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._validate import check_above, check_choice, check_finite, check_int, check_positive
from .._warn import warn_caller

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = [
    "DEFAULT_EPOCHS_PER_HALF_CYCLE",
    "HALF_CYCLE_EPOCHS",
    "SCHEDULE_KINDS",
    "check_epochs_per_half_cycle",
    "fit_cycles",
    "schedule_from_bounds",
    "smith_gamma",
    "with_scaled_bounds",
]

SCHEDULE_KINDS = ("triangular", "triangular2", "exp_range", "onecycle")
"""The kinds :func:`schedule_from_bounds` builds."""

DEFAULT_EPOCHS_PER_HALF_CYCLE = 4.0
"""Epochs from ``base_lr`` to ``max_lr`` when none is given (Smith's CIFAR-10 runs)."""

HALF_CYCLE_EPOCHS = (2.0, 10.0)
"""Smith's advice for the half cycle: 2 to 10 epochs."""

SMITH_GAMMA = 0.99994
"""exp_range's per-step decay in Smith's CIFAR-10 run (with ``step_size_up=2000``)."""

SMITH_STEP_SIZE = 2000
"""The half cycle, in steps, that :data:`SMITH_GAMMA` was used with."""

Bounds = Callable[[], tuple[float, float]]


def smith_gamma(step_size_up: int) -> float:
    r"""exp_range's ``gamma`` with Smith's amplitude decay per half cycle.

    .. math:: \gamma = 0.99994^{2000 / s}

    Args:
        step_size_up: Steps from ``base_lr`` to ``max_lr`` (``s``), a positive integer.

    Returns:
        The per-step decay, in ``(0, 1)``.

    Raises:
        ValueError: If ``step_size_up`` is not a positive integer.

    Example:
        >>> smith_gamma(2000)
        0.99994
        >>> round(smith_gamma(500) ** 500, 4) == round(0.99994 ** 2000, 4)
        True
    """
    s = check_int("step_size_up", step_size_up)
    return float(SMITH_GAMMA ** (SMITH_STEP_SIZE / s))


def check_epochs_per_half_cycle(value: Any) -> float:
    """``epochs_per_half_cycle`` as a float, or a ValueError naming it (Smith's 2 to 10)."""
    epochs = check_finite("epochs_per_half_cycle", value)
    low, high = HALF_CYCLE_EPOCHS
    if not low <= epochs <= high:
        raise ValueError(
            f"epochs_per_half_cycle must be in [{low:g}, {high:g}], Smith's advice "
            f"(got epochs_per_half_cycle={value!r})"
        )
    return epochs


def fit_cycles(total_steps: int, steps_per_epoch: int, epochs_per_half_cycle: float) -> int:
    """The number of whole cycles to split a run into (see the module docstring).

    Args:
        total_steps: Steps of the whole run.
        steps_per_epoch: Optimizer steps per epoch.
        epochs_per_half_cycle: The preferred half cycle, in epochs.

    Returns:
        ``c``, a divisor of ``total_steps``: the run is ``c`` cycles of
        ``total_steps // c`` steps.

    Raises:
        ValueError: If no divisor gives a half cycle of 2 to 10 epochs although the run
            is long enough for one.

    Example:
        >>> fit_cycles(2400, 100, 4.0)   # 24 epochs: 3 cycles of 8 epochs
        3
        >>> fit_cycles(1000, 100, 4.0)   # 10 epochs: one cycle of 5 + 5 epochs
        1
    """
    if total_steps < 2 * HALF_CYCLE_EPOCHS[0] * steps_per_epoch:
        warn_caller(
            f"total_steps={total_steps} is {total_steps / steps_per_epoch:.3g} epochs, "
            f"shorter than two half cycles of {HALF_CYCLE_EPOCHS[0]:g} epochs: using one "
            f"cycle over the whole run ({total_steps // 2} steps up, the rest down)",
            UserWarning,
        )
        return 1
    target = math.log(epochs_per_half_cycle * steps_per_epoch)
    fitting = _cycle_counts(total_steps, steps_per_epoch)
    if not fitting:
        near = " or ".join(str(t) for t in _nearest_fitting(total_steps, steps_per_epoch))
        raise ValueError(
            f"total_steps={total_steps} splits into no whole number of cycles with a half "
            f"cycle of {HALF_CYCLE_EPOCHS[0]:g} to {HALF_CYCLE_EPOCHS[1]:g} epochs of "
            f"{steps_per_epoch} steps; runs of {near} steps do, or pass step_size_up= "
            "yourself"
        )
    return min(fitting, key=lambda c: (abs(math.log(total_steps / (2 * c)) - target), c))


def _cycle_counts(total_steps: int, steps_per_epoch: int) -> list[int]:
    """The whole numbers of cycles ``total_steps`` splits into, 2 to 10 epochs per half."""
    low, high = (e * steps_per_epoch for e in HALF_CYCLE_EPOCHS)
    fewest, most = math.ceil(total_steps / (2 * high)), math.floor(total_steps / (2 * low))
    return [c for c in range(max(1, fewest), most + 1) if total_steps % c == 0]


def _nearest_fitting(total_steps: int, steps_per_epoch: int) -> list[int]:
    """The run lengths nearest ``total_steps`` below and above it that :func:`fit_cycles` takes.

    Every even length from four half cycles of 2 epochs up fits (two cycles at most
    ``10 / 2`` epochs apart), so the search is short.
    """

    def fits(t: int) -> bool:
        return bool(_cycle_counts(t, steps_per_epoch))

    shortest = 4 * math.ceil(HALF_CYCLE_EPOCHS[0] * steps_per_epoch)
    below = next((t for t in range(total_steps - 1, shortest - 1, -1) if fits(t)), None)
    above = next(t for t in range(total_steps + 1, 2 * total_steps + 4) if fits(t))
    return [t for t in (below, above) if t is not None]


def _check_overrides(kind: str, cls: type, overrides: Mapping[str, Any]) -> None:
    """Refuse an override the schedule of ``kind`` does not take, naming what it takes."""
    taken = {f.name for f in dataclasses.fields(cls) if f.init} - {"total_steps"}
    if kind == "onecycle":
        taken.add("base_lr")  # read as div_factor = max_lr / base_lr
        if "base_lr" in overrides and "div_factor" in overrides:
            raise ValueError(
                "kind='onecycle' starts at max_lr / div_factor: pass base_lr or div_factor, "
                f"not both (got base_lr={overrides['base_lr']!r}, "
                f"div_factor={overrides['div_factor']!r})"
            )
    unknown = sorted(set(overrides) - taken)
    if unknown:
        got = ", ".join(f"{name}={overrides[name]!r}" for name in unknown)
        raise TypeError(
            f"kind={kind!r} takes no argument {', '.join(unknown)} (got {got}); it takes "
            f"{', '.join(sorted(taken))}"
        )


def schedule_from_bounds(
    kind: str,
    bounds: Bounds,
    steps_per_epoch: Any,
    *,
    epochs_per_half_cycle: Any = None,
    total_steps: Any = None,
    overrides: Mapping[str, Any],
) -> Schedule:
    """Build a schedule of ``kind`` between the bounds that ``bounds()`` reads.

    Args:
        kind: One of :data:`SCHEDULE_KINDS`.
        bounds: Returns ``(base_lr, max_lr)``; called only when the overrides do not
            set both.
        steps_per_epoch: Optimizer steps per epoch, a positive integer.
        epochs_per_half_cycle: Cyclical kinds: epochs from ``base_lr`` to ``max_lr``, in
            ``[2, 10]``; ``None``: 4, or what fits ``total_steps``.
        total_steps: Steps of the whole run (required for ``"onecycle"``).
        overrides: Arguments for the schedule, overriding the computed ones.

    Returns:
        The schedule.

    Raises:
        ValueError: For an unknown kind, an argument out of range, a missing
            ``total_steps``, or a run that fits no whole cycle.
        cyclr.errors.NoReliableSuggestionError: If the curve gives no bounds.
    """
    from ..schedules import ExpRange, OneCycle, Triangular, Triangular2

    check_choice("kind", kind, SCHEDULE_KINDS)
    spe = check_int("steps_per_epoch", steps_per_epoch)
    total = None if total_steps is None else check_int("total_steps", total_steps, minimum=2)
    if kind == "onecycle":
        if epochs_per_half_cycle is not None:
            raise ValueError(
                "epochs_per_half_cycle is not used by kind='onecycle': its length is "
                f"total_steps (got epochs_per_half_cycle={epochs_per_half_cycle!r})"
            )
        if total is None:
            raise ValueError("kind='onecycle' needs total_steps (steps of the whole run)")
        _check_overrides(kind, OneCycle, overrides)
        params: dict[str, Any] = {"total_steps": total, **overrides}
        base = params.pop("base_lr", None)
        if base is not None:
            check_positive("base_lr", base)
        if "max_lr" not in params or ("div_factor" not in params and base is None):
            low, peak = bounds()
            params.setdefault("max_lr", peak)
            base = low if base is None else base
        if "div_factor" not in params:  # the run starts at base_lr: as a cyclical kind's
            check_above("base_lr", base, "max_lr", check_positive("max_lr", params["max_lr"]))
            ratio = params["max_lr"] / base
            if not math.isfinite(ratio):
                raise ValueError(
                    f"base_lr is too small for max_lr: max_lr / base_lr overflows (got "
                    f"base_lr={base!r}, max_lr={params['max_lr']!r})"
                )
            params["div_factor"] = ratio
        return OneCycle(**params)
    epochs = (
        DEFAULT_EPOCHS_PER_HALF_CYCLE
        if epochs_per_half_cycle is None
        else check_epochs_per_half_cycle(epochs_per_half_cycle)
    )
    cls = {"triangular": Triangular, "triangular2": Triangular2, "exp_range": ExpRange}[kind]
    _check_overrides(kind, cls, overrides)
    params = {}
    if total is not None and "step_size_up" not in overrides:
        cycle = total // fit_cycles(total, spe, epochs)
        params.update(step_size_up=cycle // 2, step_size_down=cycle - cycle // 2)
    else:
        params["step_size_up"] = max(1, round(epochs * spe))
    if "base_lr" not in overrides or "max_lr" not in overrides:
        base, peak = bounds()
        params.update(base_lr=base, max_lr=peak)
    params.update(overrides)
    if kind == "exp_range" and "gamma" not in overrides:
        params["gamma"] = smith_gamma(params["step_size_up"])
    schedule: Schedule = cls(**params)
    cycle_steps = int(getattr(schedule, "cycle_steps"))  # noqa: B009 - every cyclic kind has it
    if total is not None and total % cycle_steps:
        lower, upper = (
            (total // cycle_steps) * cycle_steps,
            (total // cycle_steps + 1) * cycle_steps,
        )
        raise ValueError(
            f"total_steps must be a whole number of cycles of {cycle_steps} steps so "
            f"training ends at base_lr (got total_steps={total}; nearest: "
            f"{f'{lower} or ' if lower else ''}{upper})"
        )
    return schedule


def with_scaled_bounds(schedule: Schedule, scale: float) -> Schedule:
    """``schedule`` with both bounds multiplied by ``scale``, its shape unchanged.

    A cyclical kind's ``base_lr`` and ``max_lr``; one-cycle's ``max_lr`` (its start and
    end follow through ``div_factor`` and ``final_div_factor``). Every kind is linear in
    its bounds, so each step's LR is ``scale`` times the original's: one param group's
    schedule from another's.

    Example:
        >>> from cyclr import Triangular
        >>> with_scaled_bounds(Triangular(0.01, 0.04, 10), 10.0).max_lr
        0.4
    """
    from ..schedules import OneCycle

    if scale == 1.0:
        return schedule
    if isinstance(schedule, OneCycle):
        return dataclasses.replace(schedule, max_lr=schedule.max_lr * scale)
    base, peak = getattr(schedule, "base_lr"), getattr(schedule, "max_lr")  # noqa: B009
    return dataclasses.replace(schedule, base_lr=base * scale, max_lr=peak * scale)  # type: ignore[type-var]
