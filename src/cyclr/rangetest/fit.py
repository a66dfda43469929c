"""The zero-lag fit of a range-test curve that every suggestion rule reads.

:func:`fit_curve` takes the usable part of the curve (losses before the first
non-finite one, on ``x = log10(lr)``), cuts the diverged tail (on the ranks of the
losses), and fits a robust local linear regression (LOWESS, Cleveland 1979) whose
window is the narrowest that resolves the fall. It returns a :class:`CurveFit`: the
fit, its slopes, their standard errors, and the curve's first significant fall and its
bottom, past any spike the loss came back from lower (``i_top``, ``i_min``, ``x_edge``).
Nothing is compared with an absolute threshold, only with the curve's own noise and
standard errors, so the fit is equivariant under ``loss -> a * loss + c``. The method in
full: ``docs/method.md``.

References:
    W. S. Cleveland, "Robust Locally Weighted Regression and Smoothing Scatterplots",
    JASA 74 (1979), https://doi.org/10.1080/01621459.1979.10481038

    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186 (section 3.3, the LR range test).

    A. Lewkowycz, Y. Bahri, E. Dyer, J. Sohl-Dickstein, G. Gur-Ari, "The large
    learning rate phase of deep learning: the catapult mechanism", 2020,
    https://arxiv.org/abs/2003.02218 (the loss that jumps and then falls lower).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..errors import NoReliableSuggestionError

__all__ = [
    "MAX_POINTS",
    "MIN_POINTS",
    "MIN_WINDOW",
    "RESOLUTION",
    "SPANS",
    "Z_DROP",
    "Z_RESOLVE",
    "CurveFit",
    "fit_curve",
    "robust_noise",
]

FloatArray = npt.NDArray[np.float64]

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
        i_top: Index (into ``x``) of the highest fit before the first significant fall.
        i_min: Index of the bottom of the curve's significant fall (step 4 of
            ``docs/method.md``): the first minimum, or a later one the curve fell to,
            significantly lower, after a transient spike.
        x_edge: ``log10(lr)`` where the curve has clearly left its bottom: the first
            point after ``i_min`` whose fit is :data:`Z_DROP` standard errors above
            ``fit[i_min]`` (and that the curve did not come back from, below it);
            else the first step cut off as the diverged tail or as a non-finite loss;
            NaN when the sweep ended at the bottom.
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


_CEILING = 2.0**500
"""In the unit of :func:`_unit`, values beyond this (a finite 1e200 where the loss
exploded) are read as this: their squares and weighted sums would overflow float64, and
a loss ``2**500`` times the curve's typical one has exploded however far it went."""


def _unit(y: FloatArray) -> float:
    """The power of two the values are read in: 1, or the one nearest their median size.

    1 unless the median magnitude lies beyond ``2**±500`` (the whole curve in huge or
    tiny units). Dividing and multiplying by a power of two is exact in floating point,
    and every reading compares the curve only with its own drop and noise, so the answer
    is the same in any such unit.
    """
    typical = float(np.median(np.abs(y)))
    if not typical or 1.0 / _CEILING <= typical <= _CEILING:
        return 1.0
    return math.ldexp(1.0, math.frexp(typical)[1])


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


def _fall_and_bottom(fit: FloatArray, se: FloatArray) -> tuple[int, int, int | None]:
    """``(i_top, i_min, i_edge)``: the first significant fall, its bottom and its end.

    Walks the fit from the start. Until the running minimum lies :data:`Z_DROP` standard
    errors below the highest fit before it, a new high restarts the search (a curve may
    rise a little before it falls). After that the running minimum is kept until a
    point lies ``Z_DROP`` standard errors above it: that point is the edge candidate and
    the running minimum the bottom. If a later point lies ``Z_DROP`` standard errors
    *below* that bottom, the rise was a transient spike the training came back from
    (the catapult of a large LR: the loss jumps, then falls lower than before), and the
    walk goes on from that point as the new running minimum. ``i_edge`` is the edge of
    the last bottom, ``None`` if no point rose past it. Without a significant fall,
    ``i_min`` is the first global minimum (the curve is then refused by the drop test).
    ``i_top`` is the highest fit before the first fall. Only differences of fitted
    values against their standard errors are compared.
    """
    spread = float(np.ptp(fit))
    top = best = 0
    fell = False
    edge: int | None = None
    i_top: int | None = None
    for j in range(1, fit.size):
        z = Z_DROP * math.hypot(se[j], se[best])
        if edge is not None:
            if fit[best] - fit[j] > max(z, _TIE * spread):
                best, edge = j, None
            continue
        if fell and fit[j] - fit[best] > max(z, _TIE * spread):
            i_top = _top_before(fit, best, spread) if i_top is None else i_top
            edge = j
            continue
        if not fell and fit[j] > fit[top] + _TIE * spread:
            top = best = j
        elif fit[j] < fit[best] - _TIE * spread:
            best = j
        if not fell:
            z_fall = Z_DROP * math.hypot(se[top], se[best])
            fell = fit[top] - fit[best] > max(z_fall, _TIE * spread)
    if fell:
        return _top_before(fit, best, spread) if i_top is None else i_top, best, edge
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
    unit = _unit(y)
    y = np.clip(y / unit, -_CEILING, _CEILING)
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
        i_top, i_min, i_edge = _fall_and_bottom(fit, se_fit)
        fall = slope[i_top : i_min + 1] / se_slope[i_top : i_min + 1]
        if fall.size and -float(fall.min()) >= Z_RESOLVE:
            break
    curve = CurveFit(
        indices=indices,
        x=x,
        y=y * unit,
        fit=fit * unit,
        slope=slope * unit,
        se_fit=se_fit * unit,
        se_slope=se_slope * unit,
        noise=noise * unit,
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
