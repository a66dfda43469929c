"""Reading a range-test curve: one learning rate, or a CLR range, each with its evidence.

Every rule reads the same curve, built in four steps. Nothing in them is compared with
an absolute threshold, only with the curve's own drop, noise or standard errors.

1. **The usable part.** The losses before the first non-finite one (metrics: wherever
   evaluated), on the axis ``x = log10(lr)``. Every rule works in log-LR, never on step
   indices, so exponential and linear sweeps read alike. A curve longer than
   :data:`MAX_POINTS` is read in bins of consecutive steps (mean log-LR, mean loss). A
   curve whose range is below :data:`RESOLUTION` times its magnitude (float32
   resolution) is flat.
2. **The diverged tail is cut.** On a local linear fit (narrowest window) of the *ranks*
   of the losses, the first point after the fit's minimum where it climbs back above its
   highest value before the minimum starts the tail, which is dropped. Ranks do not care
   how far the loss explodes (1e30 weighs as much as 3) and do not change under any
   increasing transformation of the loss.
3. **A zero-lag fit.** The recorded EMA is causal: it lags the losses by up to
   ``b / (1 - b)`` steps. With ``b = 0.98`` and fast.ai's default sweep (1e-7 to 10 in
   100 steps) it moves the steepest point of a typical curve half a decade, and its
   minimum a decade, towards larger LRs. The rules read a centred fit instead: robust
   local linear regression (LOWESS, Cleveland 1979) of the raw losses on ``x`` over the
   ``k`` nearest points, tricube weights, two bisquare passes against spikes. It gives
   ``fit_i`` and ``slope_i = d loss / d log10(lr)``, both linear in the losses
   (``fit_i = sum_j l_ij y_j``), with standard errors
   ``se_i = sqrt(sum_j l_ij^2 v_j)``, where ``v_j = max(sigma^2, r_j^2)``, ``sigma``
   is the :func:`robust_noise` of the losses and ``r_j`` the residual (spikes and misfit
   widen the errors). The window is the smallest ``k = max(MIN_WINDOW, round(f * m))``,
   ``f`` in :data:`SPANS`, ``m`` usable points, at which the steepest fitted slope of
   the fall is resolved, ``-slope_i / se_i >= Z_RESOLVE``; the widest otherwise. Clean
   curves get a narrow window (no blur), noisy ones a wide one (no noise-made slopes).
4. **The fall and the bottom.** Walking the fit from the start, ``i_top`` is the
   highest point before the first *significant fall* (the running minimum
   :data:`Z_DROP` standard errors, ``sqrt(se_a^2 + se_b^2)``, below it), ``i_min`` the
   running minimum after it, up to the *edge*, the first point that lies ``Z_DROP``
   standard errors *above* that minimum (if none does, the first point cut off as
   diverged in step 2 or as non-finite in step 1; none if the sweep ended at the
   bottom); ``drop = fit[i_top] - fit[i_min]``. Past the edge the sweep has pushed the network
   beyond what it tolerates: a batch-normalised network does not blow up but bounces,
   and a later dip of that damaged state can undercut the real minimum, which a global
   argmin would pick. If the curve never falls significantly every rule raises
   :class:`~cyclr.errors.NoReliableSuggestionError` rather than return an arbitrary LR
   (on pure noise this refuses about 99 times in 100).

Scaling the loss by ``a > 0`` scales the fit, its slopes, ``sigma`` and the standard
errors by ``a``; shifting it changes none of them. So no suggestion moves under
``loss -> a * loss + c`` (as long as the loss varies by more than :data:`RESOLUTION`
of its magnitude, i.e. always for a loss that float32 can resolve). Ties, such as the
slopes of a perfectly straight stretch, are broken within ``1e-9`` of the quantity's
range, far above float64 rounding, towards the smaller LR.

The rules (:data:`METHODS`):

* ``"bottom"`` (the default): one tenth of the LR at the centre, in log-LR, of the
  curve's bottom, from ``i_min`` to the edge:
  ``x = (x_min + x_edge) / 2 - 1`` (``x_min - 1`` when the sweep ended at the bottom,
  with a warning in the evidence). Interval: the bottom itself, divided by 10. fast.ai's
  ``minimum`` rule divides by 10 for the same reason: a short sweep gives the network
  too few steps at each LR for the instability to show, so the curve's bottom lies
  about a decade above the LR that trains well for long. The bottom's centre is read
  rather than its argmin because a noisy, flat-bottomed curve puts the argmin anywhere
  on it, seed to seed; its two ends are each set by a significance test.
* ``"steepest"``: the LR of the most negative ``slope_i`` between ``i_top`` and
  ``i_min``, refined by the vertex of a parabola through the neighbouring slopes. This
  is a local regression slope over the window, not a point-to-point difference.
  Interval: the contiguous stretch where the slope is at least half the steepest (full
  width at half maximum).
* ``"valley"``: fast.ai's idea, done as documented. The valley is the longest stretch in
  log-LR of consecutive points that fall significantly, ``slope_i < -Z_SLOPE * se_i``;
  the suggestion is two thirds of the way in, ``x = x_start + 2/3 (x_end - x_start)``.
  (fast.ai documents two thirds but returns the middle of the longest decreasing
  subsequence of its lagging EMA.) Interval: from one half to five sixths of the way.
* ``"minimum"``: one tenth of the LR at ``i_min`` (refined by a parabola), fast.ai's
  original rule. Interval: where the fit is within 5% of the drop of its minimum,
  divided by 10.
* ``"consensus"``: the median, in log-LR, of ``steepest``, ``valley`` and ``minimum``
  (the midpoint of two when one has no answer); interval: from the smallest to the
  largest of them.

:data:`DEFAULT_METHOD` is ``"bottom"``. It is the rule with the lowest median regret in
the benchmark suite (``benchmarks/RESULTS.md``: six real tasks, five seeds, against every
peer finder), and it uses no constant besides the significance level shared by all
rules and fast.ai's factor of 10. ``steepest`` and ``valley`` read the fall, whose
steepest part on these tasks lies at or past the edge of stability (fast.ai's ``steep``
and every peer that reads the steepest gradient diverge on the SGD tasks).

CLR bounds (:func:`clr_bounds`), two rules:

* ``"smith"`` (the default), as Smith reads the curve: ``base_lr`` where the fit has
  fallen :data:`BOUND_FRACTION` (10%) of the drop below ``fit[i_top]`` (the loss starts
  falling), ``max_lr`` where it comes within 10% of the drop of ``fit[i_min]`` (it stops
  falling); both interpolated linearly in log-LR between points, so
  ``base_lr < max_lr``. Wide bounds, for runs of many epochs.
* ``"bottom"``: ``max_lr`` is the upper end of the ``"bottom"`` interval (the edge,
  divided by 10: the largest LR the curve rates as good as its best, with the
  suggestion's margin) and ``base_lr = max_lr / 4``, Smith's rule of thumb ("set
  base_lr to 1/3 or 1/4 of max_lr", section 3.3). Smith reads the bounds off an
  accuracy curve measured over a few epochs; a sweep of a hundred steps over eight
  decades gives the network too few steps at each LR, and its ``"smith"`` upper
  reading can lie beyond what trains in a short run (``benchmarks/RESULTS.md``).

For a higher-is-better metric (accuracy) both read ``-metric``: ``base_lr`` where it
starts rising, ``max_lr`` where it stops.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186 (section 3.3, the LR range test).

    fast.ai, ``Learner.lr_find`` suggestion functions (``valley``, ``steep``,
    ``minimum``), https://docs.fast.ai/callback.schedule.html

    W. S. Cleveland, "Robust Locally Weighted Regression and Smoothing Scatterplots",
    JASA 74 (1979), https://doi.org/10.1080/01621459.1979.10481038
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import NoReliableSuggestionError

__all__ = [
    "BASE_DIVISOR",
    "BOTTOM_DECADES",
    "BOUND_FRACTION",
    "BOUND_RULES",
    "DEFAULT_METHOD",
    "MAX_POINTS",
    "METHODS",
    "MIN_POINTS",
    "MIN_WINDOW",
    "RESOLUTION",
    "SPANS",
    "Z_DROP",
    "Z_RESOLVE",
    "Z_SLOPE",
    "CurveFit",
    "Suggestion",
    "clr_bounds",
    "fit_curve",
    "robust_noise",
    "suggest",
    "suggestions",
]

FloatArray = npt.NDArray[np.float64]

METHODS = ("bottom", "steepest", "valley", "minimum", "consensus")
"""The suggestion rules."""

DEFAULT_METHOD = "bottom"
"""The rule used when no method is named."""

BOTTOM_DECADES = 1.0
"""``bottom`` and :func:`clr_bounds`: decades below the curve's bottom (a factor of 10)."""

