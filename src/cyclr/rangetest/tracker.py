r"""The range test as a state machine: LRs out, losses in, a stop decision after each step.

:class:`RangeTest` knows nothing of models or frameworks: any training loop (PyTorch,
Keras, JAX, a loop over precomputed losses) asks it for the LR of the next step, runs
the step, and hands back the loss. It smooths the losses, decides when to stop, and
builds a :class:`~cyclr.rangetest.result.RangeTestResult`.

Smoothing (bias-corrected exponential moving average, ``b = smoothing``, ``n`` the
number of losses recorded so far, ``avg_0 = 0``):

.. math::

    avg_n = b \cdot avg_{n-1} + (1 - b) \cdot loss_n, \qquad
    smoothed_n = avg_n / (1 - b^n)

Stopping rule, checked after every recorded loss ``n`` (1-based):

1. ``loss_n`` is NaN or infinite: stop at once, ``stop_reason = "non_finite"``.
2. ``n >= W`` (:data:`DIVERGE_WARMUP_STEPS`) and the smoothed loss diverged:
   ``stop_reason = "diverged"``. With ``f = diverge_factor``, ``best`` the lowest
   smoothed loss among steps ``W .. n``, ``ref`` the highest smoothed loss among steps
   ``1 .. j`` where ``j`` is the step that reached ``best``, and ``noise`` the robust
   noise of the raw losses so far, the test has diverged when

   .. math::

       smoothed_n - best > (f - 1) \cdot \max(ref - best,\; noise,\;
       \epsilon \max(|smoothed_n|, |best|))

   .. math::

       noise = 1.4826 \cdot \operatorname{median}_k |d_k - \operatorname{median}(d)|
       / \sqrt{6}, \qquad d_k = loss_{k+1} - 2\,loss_k + loss_{k-1}

   with ``epsilon = RESOLUTION = 1e-6`` (:data:`cyclr.rangetest.suggest.RESOLUTION`).
3. ``n == num_steps``: stop, ``stop_reason = "num_steps"``.

Why this rule. The classic one, ``smoothed > f * best``, measures the rise against the
best loss's distance from zero: it stops at once for losses near zero, never or always
for negative losses, and depends on where zero is. Here the rise is measured against the
drop the curve has made (``ref - best``), or, while it has not fallen yet, against its
own noise. Both are differences of losses, so scaling the loss by ``a > 0`` or shifting
it never moves the stopping step. The ``epsilon`` term is the resolution of a float32
loss: it only matters for a curve that is flat to 6 digits, where no rise can mean
anything. A flat noisy plateau, however long, never stops the test: its smoothed loss
wanders far less than the raw noise. The noise uses second differences, so the steady
fall itself does not inflate it, and a median, so spikes do not either. The first ``W``
smoothed values average only a handful of losses, so they neither count as ``best`` nor
trigger a stop.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186

    fast.ai, ``LRFinder`` (``Learner.lr_find``): exponential sweep, smoothing with
    ``beta = 0.98`` and bias correction, stop at 4 x the best loss,
    https://docs.fast.ai/callback.schedule.html
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .._validate import check_choice, check_finite, check_positive
from .fit import RESOLUTION, robust_noise
from .result import RangeTestResult, StopReason
from .sweep import SWEEPS, Sweep

__all__ = ["DIVERGE_WARMUP_STEPS", "RangeTest"]

DIVERGE_WARMUP_STEPS = 10
"""Steps recorded before divergence is first checked (NaN/inf stop at any step)."""


def _as_loss(value: Any, name: str) -> float:
    """Convert one loss (a real number or a one-element array) to a float, NaN allowed."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (got {name}={value!r})")
    return float(value)


