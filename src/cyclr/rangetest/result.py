"""The outcome of a range test: the curve, how it ended, and what it suggests.

:class:`RangeTestResult` is frozen and self-describing: it saves to a versioned JSON
file (:meth:`~RangeTestResult.to_json`, read back exactly by
:meth:`~RangeTestResult.from_json`) or a CSV table (:meth:`~RangeTestResult.to_csv`,
:meth:`~RangeTestResult.from_csv`), plots itself, and turns its curve into a learning
rate (:meth:`~RangeTestResult.suggest`), a CLR range (:meth:`~RangeTestResult.clr_bounds`)
or a ready schedule (:meth:`~RangeTestResult.schedule`). The curve is fitted once and the
reading cached (:attr:`~RangeTestResult.reading`). Writing and reading files:
:class:`~cyclr.rangetest.result_files.ResultFiles`; their formats:
:mod:`cyclr.rangetest.storage`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from .._validate import check_choice, check_int, check_type
from . import storage
from .bounds import BOUND_RULES
from .confirmation import Confirmation
from .fit import MIN_POINTS
from .horizon import Horizon
from .plan import schedule_from_bounds, with_scaled_bounds
from .reading import CurveReading, read_curve
from .result_files import ResultFiles
from .rules import METHODS, Suggestion
from .scores import held_out_bar, untrained_loss

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = ["FORMAT", "SCHEMA_VERSION", "RangeTestResult", "StopReason"]

StopReason = Literal["diverged", "non_finite", "num_steps"]
"""Why a range test stopped."""

FORMAT = storage.FORMAT
SCHEMA_VERSION = storage.SCHEMA_VERSION

FloatArray = npt.NDArray[np.float64]

_CURVES = ("auto", "loss", "metric")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class RangeTestResult(ResultFiles):
    """The curve of one LR range test, frozen: arrays are read-only.

    Args:
        lrs: ``(steps, groups)`` float64: the LR each parameter group used at each
            step (a 1-D array is read as one group). Positive and finite; group 0
            strictly increasing.
        losses: ``(steps,)`` raw losses as recorded; NaN or infinite only where the
            test met a non-finite loss.
        smoothed: ``(steps,)`` the bias-corrected EMA of the losses.
        metrics: ``(steps,)`` metric values (higher is better, e.g. accuracy), NaN
            where not evaluated; ``None`` when no metric was recorded.
        stop_reason: ``"diverged"``, ``"non_finite"``, ``"num_steps"``, or ``None``
            for a test still running when the result was taken.
        settings: JSON-safe settings of the test (``start_lr``, ``end_lr``,
            ``num_steps``, ``sweep``, ``smoothing``, ``diverge_factor``,
            ``group_scales``, and anything the caller added). Tuples are stored as
            lists, so a JSON round trip is exact.
        elapsed_s: Wall-clock seconds of the test, or ``None`` if unknown.
        confirmation: The :class:`~cyclr.rangetest.confirm.Confirmation` of the
            curve's suggestion (``range_test``'s confirmation stage), or ``None`` for a
            curve alone. With one, :meth:`suggest`, :meth:`clr_bounds` and
            :meth:`schedule` answer from it unless told otherwise.

    Raises:
        ValueError: If shapes disagree, an LR is not positive and finite, group 0's
            LRs do not increase, ``stop_reason`` is unknown, ``elapsed_s`` is negative
            or a setting is not JSON-safe.
        TypeError: If a field has the wrong type.

    Example:
        >>> import numpy as np
        >>> lrs = np.logspace(-5, 0, 60)
        >>> losses = 1.0 - np.tanh(np.log10(lrs) + 3.0)
        >>> r = RangeTestResult(lrs, losses, losses, None, "num_steps", {}, 1.5)
        >>> r.lrs.shape, r.stop_reason
        ((60, 1), 'num_steps')
        >>> RangeTestResult.from_json_text(r.to_json()) == r
        True
        >>> f"{r.suggest('steepest').lr:.1e}"
        '1.0e-03'
    """

    lrs: FloatArray
    losses: FloatArray
    smoothed: FloatArray
    metrics: FloatArray | None
    stop_reason: StopReason | None
    settings: dict[str, Any]
    elapsed_s: float | None
    confirmation: Confirmation | None = None

    def __post_init__(self) -> None:
        lrs, losses, smoothed, metrics = storage.curve_arrays(
            self.lrs, self.losses, self.smoothed, self.metrics
        )
        if self.stop_reason is not None and self.stop_reason not in get_args(StopReason):
            allowed = ", ".join(repr(r) for r in get_args(StopReason))
            raise ValueError(
                f"stop_reason must be one of {allowed} or None "
                f"(got stop_reason={self.stop_reason!r})"
            )
        check_type("settings", self.settings, Mapping, "a mapping")
        settings = storage.json_safe("settings", self.settings)
        if settings.get("total_steps") is not None:  # the run's length suggest() fits to
            check_int("settings['total_steps']", settings["total_steps"])
        elapsed = self.elapsed_s
        if elapsed is not None:
            if isinstance(elapsed, bool) or not isinstance(elapsed, numbers.Real):
                raise TypeError(f"elapsed_s must be a number or None (got elapsed_s={elapsed!r})")
            elapsed = float(elapsed)
            if not math.isfinite(elapsed) or elapsed < 0:
                raise ValueError(
                    f"elapsed_s must be finite and non-negative (got elapsed_s={self.elapsed_s!r})"
                )
        if self.confirmation is not None:
            check_type("confirmation", self.confirmation, Confirmation, "a Confirmation or None")
        object.__setattr__(self, "lrs", lrs)
        object.__setattr__(self, "losses", losses)
        object.__setattr__(self, "smoothed", smoothed)
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "settings", settings)
        object.__setattr__(self, "elapsed_s", elapsed)

    # -- basics ----------------------------------------------------------------------

    @property
    def num_recorded(self) -> int:
        """The number of steps in the curve."""
        return int(self.lrs.shape[0])

    def __eq__(self, other: object) -> bool:
        """Equal when every field is equal, NaN matching NaN."""
        if not isinstance(other, RangeTestResult):
            return NotImplemented
        if (other.metrics is None) != (self.metrics is None):
            return False
        pairs = [(self.lrs, other.lrs), (self.losses, other.losses)]
        pairs.append((self.smoothed, other.smoothed))
        if self.metrics is not None and other.metrics is not None:
            pairs.append((self.metrics, other.metrics))
        return (
            all(a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in pairs)
            and self.stop_reason == other.stop_reason
            and self.settings == other.settings
            and self.elapsed_s == other.elapsed_s
            and self.confirmation == other.confirmation
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        span = f"lr {self.lrs[0, 0]:.3g}..{self.lrs[-1, 0]:.3g}, " if self.num_recorded else ""
        metric = ", with metrics" if self.metrics is not None else ""
        confirmed = "" if self.confirmation is None else f", confirmed {self.confirmation.lr:.3g}"
        return (
            f"RangeTestResult({self.num_recorded} steps x {self.lrs.shape[1]} groups, {span}"
            f"stop_reason={self.stop_reason!r}{metric}{confirmed})"
        )

    @property
    def steps_spent(self) -> int:
        """Training steps this result cost: every range test run plus the confirmation."""
        tests = self.settings.get("steps_run_total", self.settings.get("steps_run"))
        spent = int(tests) if isinstance(tests, int) else self.num_recorded
        return spent + (0 if self.confirmation is None else self.confirmation.steps_spent)

    # -- reading the curve -----------------------------------------------------------

    @functools.cached_property
    def reading(self) -> CurveReading:
        """The loss curve read once: its fit, every rule's suggestion or reason, the bounds.

        Computed on first use and kept (the result is frozen). See
        :class:`~cyclr.rangetest.reading.CurveReading`.
        """
        return read_curve(self.lrs[:, 0], self.losses)

    @functools.cached_property
    def metric_reading(self) -> CurveReading | None:
        """The metric curve (higher is better) read once, or ``None`` without metrics."""
        if self.metrics is None:
            return None
        return read_curve(self.lrs[:, 0], self.metrics, higher_is_better=True)

    def suggest(self, method: str | None = None, *, total_steps: int | None = None) -> Suggestion:
        """Suggest one learning rate: the confirmed one, or a reading of the loss curve.

        With a :attr:`confirmation` (``range_test``'s confirmation stage), ``method=None``
        gives the LR the candidates' held-out scores chose
        (:meth:`Confirmation.suggestion
        <cyclr.rangetest.confirm.Confirmation.suggestion>`, method ``"confirmed"``).
        Otherwise, and for a named rule, the curve is read: see
        :mod:`cyclr.rangetest.rules` for each rule. All read the curve on a log10-LR
        axis, up to the first non-finite loss, and compare only quantities relative to
        the curve's own drop or noise, so scaling or shifting the loss never moves a
        suggestion.

        ``total_steps`` (the run's length) fits the confirmed LR to the run: where
        candidates' held-out losses turned up (overfitting), it is lowered so that the
        run reaches the held-out minimum at its end (:mod:`cyclr.rangetest.horizon`).
        Without it the LR is the window's best, and the evidence's
        ``held_out_minimum_steps`` says after how many steps a run at that LR is past
        its held-out minimum (``range_test`` warns when there is one).

        Args:
            method: ``"bottom"``, ``"steepest"``, ``"valley"``, ``"minimum"``,
                ``"consensus"``, ``"confirmed"`` (needs a confirmation), or ``None``:
                ``"confirmed"`` when there is a confirmation, else
                :data:`~cyclr.rangetest.rules.DEFAULT_METHOD`.
            total_steps: Optimizer steps of the whole run at a fixed LR (no early
                stopping). Needs the confirmed LR. ``None``: the ``total_steps`` given
                to ``range_test`` (``settings["total_steps"]``), if any.

        Returns:
            The :class:`~cyclr.rangetest.rules.Suggestion` (LR, method, evidence,
            interval of LRs about as good).

        Raises:
            cyclr.errors.NoReliableSuggestionError: If the curve is too short, never
                falls clearly, is flat or is not finite.
            ValueError: If ``method`` is unknown, ``"confirmed"`` without a
                confirmation, ``total_steps`` is not positive or is given for a curve
                reading.
            TypeError: If ``total_steps`` is not an integer.
        """
        if method == "confirmed" or (method is None and self.confirmation is not None):
            confirmation = self._confirmed("method")
            length = self._run_length() if total_steps is None else total_steps
            return confirmation.suggestion(self._horizon(length))
        if method is not None:
            check_choice("method", method, (*METHODS, "confirmed"))
        if total_steps is not None:
            raise ValueError(
                f"total_steps fits the confirmed LR to the run: it needs a confirmed result "
                f"(range_test's confirmation stage) and method=None (got total_steps="
                f"{total_steps!r}, method={method!r}, confirmed={self.confirmation is not None})"
            )
        return self.reading.suggestion(method)

    def _run_length(self) -> int | None:
        """``range_test(..., total_steps=...)``, kept in the settings (checked), or ``None``."""
        length = self.settings.get("total_steps")
        return None if length is None else int(length)

    def _horizon(self, total_steps: int | None) -> Horizon:
        confirmation = self._confirmed("total_steps")
        untrained = untrained_loss(self.losses)
        bar = held_out_bar(self.losses, confirmation.start_loss, confirmation.held_out_steps)
        return confirmation.horizon(total_steps, bar, untrained)

    def _confirmed(self, parameter: str) -> Confirmation:
        if self.confirmation is None:
            raise ValueError(
                f"{parameter}='confirmed' needs a confirmed result: pass held_out= (validation "
                "batches) to range_test, or call confirm() yourself"
            )
        return self.confirmation

    def suggestions(self) -> dict[str, Suggestion]:
        """Return every curve rule's suggestion; rules with no reliable answer are omitted.

        The confirmed LR is not among them: it is :meth:`suggest`'s default when there is
        a :attr:`confirmation`.

        ``result.reading.reasons`` says why each omitted method has none.
        """
        return self.reading.suggestions

    def bounds_curve(self, curve: str = "auto") -> str:
        """Which curve :meth:`clr_bounds` reads: ``"loss"`` or ``"metric"``.

        ``curve="auto"`` picks the metric when one was recorded at
        :data:`~cyclr.rangetest.fit.MIN_POINTS` or more steps.

        Raises:
            ValueError: If ``curve`` is unknown, or ``"metric"`` without metrics.
        """
        if curve not in _CURVES:
            raise ValueError(f"curve must be one of 'auto', 'loss', 'metric' (got curve={curve!r})")
        if curve == "metric" and self.metrics is None:
            raise ValueError("curve='metric' needs metrics: record_metric() was never called")
        evaluated = 0 if self.metrics is None else int(np.sum(np.isfinite(self.metrics)))
        use_metric = curve == "metric" or (curve == "auto" and evaluated >= MIN_POINTS)
        return "metric" if use_metric else "loss"

    def _bounds_reading(self, curve: str) -> CurveReading:
        metric = self.metric_reading if self.bounds_curve(curve) == "metric" else None
        return self.reading if metric is None else metric

    def clr_bounds(self, curve: str = "auto", rule: str | None = None) -> tuple[float, float]:
        """Return ``(base_lr, max_lr)`` for a cyclical schedule.

        ``rule="confirmed"`` (the default when there is a :attr:`confirmation`):
        :meth:`Confirmation.bounds <cyclr.rangetest.confirm.Confirmation.bounds>`, the
        largest candidate that trained steadily and a quarter of it. ``rule="smith"``
        (the default for a curve alone): where the curve starts to improve for good (the
        loss has fallen 10% of its total drop; an accuracy has risen 10% of its total rise) and
        where it stops improving (90%). ``rule="bottom"``: ``max_lr`` a tenth of the LR
        where the curve is clearly worse than at its significant minimum,
        ``base_lr = max_lr / 4``, for short runs. See :mod:`cyclr.rangetest.bounds`.

        Args:
            curve: ``"loss"``, ``"metric"`` (higher is better), or ``"auto"``: the
                metric when one was recorded at :data:`~cyclr.rangetest.fit.MIN_POINTS`
                or more steps, else the loss. Not read by ``"confirmed"``.
            rule: ``"confirmed"``, ``"smith"``, ``"bottom"``, or ``None``:
                ``"confirmed"`` when there is a confirmation and ``curve="auto"``, else
                ``"smith"`` (a curve named explicitly is read with Smith's rule).

        Returns:
            ``(base_lr, max_lr)`` with ``base_lr < max_lr``.

        Raises:
            cyclr.errors.NoReliableSuggestionError: If the curve never improves clearly
                (``"bottom"``: or is still at its best when the sweep ends).
            ValueError: If ``curve`` or ``rule`` is unknown, ``"metric"`` without
                metrics, or ``"confirmed"`` without a confirmation.
        """
        self.bounds_curve(curve)  # checks curve whichever rule answers
        if rule == "confirmed" or (
            rule is None and self.confirmation is not None and curve == "auto"
        ):
            return self._confirmed("rule").bounds()
        if rule is not None:
            check_choice("rule", rule, (*BOUND_RULES, "confirmed"))
        return self._bounds_reading(curve).clr_bounds("smith" if rule is None else rule)

    def schedule(
        self,
        kind: str,
        steps_per_epoch: int,
        *,
        epochs_per_half_cycle: float | None = None,
        total_steps: int | None = None,
        rule: str | None = None,
        **overrides: Any,
    ) -> Schedule:
        r"""Build a training schedule between :meth:`clr_bounds`, fitted to the run.

        The bounds are :meth:`clr_bounds`'s for ``rule``: by default the confirmation's
        when there is one (``range_test``'s confirmation stage), else Smith's reading of
        the curve; ``rule="smith"`` or ``"bottom"`` reads the curve even then.

        Cyclical kinds: without ``total_steps``, ``step_size_up =
        round(epochs_per_half_cycle * steps_per_epoch)`` (4 epochs by default); with it,
        whole cycles whose half cycle is closest to ``epochs_per_half_cycle`` within
        Smith's 2 to 10 epochs, ending back at ``base_lr`` (a run too short for that
        gets one cycle and a warning); ``exp_range`` decays ``0.99994 ** (2000 /
        step_size_up)`` per step unless ``gamma=`` is given. ``"onecycle"``: ``max_lr``
        the upper bound, ``div_factor = max_lr / base_lr`` (the run starts at the lower
        bound), ``total_steps`` required. See :mod:`cyclr.rangetest.plan`.

        With the confirmation's bounds and ``total_steps``, where the candidates'
        held-out losses turned up (overfitting), both bounds are scaled down so that the
        run's gradient-flow time :math:`\sum_t lr(t)` is at most the held-out minimum's
        (:meth:`Confirmation.schedule <cyclr.rangetest.confirm.Confirmation.schedule>`),
        as :meth:`suggest` does for a fixed LR; not when ``base_lr`` or ``max_lr`` is
        overridden.

        Args:
            kind: ``"triangular"``, ``"triangular2"``, ``"exp_range"`` or ``"onecycle"``.
            steps_per_epoch: Optimizer steps per epoch, a positive integer.
            epochs_per_half_cycle: Epochs from ``base_lr`` to ``max_lr``, in ``[2, 10]``
                (Smith's advice). Not used by ``"onecycle"``.
            total_steps: Steps of the whole run (required for ``"onecycle"``).
            rule: The bounds rule, as in :meth:`clr_bounds` (``None``: the default).
            **overrides: Keyword arguments passed on to the schedule, overriding the
                computed ones (``step_size_up``, ``step_size_down``, ``gamma``,
                ``pct_start``, ``base_lr``, ...).

        Returns:
            The schedule.

        Raises:
            ValueError: For an unknown kind, out-of-range argument, a missing
                ``total_steps``, or a ``total_steps`` that fits no whole number of
                cycles.
            cyclr.errors.NoReliableSuggestionError: If the curve gives no bounds.

        Example:
            >>> import numpy as np
            >>> lrs = np.logspace(-5, 0, 60)
            >>> r = RangeTestResult(lrs, 1 - np.tanh(np.log10(lrs) + 3), lrs * 0, None,
            ...                     "num_steps", {}, None)
            >>> s = r.schedule("triangular", steps_per_epoch=100)
            >>> type(s).__name__, s.step_size_up
            ('Triangular', 400)
            >>> r.schedule("triangular2", steps_per_epoch=100, total_steps=3000).cycle_steps
            750
        """
        confirmed = rule == "confirmed" or (rule is None and self.confirmation is not None)
        if not confirmed:
            return schedule_from_bounds(
                kind,
                lambda: self.clr_bounds(rule=rule),
                steps_per_epoch,
                epochs_per_half_cycle=epochs_per_half_cycle,
                total_steps=total_steps,
                overrides=overrides,
            )
        confirmation = self._confirmed("rule")
        return confirmation.schedule(
            kind,
            steps_per_epoch,
            epochs_per_half_cycle=epochs_per_half_cycle,
            total_steps=total_steps,
            horizon=None if total_steps is None else self._horizon(total_steps),
            **overrides,
        )

    def group_schedules(self, kind: str, steps_per_epoch: int, **arguments: Any) -> list[Schedule]:
        """One schedule per param group, keeping the ratios the test swept them at.

        Group 0's is :meth:`schedule`'s (the same arguments, passed on); group ``g``'s is the same
        schedule with both bounds times ``settings["group_scales"][g]``, that group's LR
        as a multiple of group 0's when the test began
        (:func:`~cyclr.rangetest.plan.with_scaled_bounds`). For
        ``cyclr.torch.Scheduler(optimizer, result.group_schedules(...))``: one schedule
        for every group would give them all group 0's LR. A single schedule when the
        test recorded no scales (one param group, or a framework without groups).

        Example:
            >>> import numpy as np
            >>> lrs = np.logspace(-5, 0, 60)
            >>> r = RangeTestResult(lrs, 1 - np.tanh(np.log10(lrs) + 3), lrs * 0, None,
            ...                     "num_steps", {"group_scales": [1.0, 10.0]}, None)
            >>> a, b = r.group_schedules("onecycle", 100, total_steps=1000)
            >>> round(b.max_lr / a.max_lr, 12), b.div_factor == a.div_factor
            (10.0, True)
        """
        first = self.schedule(kind, steps_per_epoch, **arguments)
        scales = self.settings.get("group_scales") or [1.0]
        return [with_scaled_bounds(first, float(scale)) for scale in scales]

    def plot(self, ax: Any = None) -> Any:
        """Plot the curve with every suggestion and the CLR bounds marked.

        See :func:`cyclr.plot.plot_result`. Needs matplotlib (``pip install
        'cyclr[plot]'``); never calls ``plt.show()``.

        Returns:
            The matplotlib ``Axes``.
        """
        from ..plot import plot_result

        return plot_result(self, ax=ax)