BASE_DIVISOR = 4.0
""":func:`clr_bounds` ``rule="bottom"``: ``base_lr = max_lr / 4`` (Smith's "1/3 or 1/4")."""

BOUND_FRACTION = 0.1
""":func:`clr_bounds` ``rule="smith"``: fraction of the drop at which the curve starts /
stops falling."""

MIN_POINTS = 5
"""Fewest usable (finite) points a curve needs for any suggestion."""

MAX_POINTS = 1000
"""Longer curves are read in bins of consecutive steps (their mean log-LR and loss)."""

MIN_WINDOW = 5
"""Fewest points in each local regression."""

SPANS = (0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4)
"""Candidate fractions of the usable points in each local regression window."""

Z_DROP = 5.0
"""Standard errors by which the fit must fall for the curve to count as falling."""

Z_SLOPE = 2.0
"""Standard errors below zero a slope must be for a point to count as falling (valley)."""

Z_RESOLVE = 6.0
"""Standard errors the steepest fitted slope must reach for a window to be wide enough."""

RESOLUTION = 1e-6
"""Relative resolution of a loss value: changes below ``RESOLUTION * |loss|`` are noise.

Losses are usually computed in float32 (relative resolution 6e-8); a curve that only
moves by a few float32 steps carries no evidence.
"""

