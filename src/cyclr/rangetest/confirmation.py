"""The outcome of a confirmation stage (:class:`Confirmation`).

:mod:`cyclr.rangetest.confirm` trains and scores the candidates; this module holds what
comes out: the chosen LR, every candidate's score and held-out losses, the suggestion,
the bounds and the schedule they give. How the scores are read is
:mod:`cyclr.rangetest.scores`.
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._validate import check_count, check_int, check_positive
from .bounds import BASE_DIVISOR
from .horizon import Horizon, flow_time_factor, run_length_lr
from .plan import schedule_from_bounds, with_scaled_bounds
from .rules import Suggestion
from .scores import evaluation_count, evaluation_steps, fitted_lr, largest_rise

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = ["Confirmation"]


def _real(name: str, value: Any) -> float:
    """``value`` as a float (NaN read as ``inf``: a score or loss that is not a number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (got {name}={value!r})")
    result = float(value)
    return math.inf if math.isnan(result) else result


@dataclass(frozen=True)
class Confirmation:
    """The outcome of a confirmation stage.

    Attributes:
        lr: The chosen LR (for parameter group 0; other groups keep their ratio to it):
            the vertex of the parabola through the scores
            (:func:`~cyclr.rangetest.confirm.fitted_lr`), or the best-scoring candidate;
            between the smallest and the largest candidate.
        anchor: The LR the candidates were spread around.
        candidates: The candidate LRs, increasing.
        scores: Each candidate's :func:`held_out_score` (``inf``: its training loss
            became non-finite, or the held-out loss did).
        steps: Optimizer steps each candidate trained (``k``).
        steps_spent: Optimizer steps trained in all (fewer than ``k * len(candidates)``
            when a candidate stopped early on a non-finite loss).
        held_out_losses: Each candidate's held-out losses after the steps of
            :func:`evaluation_steps` (shorter for a candidate that stopped early), the
            evidence behind its score; empty when not recorded.
        start_loss: The held-out loss of the state every candidate started from, which
            each score's rise counts from; ``None`` when not measured.
        held_out_steps: How many optimizer steps' worth of examples the held-out batches
            hold (their examples over one step's), which sets how much a held-out
            mean varies by chance (:func:`~cyclr.rangetest.scores.held_out_bar`);
            ``None`` when not known (batches without a countable size).
    """

    lr: float
    anchor: float
    candidates: tuple[float, ...]
    scores: tuple[float, ...]
    steps: int
    steps_spent: int
    held_out_losses: tuple[tuple[float, ...], ...] = ()
    start_loss: float | None = None
    held_out_steps: float | None = None

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        check_positive("anchor", self.anchor)
        check_count("steps", self.steps)
        check_int("steps_spent", self.steps_spent, minimum=0)
        candidates = tuple(
            check_positive(f"candidates[{i}]", c) for i, c in enumerate(self.candidates)
        )
        if not candidates or any(b <= a for a, b in itertools.pairwise(candidates)):
            raise ValueError(
                f"candidates must be one or more LRs in increasing order (got candidates="
                f"{list(self.candidates)!r})"
            )
        scores = tuple(_real(f"scores[{i}]", v) for i, v in enumerate(self.scores))
        if len(candidates) != len(scores):
            raise ValueError(
                f"candidates and scores must have the same length (got "
                f"{len(candidates)} and {len(scores)})"
            )
        if not candidates[0] <= self.lr <= candidates[-1]:
            raise ValueError(
                f"lr must lie between the smallest and the largest candidate (got lr="
                f"{self.lr!r}, candidates={list(candidates)!r})"
            )
        runs = tuple(
            tuple(_real(f"held_out_losses[{i}][{j}]", v) for j, v in enumerate(run))
            for i, run in enumerate(self.held_out_losses)
        )
        if runs and len(runs) != len(candidates):
            raise ValueError(
                f"held_out_losses must hold one sequence per candidate (got "
                f"{len(runs)} for {len(candidates)} candidates)"
            )
        marks = evaluation_count(self.steps)
        for i, run in enumerate(runs):
            if len(run) > marks:
                raise ValueError(
                    f"held_out_losses[{i}] must hold at most one loss per evaluation "
                    f"({marks} for steps={self.steps}; got {len(run)})"
                )
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "anchor", float(self.anchor))
        object.__setattr__(self, "candidates", candidates)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "held_out_losses", runs)
        if self.start_loss is not None:
            object.__setattr__(self, "start_loss", _real("start_loss", self.start_loss))
        if self.held_out_steps is not None:
            object.__setattr__(
                self, "held_out_steps", check_positive("held_out_steps", self.held_out_steps)
            )

    @property
    def best(self) -> int | None:
        """Position of the best-scoring candidate (ties: the smaller LR), or ``None``.

        ``None`` when no score is finite.
        """
        finite = [i for i, s in enumerate(self.scores) if math.isfinite(s)]
        return min(finite, key=lambda i: self.scores[i]) if finite else None

    @property
    def chosen_by(self) -> str:
        """How :attr:`lr` was read from the scores.

        ``"fitted"``: the vertex of the parabola through them (:func:`fitted_lr`);
        ``"fitted, at an end"``: the same, clipped to the smallest candidate that stayed
        finite, or to the largest when it also scored lowest;
        ``"lowest score"``: the best-scoring candidate (when the scores give no vertex,
        when that candidate is the smallest, or when the vertex fell at or past the
        largest without it scoring lowest: :func:`~cyclr.rangetest.confirm.read_lr`; and
        in files written before the vertex was read); ``"given"``: neither (a
        confirmation built by hand).
        """
        fitted = fitted_lr(self.candidates, self.scores)
        if fitted is not None and math.isclose(self.lr, fitted, rel_tol=1e-9):
            pairs = zip(self.candidates, self.scores, strict=True)
            finite = [c for c, s in pairs if math.isfinite(s)]
            return "fitted, at an end" if fitted in (finite[0], finite[-1]) else "fitted"
        best = self.best
        if best is not None and self.lr == self.candidates[best]:
            return "lowest score"
        return "given"

    @property
    def steady(self) -> tuple[bool, ...]:
        """Per candidate: whether it stayed finite and its held-out loss never rose.

        Counted from :attr:`start_loss` where it was measured: a candidate whose loss
        jumped above where it started and only fell after that was not steady.
        All ``False`` when :attr:`held_out_losses` was not recorded.

        Example:
            >>> c = Confirmation(0.02, 0.02, (0.01, 0.02), (0.6, 0.5), 40, 80,
            ...                  ((1.0, 0.6), (9.0, 0.5)), start_loss=2.0)
            >>> import dataclasses
            >>> c.steady, dataclasses.replace(c, start_loss=None).steady
            ((True, False), (True, True))
        """
        if not self.held_out_losses:
            return tuple(False for _ in self.candidates)
        return tuple(
            bool(losses) and math.isfinite(score) and largest_rise(losses, self.start_loss) == 0.0
            for score, losses in zip(self.scores, self.held_out_losses, strict=True)
        )

    def horizon(
        self, total_steps: int | None, bar: float | None, untrained: float | None = None
    ) -> Horizon:
        """The run's length read against the held-out losses (:mod:`~cyclr.rangetest.horizon`).

        Args:
            total_steps: Optimizer steps of the whole run at a fixed LR; ``None``: not
                known (the held-out minimum's time is still read).
            bar: The learning bar (:func:`~cyclr.rangetest.confirm_stage.learning_bar`);
                ``None``: none.
            untrained: The untrained model's loss (:func:`untrained_loss` of the
                sweep), for the flow path; ``None``: no path.

        Returns:
            The :class:`~cyclr.rangetest.horizon.Horizon`: the LR whose run reaches the
            held-out minimum at its end, when enough candidates overfit, and the
            largest candidate on the flow path. A candidate
            whose training diverged (score ``inf``) counts for nothing: its rise may be
            the instability's, which the gradient-flow time does not describe.
        """
        losses = self.held_out_losses or [() for _ in self.candidates]
        runs = [run if math.isfinite(s) else () for run, s in zip(losses, self.scores, strict=True)]
        marks = evaluation_steps(self.steps, max((len(run) for run in runs), default=0))
        return run_length_lr(self.candidates, runs, marks, bar, total_steps, untrained)

    def suggestion(self, horizon: Horizon | None = None) -> Suggestion:
        """The chosen LR as a :class:`~cyclr.rangetest.rules.Suggestion`, method ``"confirmed"``.

        The interval runs from the nearest candidate below the chosen LR to the nearest
        above it (the chosen LR itself at an end of the grid): the grid's resolution,
        which is as close as the confirmation can place the best LR. The evidence holds
        the candidates, their scores (``None`` for one that diverged), the
        best-scoring candidate, how the LR was read (:attr:`chosen_by`), the steps each
        trained and the steps spent in all.

        With a ``horizon`` (:meth:`horizon`: the run's length read against the held-out
        losses), the LR is ``min(lr, horizon.lr)``: lowered to the LR whose run reaches
        the held-out minimum at its end when the candidates overfit within the window.
        The evidence adds ``total_steps`` (when known), the candidates'
        ``overfitting_times``, ``held_out_minimum_steps`` (when they overfit: the steps
        after which a run at the suggested LR is past its held-out minimum,
        :meth:`Horizon.minimum_steps <cyclr.rangetest.horizon.Horizon.minimum_steps>`),
        ``run_length_lr`` and ``flow_path_lr`` (when known: the largest candidate still
        on the smaller ones' gradient-flow path,
        :func:`~cyclr.rangetest.horizon.flow_path_end`, reported and not applied); when
        the LR was lowered, ``chosen_by`` says ``"the run's length"`` and the interval
        spans the candidates' estimates.

        Args:
            horizon: The run's length read against the confirmation, or ``None``.

        Example:
            >>> c = Confirmation(0.02, 0.02, (0.01, 0.02, 0.04), (0.6, 0.5, 0.9), 40, 120)
            >>> s = c.suggestion()
            >>> s.method, s.lr, s.interval, s.evidence["chosen_by"]
            ('confirmed', 0.02, (0.01, 0.04), 'lowest score')
        """
        below = [c for c in self.candidates if c < self.lr]
        above = [c for c in self.candidates if c > self.lr]
        lr, low = self.lr, (below[-1] if below else self.lr)
        high = above[0] if above else self.lr
        best = self.best
        best_lr = None if best is None else self.candidates[best]
        evidence: dict[str, Any] = {
            "anchor": self.anchor,
            "candidates": list(self.candidates),
            "scores": [s if math.isfinite(s) else None for s in self.scores],
            "best_candidate": best_lr,
            "chosen_by": self.chosen_by,
            "steps": self.steps,
            "steps_spent": self.steps_spent,
        }
        if horizon is not None:
            if horizon.total_steps is not None:
                evidence["total_steps"] = horizon.total_steps
            evidence["overfitting_times"] = list(horizon.times)
            if horizon.lr is not None:
                evidence["run_length_lr"] = horizon.lr
            if horizon.path_lr is not None:
                evidence["flow_path_lr"] = horizon.path_lr
            if horizon.lr is not None and horizon.total_steps and horizon.lr < self.lr:
                lr = horizon.lr
                low = min(horizon.times) / horizon.total_steps
                high = max(horizon.times) / horizon.total_steps
                evidence["chosen_by"] = "the run's length"
            minimum = horizon.minimum_steps(lr)
            if minimum is not None:
                evidence["held_out_minimum_steps"] = minimum

        return Suggestion(lr, "confirmed", evidence, (low, high))

    def bounds(self) -> tuple[float, float]:
        """``(base_lr, max_lr)`` for a schedule: ``(peak / 4, peak)``.

        ``peak`` is the largest candidate that trained steadily (finite, its held-out
        loss never rising: :attr:`steady`), or :attr:`lr` if that is larger. A cyclical
        schedule spends most of its steps below its peak, so the peak may go past the
        best fixed LR as far as training stayed steady, and no further. ``base_lr`` is
        Smith's rule of thumb, "1/3 or 1/4 of max_lr" (section 3.3),
        :data:`~cyclr.rangetest.bounds.BASE_DIVISOR`. Measured on the benchmark suite
        (``benchmarks/results/schedules_pick_val.md``).

        Example:
            >>> c = Confirmation(0.02, 0.02, (0.01, 0.02, 0.04), (0.6, 0.5, 0.9), 40, 120,
            ...                  ((1.0, 0.6), (1.0, 0.5), (0.4, 0.9)))
            >>> c.steady, c.bounds()
            ((True, True, False), (0.005, 0.02))
        """
        steady = [c for c, ok in zip(self.candidates, self.steady, strict=True) if ok]
        peak = max([self.lr, *steady])
        return peak / BASE_DIVISOR, peak

    def schedule(
        self,
        kind: str,
        steps_per_epoch: int,
        *,
        epochs_per_half_cycle: float | None = None,
        total_steps: int | None = None,
        horizon: Horizon | None = None,
        **overrides: Any,
    ) -> Schedule:
        r"""A schedule between :meth:`bounds`, fitted to the run.

        The same call as :meth:`RangeTestResult.schedule
        <cyclr.rangetest.RangeTestResult.schedule>` (whole cycles of 2 to 10 epochs per
        half cycle when ``total_steps`` is given; one-cycle over ``total_steps``,
        starting at ``base_lr``), with the bounds from the confirmation instead of the
        curve. Measured on the benchmark suite (``benchmarks/results/
        schedules_pick_val.md``). With a ``horizon`` whose ``lr`` is known (the
        candidates overfit), both bounds are scaled down so that the run's
        gradient-flow time :math:`\sum_t lr(t)` is at most the held-out minimum's,
        ``horizon.lr * total_steps``
        (:func:`~cyclr.rangetest.horizon.flow_time_factor`,
        :func:`~cyclr.rangetest.plan.with_scaled_bounds`); not when ``base_lr`` or
        ``max_lr`` is overridden.

        Args:
            kind: ``"triangular"``, ``"triangular2"``, ``"exp_range"`` or ``"onecycle"``.
            steps_per_epoch: Optimizer steps per epoch, a positive integer.
            epochs_per_half_cycle: Epochs from ``base_lr`` to ``max_lr``, in ``[2, 10]``.
            total_steps: Steps of the whole run (required for ``"onecycle"``, and for
                ``horizon``).
            horizon: :meth:`horizon` for ``total_steps``, or ``None``.
            **overrides: Keyword arguments for the schedule, overriding the computed ones.

        Returns:
            The schedule.

        Raises:
            ValueError: For an unknown kind, an out-of-range argument, a missing
                ``total_steps`` for one-cycle, or a ``total_steps`` that fits no whole
                number of cycles, or that differs from the ``horizon``'s.

        Example:
            >>> c = Confirmation(0.02, 0.02, (0.02,), (1.0,), 40, 40)
            >>> s = c.schedule("triangular2", steps_per_epoch=100, total_steps=1600)
            >>> s.base_lr, s.max_lr, s.step_size_up
            (0.005, 0.02, 400)
        """
        schedule = schedule_from_bounds(
            kind,
            self.bounds,
            steps_per_epoch,
            epochs_per_half_cycle=epochs_per_half_cycle,
            total_steps=total_steps,
            overrides=overrides,
        )
        if horizon is None or horizon.lr is None or {"base_lr", "max_lr"} & set(overrides):
            return schedule
        if total_steps is None or total_steps != horizon.total_steps:
            raise ValueError(
                f"horizon must be read for the schedule's total_steps (got total_steps="
                f"{total_steps!r}, horizon.total_steps={horizon.total_steps!r})"
            )
        factor = flow_time_factor(schedule, total_steps, horizon.lr * total_steps)
        return schedule if factor >= 1.0 else with_scaled_bounds(schedule, factor)

    def __str__(self) -> str:
        rows = ", ".join(
            f"{c:.3g}: {s:.4g}" if math.isfinite(s) else f"{c:.3g}: diverged"
            for c, s in zip(self.candidates, self.scores, strict=True)
        )
        how = {
            "fitted": "; the vertex of the parabola through the scores",
            "fitted, at an end": "; the parabola through the scores falls to this end",
        }.get(self.chosen_by, "")
        return (
            f"confirmed lr={self.lr:.3g} (around {self.anchor:.3g}; held-out loss after "
            f"{self.steps} steps plus its largest rise: {rows}{how}; {self.steps_spent} "
            "steps spent)"
        )