class RangeTest:
    """An LR range test any training loop can drive: LRs out, losses in.

    Iterating yields the LR of each step ``i = 0 .. num_steps - 1`` (the LR of
    parameter group 0); after running the step at that LR, hand its loss to
    :meth:`record`. Iteration stops as soon as the test is finished (diverged, a
    non-finite loss, or all steps done). The LR recorded for a step is exactly the LR
    the iterator handed out for it: iteration refuses to move on unless :meth:`record`
    was called exactly once for the step.

    Loops that compute several steps at once (a compiled scan, a device-side buffer)
    take the LRs from :meth:`lr_at` / :meth:`lrs_at` and hand the losses to
    :meth:`record_many`.

    See the module docstring for the smoothing formula and the exact divergence rule.

    Args:
        start_lr: The LR of step 0, positive and finite.
        end_lr: The LR of the last step, above ``start_lr``.
        num_steps: Steps in the sweep, an integer ``>= 2`` (fewer cannot span a
            range; the suggestion rules need at least
            :data:`~cyclr.rangetest.suggest.MIN_POINTS` finite losses and raise
            :class:`~cyclr.errors.NoReliableSuggestionError` otherwise). 100 is
            fast.ai's default; noisy losses or a long flat start want more.
        sweep: ``"exp"`` (equal ratio per step) or ``"linear"``.
        smoothing: The EMA factor ``b`` in ``[0, 1)``; 0 disables smoothing.
        diverge_factor: ``f > 1`` of the divergence rule: stop once the smoothed loss
            has risen above its best by ``f - 1`` times the drop made before it.
        group_scales: Each parameter group's LR as a multiple of group 0's, so group
            ``g`` runs at ``lr_at(i) * group_scales[g]``. Positive and finite;
            ``group_scales[0]`` must be 1.

    Raises:
        ValueError: For any argument outside its range (message names the argument).
        TypeError: For an argument of the wrong type.

    Example:
        >>> import math
        >>> rt = RangeTest(start_lr=1e-6, end_lr=1.0, num_steps=60)
        >>> for lr in rt:                      # your training step at this LR goes here
        ...     loss = 2.0 - math.tanh(math.log10(lr) + 3.0) if lr < 0.1 else math.nan
        ...     stop = rt.record(loss)
        >>> rt.stop_reason, rt.num_recorded
        ('non_finite', 51)
        >>> result = rt.result()
        >>> result.lrs.shape
        (51, 1)
        >>> f"{result.suggest('steepest').lr:.1e}"   # the loss falls fastest at 1e-3
        '1.0e-03'

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        https://arxiv.org/abs/1506.01186
    """

    def __init__(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_steps: int = 100,
        *,
        sweep: str = "exp",
        smoothing: float = 0.98,
        diverge_factor: float = 4.0,
        group_scales: Sequence[float] = (1.0,),
    ) -> None:
        check_choice("sweep", sweep, SWEEPS)
        self._sweep = Sweep(start_lr, end_lr, num_steps, sweep)
        beta = check_finite("smoothing", smoothing)
        if not 0 <= beta < 1:
            raise ValueError(f"smoothing must be in [0, 1) (got smoothing={smoothing!r})")
        factor = check_finite("diverge_factor", diverge_factor)
        if factor <= 1:
            raise ValueError(
                f"diverge_factor must be greater than 1 (got diverge_factor={diverge_factor!r})"
            )
        self._smoothing = beta
        self._diverge_factor = factor
        self._group_scales = _check_group_scales(group_scales)
        self._lrs = self._sweep.lrs()
        self._losses: list[float] = []
        self._smoothed: list[float] = []
        self._metrics: dict[int, float] = {}
        self._avg = 0.0
        self._best = math.inf
        self._peak = -math.inf
        self._ref = -math.inf
        self._stop_reason: StopReason | None = None
        self._started: float | None = None
        self._ended: float | None = None

    # -- read-only state -------------------------------------------------------------

    @property
    def sweep(self) -> Sweep:
        """The LR sweep (start, end, number of steps, kind)."""
        return self._sweep

    @property
    def num_steps(self) -> int:
        """Steps in the full sweep."""
        return self._sweep.num_steps

    @property
    def group_scales(self) -> tuple[float, ...]:
        """Each parameter group's LR as a multiple of group 0's."""
        return self._group_scales

    @property
    def num_recorded(self) -> int:
        """Losses recorded so far; the next step to run is ``num_recorded``."""
        return len(self._losses)

    @property
    def finished(self) -> bool:
        """Whether the test has stopped (see :attr:`stop_reason`)."""
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> StopReason | None:
        """``"diverged"``, ``"non_finite"``, ``"num_steps"``, or ``None`` while running."""
        return self._stop_reason

    @property
    def smoothed_loss(self) -> float | None:
        """The latest smoothed loss, or ``None`` before the first :meth:`record`."""
        return self._smoothed[-1] if self._smoothed else None

    @property
    def settings(self) -> dict[str, Any]:
        """The test's settings, as stored in :attr:`RangeTestResult.settings`."""
        return {
            "start_lr": self._sweep.start_lr,
            "end_lr": self._sweep.end_lr,
            "num_steps": self._sweep.num_steps,
            "sweep": self._sweep.kind,
            "smoothing": self._smoothing,
            "diverge_factor": self._diverge_factor,
            "group_scales": list(self._group_scales),
        }

    # -- LRs out ---------------------------------------------------------------------

    def lr_at(self, step: int) -> float:
        """Return the LR of ``step`` for parameter group 0, exactly as iteration yields it.

        Raises:
            TypeError: If ``step`` is not an integer.
            ValueError: If ``step`` is outside ``[0, num_steps - 1]``.
        """
        self._sweep.lr_at(step)  # validates
        return float(self._lrs[int(step)])

    def lrs_at(self, step: int) -> tuple[float, ...]:
        """Return every parameter group's LR at ``step``: ``lr_at(step) * group_scales[g]``."""
        lr = self.lr_at(step)
        return tuple(lr * scale for scale in self._group_scales)

    def __iter__(self) -> Iterator[float]:
        """Yield the LR of each remaining step until the test is finished.

        Raises:
            RuntimeError: If the loop asks for the next LR without having called
                :meth:`record` exactly once for the previous step.
        """
        while not self.finished:
            step = self.num_recorded
            self._start_clock()
            yield float(self._lrs[step])
            done = self.num_recorded - step
            if done != 1:
                raise RuntimeError(
                    f"record() must be called exactly once per step: step {step} got "
                    f"{done} losses, so the next loss could not be matched to its LR"
                )

    # -- losses in -------------------------------------------------------------------

    def record(self, loss: float) -> bool:
        """Record the loss of step :attr:`num_recorded` and decide whether to stop.

        Args:
            loss: The training loss produced by the step that used ``lr_at(step)``. A
                NaN or infinite loss is recorded as it is and stops the test.

        Returns:
            ``True`` if the test is now finished (stop), else ``False``.

        Raises:
            RuntimeError: If the test has already finished.
            TypeError: If ``loss`` is not a real number.
        """
        if self.finished:
            raise RuntimeError(
                f"the range test has finished (stop_reason={self._stop_reason!r} after "
                f"{self.num_recorded} steps); no more losses can be recorded"
            )
        value = _as_loss(loss, "loss")
        self._start_clock()
        self._losses.append(value)
        n = len(self._losses)
        if not math.isfinite(value):
            self._smoothed.append(math.nan)
            return self._finish("non_finite")
        beta = self._smoothing
        self._avg = beta * self._avg + (1.0 - beta) * value
        smoothed = self._avg / (1.0 - beta**n)
        self._smoothed.append(smoothed)
        self._peak = max(self._peak, smoothed)
        if n >= DIVERGE_WARMUP_STEPS:
            if smoothed < self._best:
                self._best = smoothed
                self._ref = self._peak
            if self._diverged(smoothed):
                return self._finish("diverged")
        if n == self.num_steps:
            return self._finish("num_steps")
        return False

    def record_many(self, losses: Iterable[float]) -> bool:
        """Record several consecutive steps' losses, in order.

        Recording stops at the first loss that finishes the test; the losses after it
        are ignored (they belong to steps past the stop). An empty ``losses`` records
        nothing.

        Args:
            losses: Losses of steps ``num_recorded``, ``num_recorded + 1``, ...

        Returns:
            ``True`` if the test is finished.

        Raises:
            RuntimeError: If the test had already finished and ``losses`` is not empty.
            TypeError: If a loss is not a real number.
        """
        for loss in losses:
            if self.record(loss):
                break
        return self.finished

    def record_metric(self, value: float) -> None:
        """Attach a metric (for example validation accuracy) to the last recorded step.

        Metrics are read as higher-is-better (accuracy) by
        :meth:`RangeTestResult.clr_bounds`; record ``-value`` for a lower-is-better
        metric.

        Args:
            value: A finite real number.

        Raises:
            RuntimeError: If no loss was recorded yet, or this step already has a metric.
            ValueError: If ``value`` is not finite.
            TypeError: If ``value`` is not a real number.
        """
        metric = check_finite("value", _as_loss(value, "value"))
        if not self._losses:
            raise RuntimeError("record_metric() needs a recorded step: call record() first")
        step = len(self._losses) - 1
        if step in self._metrics:
            raise RuntimeError(f"step {step} already has a metric ({self._metrics[step]!r})")
        self._metrics[step] = metric

    def result(
        self, elapsed_s: float | None = None, settings: Mapping[str, Any] | None = None
    ) -> RangeTestResult:
        """Return the curve so far as a :class:`RangeTestResult`.

        It can be called while the test is running (``stop_reason`` is then ``None``).

        Args:
            elapsed_s: Wall-clock seconds of the test; by default the time from the
                first LR handed out (or first loss) to the last recorded loss.
            settings: Extra JSON-safe settings to store (model, batch size, ...); they
                may not contradict the test's own (:attr:`settings`).

        Returns:
            The result.

        Raises:
            ValueError: If ``elapsed_s`` is negative or not finite, or ``settings``
                contradicts the test's own settings or is not JSON-safe.
        """
        merged = self.settings
        for key, value in (settings or {}).items():
            if key in merged and merged[key] != value:
                raise ValueError(
                    f"settings[{key!r}] contradicts the range test's own value "
                    f"(got {value!r}, the test used {merged[key]!r})"
                )
            merged[key] = value
        if elapsed_s is None:
            if self._started is None:
                elapsed_s = 0.0
            else:
                end = self._ended if self._ended is not None else time.perf_counter()
                elapsed_s = end - self._started
        n = self.num_recorded
        lrs = self._lrs[:n, None] * np.asarray(self._group_scales, dtype=np.float64)[None, :]
        metrics = None
        if self._metrics:
            metrics = np.full(n, np.nan)
            for step, value in self._metrics.items():
                metrics[step] = value
        return RangeTestResult(
            lrs=lrs,
            losses=np.array(self._losses, dtype=np.float64),
            smoothed=np.array(self._smoothed, dtype=np.float64),
            metrics=metrics,
            stop_reason=self._stop_reason,
            settings=merged,
            elapsed_s=elapsed_s,
        )

    # -- internals -------------------------------------------------------------------

    def _start_clock(self) -> None:
        if self._started is None:
            self._started = time.perf_counter()

    def _finish(self, reason: StopReason) -> bool:
        self._stop_reason = reason
        self._ended = time.perf_counter()
        return True

    def _diverged(self, smoothed: float) -> bool:
        """The divergence rule of the module docstring (noise computed only if needed)."""
        rise = smoothed - self._best
        allowed = self._diverge_factor - 1.0
        guard = RESOLUTION * max(abs(smoothed), abs(self._best))
        floor = max(self._ref - self._best, guard)
        if rise <= allowed * floor:
            return False
        return rise > allowed * max(floor, robust_noise(self._losses))

    def __repr__(self) -> str:
        s = self._sweep
        return (
            f"RangeTest(start_lr={s.start_lr!r}, end_lr={s.end_lr!r}, num_steps={s.num_steps}, "
            f"sweep={s.kind!r}, smoothing={self._smoothing!r}, "
            f"diverge_factor={self._diverge_factor!r}, group_scales={self._group_scales!r}; "
            f"recorded={self.num_recorded}, stop_reason={self._stop_reason!r})"
        )


def _check_group_scales(group_scales: Any) -> tuple[float, ...]:
    if isinstance(group_scales, (str, bytes)) or not isinstance(
        group_scales, (Sequence, np.ndarray)
    ):
        raise TypeError(
            f"group_scales must be a sequence of numbers (got group_scales={group_scales!r})"
        )
    if len(group_scales) == 0:
        raise ValueError(f"group_scales must not be empty (got group_scales={group_scales!r})")
    scales = tuple(
        check_positive(f"group_scales[{g}]", value) for g, value in enumerate(group_scales)
    )
    if scales[0] != 1.0:
        raise ValueError(
            "group_scales[0] must be 1.0: the sweep's LR is group 0's LR and the other "
            f"groups are multiples of it (got group_scales={tuple(group_scales)!r})"
        )
    return scales