_TIE = 1e-9
_ROBUST_PASSES = 2


_MAD_TO_SIGMA = 1.482602218505602
"""``1 / Phi^-1(3/4)``: turns a median absolute deviation into a normal sigma."""


def robust_noise(values: Sequence[float] | np.ndarray) -> float:
    r"""Estimate the noise sigma of a sequence around its local trend.

    Uses second differences ``d_k = v[k+1] - 2 v[k] + v[k-1]`` (a straight trend cancels
    out; white noise of sigma ``s`` gives ``d`` a sigma of ``sqrt(6) * s``) and their
    median absolute deviation (spikes do not count):

    .. math:: noise = 1.4826 \cdot \operatorname{median}|d - \operatorname{median}(d)|
        / \sqrt{6}

    Scaling the values by ``a > 0`` scales the result by ``a``; shifting them changes
    nothing.

    Args:
        values: The sequence, finite, at least 3 values.

    Returns:
        The noise estimate, ``>= 0``; ``0.0`` for fewer than 3 values.

    Example:
        >>> robust_noise([1.0, 2.0, 3.0, 4.0, 5.0])
        0.0
        >>> rng = np.random.default_rng(0)
        >>> round(robust_noise(rng.normal(0.0, 2.0, 20_000)), 1)
        2.0
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size < 3:
        return 0.0
    second = np.diff(array, n=2)
    deviation = np.abs(second - np.median(second))
    return float(_MAD_TO_SIGMA * np.median(deviation) / math.sqrt(6.0))


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """A suggested learning rate, the rule that gave it, and the evidence behind it.

    Attributes:
        lr: The suggested learning rate (of parameter group 0).
        method: The rule, one of :data:`METHODS`.
        evidence: What the rule used: indices and LRs of the points it read, the
            regression window, the slope or drop it found (JSON-safe values).
        interval: ``(low, high)`` LRs about as good by the same rule; contains ``lr``.

    Example:
        >>> s = Suggestion(0.01, "steepest", {"index": 40}, (0.005, 0.02))
        >>> s.interval[0] <= s.lr <= s.interval[1]
        True
    """

    lr: float
    method: str
    evidence: Mapping[str, Any]
    interval: tuple[float, float]

    def __str__(self) -> str:
        low, high = self.interval
        return f"{self.method}: lr={self.lr:.3g} (about as good: {low:.3g} to {high:.3g})"


@dataclasses.dataclass(frozen=True)
class CurveFit:
    """The zero-lag fit the rules read (see the module docstring).

    Attributes:
        indices: Steps of the result the usable points come from.
        x: ``log10(lr)`` of the usable points, increasing.
        y: The usable values, oriented so that lower is better.
        fit: The robust local linear fit at each point.
        slope: ``d fit / d log10(lr)`` at each point.
        se_fit: Standard error of ``fit``.
        se_slope: Standard error of ``slope``.
        noise: Robust noise sigma of ``y``.
        window: Points in each local regression.
        i_top: Index (into ``x``) of the highest fit before the minimum.
        i_min: Index of the curve's first significant minimum (step 4 of the module
            docstring).
        x_edge: ``log10(lr)`` where the curve has clearly left its bottom: the first
            point after ``i_min`` whose fit is :data:`Z_DROP` standard errors above
            ``fit[i_min]``; else the first step cut off as the diverged tail or as a
            non-finite loss; NaN when the sweep ended at the bottom.
    """

    indices: npt.NDArray[np.intp]
    x: FloatArray
    y: FloatArray
    fit: FloatArray
    slope: FloatArray
    se_fit: FloatArray
    se_slope: FloatArray
    noise: float
    window: int
    i_top: int
    i_min: int
    x_edge: float

    @property
    def drop(self) -> float:
        """``fit[i_top] - fit[i_min]``, the curve's fall."""
        return float(self.fit[self.i_top] - self.fit[self.i_min])

    @property
    def drop_z(self) -> float:
        """The drop in standard errors, ``drop / sqrt(se_fit[i_top]^2 + se_fit[i_min]^2)``."""
        se = math.hypot(self.se_fit[self.i_top], self.se_fit[self.i_min])
        if self.drop <= 0:
            return 0.0
        return math.inf if se == 0 else self.drop / se

    def lr(self, x: float) -> float:
        """The LR at log-LR position ``x``."""
        return float(10.0**x)


def _first_within(values: FloatArray, target: float, spread: float) -> int:
    """Index of the first value within ``_TIE * spread`` of ``target`` (ties -> smaller LR)."""
    return int(np.flatnonzero(values <= target + _TIE * spread)[0])


def _local_linear(
    x: FloatArray, y: FloatArray, k: int, robust: FloatArray, noise: float | None = None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Local linear fit at every ``x``: fitted values, slopes, and (given the noise) SEs."""
    n = x.size
    lo = np.zeros(n, dtype=np.intp)
    start = 0
    for i in range(n):
        while start + k < n and x[i] - x[start] > x[start + k] - x[i]:
            start += 1
        lo[i] = start
    idx = lo[:, None] + np.arange(k)[None, :]
    dx = x[idx] - x[:, None]
    dist = np.abs(dx)
    reach = dist.max(axis=1, keepdims=True)
    reach = np.where(reach > 0, reach, 1.0)
    kernel = np.clip(1.0 - (dist / reach) ** 3, 0.0, None) ** 3
    out = []
    for weights in (kernel * robust[idx], kernel):
        s0 = weights.sum(axis=1, keepdims=True)
        s1 = (weights * dx).sum(axis=1, keepdims=True)
        s2 = (weights * dx * dx).sum(axis=1, keepdims=True)
        det = s0 * s2 - s1 * s1
        ok = det > 1e-12 * np.maximum(s0 * s2, np.finfo(np.float64).tiny)
        safe = np.where(ok, det, 1.0)
        l_fit = weights * (s2 - dx * s1) / safe
        l_slope = weights * (s0 * dx - s1) / safe
        out.append((ok[:, 0], l_fit, l_slope))
    (ok_r, fit_r, slope_r), (_, fit_p, slope_p) = out
    l_fit = np.where(ok_r[:, None], fit_r, fit_p)
    l_slope = np.where(ok_r[:, None], slope_r, slope_p)
    values = y[idx]
    fit = (l_fit * values).sum(axis=1)
    slope = (l_slope * values).sum(axis=1)
    if noise is None:
        return fit, slope, fit * 0.0, slope * 0.0
    # Each point's variance: the noise, or its squared residual where larger (spikes,
    # heavier tails, misfit), so standard errors are not optimistic.
    variance = np.maximum(noise**2, (y - fit) ** 2)[idx]
    return (
        fit,
        slope,
        np.sqrt((l_fit**2 * variance).sum(axis=1)),
        np.sqrt((l_slope**2 * variance).sum(axis=1)),
    )


def _robust_fit(
    x: FloatArray, y: FloatArray, k: int, spread: float, noise: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Local linear fit with bisquare robustness passes (Cleveland 1979)."""
    robust = np.ones(x.size)
    for _ in range(_ROBUST_PASSES):
        fit, _, _, _ = _local_linear(x, y, k, robust)
        residual = y - fit
        scale = float(np.median(np.abs(residual)))
        if scale <= RESOLUTION * spread:
            break
        u = residual / (6.0 * scale)
        robust = np.where(np.abs(u) < 1.0, (1.0 - u**2) ** 2, 0.0)
    return _local_linear(x, y, k, robust, noise)


def _bin(
    indices: npt.NDArray[np.intp], x: FloatArray, y: FloatArray
) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray]:
    """Average runs of consecutive points so that at most ``MAX_POINTS`` remain.

    Each bin keeps the mean log-LR, the mean value (a linear map, so scaling or
    shifting the loss commutes with it) and the step in its middle.
    """
    size = -(-x.size // MAX_POINTS)
    starts = np.arange(0, x.size, size)
    counts = np.diff(np.append(starts, x.size))
    weights = 1.0 / np.repeat(counts, counts)
    mean_x = np.add.reduceat(x * weights, starts)
    mean_y = np.add.reduceat(y * weights, starts)
    return indices[starts + counts // 2], mean_x, mean_y


def _windows(m: int) -> list[int]:
    return sorted({min(m, max(MIN_WINDOW, round(f * m))) for f in SPANS})


def _tail_start(x: FloatArray, y: FloatArray) -> int:
    """Index where the diverged tail starts: after the minimum, back above the start.

    Read on a plain local fit, with the narrowest window, of the ranks of ``y``: ranks
    do not care how far a loss explodes (1e30 weighs as much as 3), and they do not
    change when the loss is scaled or shifted.
    """
    m = x.size
    ranks = np.unique(y, return_inverse=True)[1].astype(np.float64).reshape(m)
    prelim = _local_linear(x, ranks, _windows(m)[0], np.ones(m))[0]
    spread = float(np.ptp(prelim))
    i_top, i_min = _extremes(prelim)
    above = np.flatnonzero(prelim[i_min:] > prelim[i_top] + _TIE * spread)
    return int(i_min + above[0]) if above.size else m


def _top_before(fit: FloatArray, i: int, spread: float) -> int:
    """Index of the first maximum of ``fit[: i + 1]`` (ties within ``_TIE * spread``)."""
    head = fit[: i + 1]
    return int(np.flatnonzero(head >= head.max() - _TIE * spread)[0])


def _extremes(fit: FloatArray) -> tuple[int, int]:
    """``(i_top, i_min)``: the first minimum, and the first maximum before it."""
    fit_spread = float(np.ptp(fit))
    i_min = _first_within(fit, float(fit.min()), fit_spread)
    return _top_before(fit, i_min, fit_spread), i_min


def _first_bottom(fit: FloatArray, se: FloatArray) -> tuple[int, int, int | None]:
    """``(i_top, i_min, i_edge)``: the first significant fall, its minimum and its end.

    Walks the fit from the start. Until the running minimum lies :data:`Z_DROP` standard
    errors below the highest fit before it, a new high restarts the search (a curve may
    rise a little before it falls). After that the running minimum is kept until a
    point lies ``Z_DROP`` standard errors above it: that point is ``i_edge`` and the
    running minimum ``i_min``; ``i_edge`` is ``None`` if no point does. Without such a
    fall, ``i_min`` is the first global minimum (the curve is then refused by the drop
    test). Only differences of fitted values against their standard errors are
    compared.
    """
    spread = float(np.ptp(fit))
    top = best = 0
    fell = False
    for j in range(1, fit.size):
        z = Z_DROP * math.hypot(se[j], se[best])
        if fell and fit[j] - fit[best] > max(z, _TIE * spread):
            return _top_before(fit, best, spread), best, j
        if not fell and fit[j] > fit[top] + _TIE * spread:
            top = best = j
        elif fit[j] < fit[best] - _TIE * spread:
            best = j
        if not fell:
            z_fall = Z_DROP * math.hypot(se[top], se[best])
            fell = fit[top] - fit[best] > max(z_fall, _TIE * spread)
    if fell:
        return _top_before(fit, best, spread), best, None
    i_top, i_min = _extremes(fit)
    return i_top, i_min, None


def fit_curve(
    lrs: npt.ArrayLike, values: npt.ArrayLike, *, higher_is_better: bool = False
) -> CurveFit:
    """Build the zero-lag fit of a range-test curve that every rule reads.

    Args:
        lrs: Group-0 LRs of each step, positive and increasing.
        values: Losses (or metrics) of each step. Losses are used up to the first
            non-finite one; metrics (``higher_is_better=True``) wherever they are finite
            (NaN marks a step where the metric was not evaluated).
        higher_is_better: Read ``values`` as a metric such as accuracy.

    Returns:
        The :class:`CurveFit`.

    Raises:
        cyclr.errors.NoReliableSuggestionError: Fewer than :data:`MIN_POINTS` usable
            points, a flat curve, or one that never falls (rises) by :data:`Z_DROP`
            standard errors.
        ValueError: If ``lrs`` and ``values`` differ in length.

    Example:
        >>> lrs = np.logspace(-6, 0, 61)
        >>> f = fit_curve(lrs, 2.0 - np.tanh(np.log10(lrs) + 3.0))
        >>> round(f.drop, 2), f.window
        (1.99, 5)
    """
    lr = np.asarray(lrs, dtype=np.float64)
    raw = np.asarray(values, dtype=np.float64)
    what = "metric" if higher_is_better else "loss"
    if lr.ndim != 1 or raw.shape != lr.shape:
        raise ValueError(
            f"lrs and values must be 1-D of the same length (got {lr.shape} and {raw.shape})"
        )
    finite = np.isfinite(raw)
    if higher_is_better:
        indices = np.flatnonzero(finite)
    else:
        bad = np.flatnonzero(~finite)
        indices = np.arange(bad[0] if bad.size else raw.size)
    m = indices.size
    if m < MIN_POINTS:
        raise NoReliableSuggestionError(
            f"the {what} curve has {m} usable (finite) points; at least {MIN_POINTS} are "
            "needed: run the range test for more steps or from a smaller start_lr"
        )
    x = np.log10(lr[indices])
    y = -raw[indices] if higher_is_better else raw[indices]
    if m > MAX_POINTS:
        indices, x, y = _bin(indices, x, y)
    if float(np.ptp(y)) <= RESOLUTION * float(np.max(np.abs(y))):
        raise NoReliableSuggestionError(f"the {what} curve is flat: no LR changes it")
    end = _tail_start(x, y)
    if end < MIN_POINTS:
        raise NoReliableSuggestionError(
            f"the {what} curve is worse than at its first step from step {end} on: it "
            "never improves; start the range test at a smaller start_lr"
        )
    # Where the usable curve was cut: the diverged tail, or else the first non-finite loss.
    if end < x.size:
        x_cut = float(x[end])
    elif not higher_is_better and indices[-1] + 1 < raw.size:
        x_cut = float(np.log10(lr[indices[-1] + 1]))
    else:
        x_cut = math.nan
    indices, x, y = indices[:end], x[:end], y[:end]
    m = indices.size
    spread = float(np.ptp(y))
    resolution = RESOLUTION * float(np.max(np.abs(y)))
    if spread <= resolution:
        raise NoReliableSuggestionError(f"the {what} curve is flat: no LR changes it")
    noise = max(robust_noise(y), resolution)
    windows = _windows(m)
    for k in windows:
        fit, slope, se_fit, se_slope = _robust_fit(x, y, k, spread, noise)
        i_top, i_min, i_edge = _first_bottom(fit, se_fit)
        fall = slope[i_top : i_min + 1] / se_slope[i_top : i_min + 1]
        if fall.size and -float(fall.min()) >= Z_RESOLVE:
            break
    curve = CurveFit(
        indices=indices,
        x=x,
        y=y,
        fit=fit,
        slope=slope,
        se_fit=se_fit,
        se_slope=se_slope,
        noise=noise,
        window=k,
        i_top=i_top,
        i_min=i_min,
        x_edge=x_cut if i_edge is None else float(x[i_edge]),
    )
    verb = "rises" if higher_is_better else "falls"
    if curve.drop_z < Z_DROP:
        raise NoReliableSuggestionError(
            f"the {what} curve never {verb} clearly: its largest change before its best "
            f"point is {curve.drop_z:.1f} standard errors, {Z_DROP:g} are needed "
            "(too noisy, too short, or the LR range misses the region where it "
            f"{verb[:-1]}s)"
        )
    return curve


def _parabola_vertex(x: FloatArray, v: FloatArray, i: int, spread: float) -> float:
    """Refine an extremum at ``i`` by the vertex of the parabola through its neighbours."""
    if i == 0 or i == x.size - 1:
        return float(x[i])
    x0, x1, x2 = x[i - 1], x[i], x[i + 1]
    v0, v1, v2 = v[i - 1], v[i], v[i + 1]
    d0, d2 = (v0 - v1) / (x0 - x1), (v2 - v1) / (x2 - x1)
    curvature = (d2 - d0) / (x2 - x0)
    if not curvature > _TIE * spread / max(x2 - x0, 1e-300) ** 2:
        return float(x1)
    # v(t) = v1 + a (t - x1) + curvature (t - x1)^2 with a from the two secants.
    a = d0 + curvature * (x1 - x0)
    vertex = x1 - a / (2.0 * curvature)
    return float(np.clip(vertex, x0, x2))


def _span(curve: CurveFit, mask: npt.NDArray[np.bool_], i: int) -> tuple[int, int]:
    """The contiguous run of ``mask`` around index ``i`` (``mask[i]`` assumed true)."""
    lo, hi = i, i
    while lo > 0 and mask[lo - 1]:
        lo -= 1
    while hi < mask.size - 1 and mask[hi + 1]:
        hi += 1
    return lo, hi


def _lr_pair(curve: CurveFit, lo: float, hi: float) -> tuple[float, float]:
    return (curve.lr(lo), curve.lr(hi))


def _base_evidence(curve: CurveFit) -> dict[str, Any]:
    return {
        "points": int(curve.x.size),
        "window_points": curve.window,
        "fall_lrs": _lr_pair(curve, curve.x[curve.i_top], curve.x[curve.i_min]),
        "fall_indices": (int(curve.indices[curve.i_top]), int(curve.indices[curve.i_min])),
        "drop_z": curve.drop_z,
    }


def _steepest(curve: CurveFit) -> Suggestion:
    lo, hi = curve.i_top, curve.i_min
    region = curve.slope[lo : hi + 1]
    spread = float(np.max(np.abs(curve.slope)))
    best = lo + _first_within(region, float(region.min()), spread)
    steepest = float(curve.slope[best])
    if not steepest < 0:
        raise NoReliableSuggestionError("the fitted loss has no falling slope before its minimum")
    x = _parabola_vertex(curve.x, curve.slope, best, spread)
    mask = curve.slope <= 0.5 * steepest
    a, b = _span(curve, mask, best)
    half = curve.window // 2
    w_lo, w_hi = max(0, best - half), min(curve.x.size - 1, best + half)
    evidence = {
        **_base_evidence(curve),
        "index": int(curve.indices[best]),
        "slope_per_decade": steepest,
        "slope_se": float(curve.se_slope[best]),
        "window_lrs": _lr_pair(curve, curve.x[w_lo], curve.x[w_hi]),
    }
    interval = _lr_pair(curve, min(curve.x[a], x), max(curve.x[b], x))
    return Suggestion(curve.lr(x), "steepest", evidence, interval)


def _valley(curve: CurveFit) -> Suggestion:
    tolerance = _TIE * float(np.max(np.abs(curve.slope)))
    falling = curve.slope < -np.maximum(Z_SLOPE * curve.se_slope, tolerance)
    best: tuple[float, int, int] | None = None
    i = 0
    n = falling.size
    while i < n:
        if not falling[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and falling[j + 1]:
            j += 1
        length = float(curve.x[j] - curve.x[i])
        if best is None or length > best[0] * (1 + _TIE):
            best = (length, i, j)
        i = j + 1
    if best is None or best[0] <= 0:
        raise NoReliableSuggestionError(
            "the loss curve has no stretch that falls significantly "
            f"(slope below -{Z_SLOPE:g} standard errors over two or more points)"
        )
    length, start, end = best
    x0 = float(curve.x[start])
    x = x0 + 2.0 / 3.0 * length
    evidence = {
        **_base_evidence(curve),
        "valley_lrs": _lr_pair(curve, x0, float(curve.x[end])),
        "valley_indices": (int(curve.indices[start]), int(curve.indices[end])),
        "valley_points": end - start + 1,
        "position": 2.0 / 3.0,
    }
    interval = _lr_pair(curve, x0 + 0.5 * length, x0 + 5.0 / 6.0 * length)
    return Suggestion(curve.lr(x), "valley", evidence, interval)


def _minimum(curve: CurveFit) -> Suggestion:
    i = curve.i_min
    spread = float(np.ptp(curve.fit))
    x = _parabola_vertex(curve.x, curve.fit, i, spread)
    near = curve.fit <= curve.fit[i] + 0.05 * curve.drop
    a, b = _span(curve, near, i)
    evidence = {
        **_base_evidence(curve),
        "index": int(curve.indices[i]),
        "minimum_lr": curve.lr(x),
        "divisor": 10.0,
    }
    interval = _lr_pair(curve, min(curve.x[a], x) - 1.0, max(curve.x[b], x) - 1.0)
    return Suggestion(curve.lr(x - 1.0), "minimum", evidence, interval)


def _bottom(curve: CurveFit) -> Suggestion:
    lo = float(curve.x[curve.i_min])
    hi = lo if math.isnan(curve.x_edge) else curve.x_edge
    x = 0.5 * (lo + hi) - BOTTOM_DECADES
    evidence = {
        **_base_evidence(curve),
        "bottom_lrs": _lr_pair(curve, lo, hi),
        "divisor": 10.0**BOTTOM_DECADES,
    }
    if math.isnan(curve.x_edge):
        evidence["warning"] = (
            "the sweep ended at the bottom of the curve; raise end_lr to see where it turns"
        )
    interval = _lr_pair(curve, lo - BOTTOM_DECADES, hi - BOTTOM_DECADES)
    return Suggestion(curve.lr(x), "bottom", evidence, interval)


_RULES = {"bottom": _bottom, "steepest": _steepest, "valley": _valley, "minimum": _minimum}
_CONSENSUS_RULES = ("steepest", "valley", "minimum")


def _consensus(curve: CurveFit) -> Suggestion:
    parts: dict[str, Suggestion] = {}
    failed: dict[str, str] = {}
    for name in _CONSENSUS_RULES:
        try:
            parts[name] = _RULES[name](curve)
        except NoReliableSuggestionError as exc:
            failed[name] = str(exc)
    if len(parts) < 2:
        raise NoReliableSuggestionError(
            "consensus needs at least two rules with an answer; "
            + "; ".join(f"{name}: {why}" for name, why in failed.items())
        )
    logs = sorted(math.log10(s.lr) for s in parts.values())
    middle = logs[1] if len(logs) == 3 else 0.5 * (logs[0] + logs[1])
    evidence = {
        **_base_evidence(curve),
        "lrs": {name: s.lr for name, s in parts.items()},
        "failed": failed,
    }
    return Suggestion(10.0**middle, "consensus", evidence, (10.0 ** logs[0], 10.0 ** logs[-1]))


def _check_method(method: str | None) -> str:
    name = DEFAULT_METHOD if method is None else method
    if name not in METHODS:
        listed = ", ".join(repr(m) for m in METHODS)
        raise ValueError(f"method must be one of {listed} or None (got method={method!r})")
    return name


def suggest(lrs: npt.ArrayLike, losses: npt.ArrayLike, method: str | None = None) -> Suggestion:
    """Suggest a learning rate from a range-test loss curve (rules in the module docstring).

    Args:
        lrs: Group-0 LRs of each step, positive and increasing.
        losses: Raw losses of each step (a non-finite loss ends the usable curve).
        method: One of :data:`METHODS`, or ``None`` for :data:`DEFAULT_METHOD`.

    Returns:
        The :class:`Suggestion`.

    Raises:
        cyclr.errors.NoReliableSuggestionError: If the curve carries no evidence.
        ValueError: If ``method`` is unknown or the arrays disagree in length.

    Example:
        >>> lrs = np.logspace(-6, 0, 61)
        >>> losses = 2.0 - np.tanh(np.log10(lrs) + 3.0)   # falls fastest at 1e-3
        >>> f"{suggest(lrs, losses, 'steepest').lr:.2g}"
        '0.001'
    """
    name = _check_method(method)
    curve = fit_curve(lrs, losses)
    if name == "consensus":
        return _consensus(curve)
    return _RULES[name](curve)


def suggestions(lrs: npt.ArrayLike, losses: npt.ArrayLike) -> dict[str, Suggestion]:
    """Return the suggestion of every method in :data:`METHODS` that has one.

    A method with no reliable answer is left out (``suggest`` with that method raises
    and says why); an empty dict means the curve carries no evidence at all.

    Example:
        >>> lrs = np.logspace(-6, 0, 61)
        >>> sorted(suggestions(lrs, 2.0 - np.tanh(np.log10(lrs) + 3.0)))
        ['bottom', 'consensus', 'minimum', 'steepest', 'valley']
    """
    try:
        curve = fit_curve(lrs, losses)
    except NoReliableSuggestionError:
        return {}
    out: dict[str, Suggestion] = {}
    for name in METHODS:
        try:
            out[name] = _consensus(curve) if name == "consensus" else _RULES[name](curve)
        except NoReliableSuggestionError:
            continue
    return out


def _crossing(curve: CurveFit, level: float) -> float:
    """First log-LR after ``i_top`` where the fit comes down to ``level``, interpolated."""
    fit, x = curve.fit, curve.x
    for j in range(curve.i_top, curve.i_min + 1):
        if fit[j] <= level:
            if j == curve.i_top:
                return float(x[j])
            f0, f1 = fit[j - 1], fit[j]
            t = (f0 - level) / (f0 - f1)
            return float(x[j - 1] + t * (x[j] - x[j - 1]))
    return float(x[curve.i_min])


def _smith_bounds(curve: CurveFit) -> tuple[float, float]:
    top = float(curve.fit[curve.i_top])
    base = _crossing(curve, top - BOUND_FRACTION * curve.drop)
    peak = _crossing(curve, top - (1.0 - BOUND_FRACTION) * curve.drop)
    if not base < peak:
        raise NoReliableSuggestionError(
            "the curve falls in a single step: base_lr and max_lr cannot be told apart; "
            "run the range test with more steps"
        )
    return curve.lr(base), curve.lr(peak)


def _bottom_bounds(curve: CurveFit) -> tuple[float, float]:
    if math.isnan(curve.x_edge):
        raise NoReliableSuggestionError(
            "the curve is still at its best at the end of the sweep: nothing tells how far "
            "up max_lr may go; raise end_lr"
        )
    peak = curve.lr(curve.x_edge - BOTTOM_DECADES)
    return peak / BASE_DIVISOR, peak


BOUND_RULES = ("smith", "bottom")
"""The rules of :func:`clr_bounds`."""


def clr_bounds(
    lrs: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    higher_is_better: bool = False,
    rule: str = "smith",
) -> tuple[float, float]:
    """Return ``(base_lr, max_lr)`` for a cyclical schedule (rules in the module docstring).

    Args:
        lrs: Group-0 LRs of each step, positive and increasing.
        values: Losses, or with ``higher_is_better=True`` a metric such as accuracy
            (NaN where it was not evaluated).
        higher_is_better: Read ``values`` as a metric to maximise.
        rule: ``"smith"`` (where the curve starts and stops improving) or ``"bottom"``
            (``max_lr`` a tenth of the edge of the curve's bottom, ``base_lr = max_lr /
            4``: for short runs, where Smith's upper bound is too high to train).

    Returns:
        ``(base_lr, max_lr)``, ``base_lr < max_lr``.

    Raises:
        cyclr.errors.NoReliableSuggestionError: If the curve never improves clearly
            (``"bottom"``: or is still at its best at the end of the sweep).
        ValueError: If ``rule`` is unknown.

    Example:
        >>> lrs = np.logspace(-6, 0, 61)
        >>> base, peak = clr_bounds(lrs, 2.0 - np.tanh(np.log10(lrs) + 3.0))
        >>> f"{base:.1e} {peak:.1e}"
        '8.1e-05 1.2e-02'
        >>> base, peak = clr_bounds(lrs, np.abs(np.log10(lrs) + 2.0), rule="bottom")
        >>> f"{base:.1e} {peak:.1e}"
        '4.0e-04 1.6e-03'
    """
    if rule not in BOUND_RULES:
        listed = ", ".join(repr(r) for r in BOUND_RULES)
        raise ValueError(f"rule must be one of {listed} (got rule={rule!r})")
    curve = fit_curve(lrs, values, higher_is_better=higher_is_better)
    return _smith_bounds(curve) if rule == "smith" else _bottom_bounds(curve)
