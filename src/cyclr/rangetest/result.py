"""The outcome of a range test: the curve, how it ended, and what it suggests.

:class:`RangeTestResult` is frozen and self-describing: it saves to a versioned JSON
file (:meth:`~RangeTestResult.to_json`, read back exactly by
:meth:`~RangeTestResult.from_json`) or a CSV table, plots itself, and turns its curve
into a learning rate (:meth:`~RangeTestResult.suggest`), a CLR range
(:meth:`~RangeTestResult.clr_bounds`) or a ready schedule
(:meth:`~RangeTestResult.schedule`).

JSON schema (version 1), one object::

    {"format": "cyclr.RangeTestResult", "version": 1,
     "stop_reason": "diverged" | "non_finite" | "num_steps" | null,
     "elapsed_s": float | null, "settings": {...}, "groups": int,
     "lrs": [[lr of each group], ...], "losses": [...], "smoothed": [...],
     "metrics": [...] | null}

Floats are written with Python's shortest round-trip repr, so reading a file back
gives the same float64 values bit for bit. JSON has no NaN or infinity: NaN is written
as ``null`` and infinities as the strings ``"inf"`` and ``"-inf"``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from .suggest import Suggestion, clr_bounds, suggest, suggestions

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = ["FORMAT", "SCHEMA_VERSION", "RangeTestResult", "StopReason"]

StopReason = Literal["diverged", "non_finite", "num_steps"]
"""Why a range test stopped."""

FORMAT = "cyclr.RangeTestResult"
"""The ``"format"`` tag of the JSON file."""

SCHEMA_VERSION = 1
"""The JSON schema version this cyclr writes and reads."""

FloatArray = npt.NDArray[np.float64]

_KEYS = (
    "format",
    "version",
    "stop_reason",
    "elapsed_s",
    "settings",
    "groups",
    "lrs",
    "losses",
    "smoothed",
    "metrics",
)
_SCHEDULE_KINDS = ("triangular", "triangular2", "exp_range", "onecycle")
_DEFAULT_EPOCHS_PER_HALF_CYCLE = 4


def _float_array(name: str, value: Any, ndim: int | None) -> FloatArray:
    """A read-only float64 copy of ``value``, checked to have ``ndim`` dimensions."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers (got {name}={value!r})") from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional (got shape {array.shape})")
    array.setflags(write=False)
    return array


def _json_safe(name: str, value: Any) -> Any:
    """Return a JSON-native copy of ``value`` (tuples become lists) or raise."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        result = float(value)
        if not math.isfinite(result):
            raise ValueError(f"{name} must be finite (got {name}={value!r})")
        return result
    if isinstance(value, (list, tuple)):
        return [_json_safe(f"{name}[{i}]", item) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{name} keys must be strings (got key {key!r})")
            out[key] = _json_safe(f"{name}[{key!r}]", item)
        return out
    raise TypeError(
        f"{name} must be JSON-safe (None, bool, int, float, str, list, dict) (got {name}={value!r})"
    )


def _encode(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode_list(name: str, items: Any) -> list[float]:
    if not isinstance(items, list):
        raise ValueError(f"field {name!r} must be a list (got {type(items).__name__})")
    out: list[float] = []
    for i, item in enumerate(items):
        if item is None:
            out.append(math.nan)
        elif item in ("inf", "-inf"):
            out.append(math.inf if item == "inf" else -math.inf)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(float(item))
        else:
            raise ValueError(
                f"field {name!r}[{i}] must be a number, null, 'inf' or '-inf' (got {item!r})"
            )
    return out


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class RangeTestResult:
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
        >>> RangeTestResult.from_json(r.to_json()) == r
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

    def __post_init__(self) -> None:
        lrs = _float_array("lrs", self.lrs, None)
        if lrs.ndim == 1:
            lrs = lrs.reshape(-1, 1)
            lrs.setflags(write=False)
        if lrs.ndim != 2:
            raise ValueError(f"lrs must be (steps, groups) or (steps,) (got shape {lrs.shape})")
        n, groups = lrs.shape
        if groups < 1:
            raise ValueError(f"lrs must have at least one parameter group (got shape {lrs.shape})")
        if not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
            raise ValueError("lrs must be positive and finite everywhere")
        if n > 1 and not np.all(np.diff(lrs[:, 0]) > 0):
            raise ValueError("lrs of group 0 must increase strictly from step to step")
        losses = _float_array("losses", self.losses, 1)
        smoothed = _float_array("smoothed", self.smoothed, 1)
        for name, array in (("losses", losses), ("smoothed", smoothed)):
            if array.shape[0] != n:
                raise ValueError(
                    f"{name} must have one value per step (got {array.shape[0]} values for "
                    f"{n} steps)"
                )
        metrics = None
        if self.metrics is not None:
            metrics = _float_array("metrics", self.metrics, 1)
            if metrics.shape[0] != n:
                raise ValueError(
                    f"metrics must have one value per step, NaN where not evaluated "
                    f"(got {metrics.shape[0]} values for {n} steps)"
                )
            if np.any(np.isinf(metrics)):
                raise ValueError("metrics must be finite, or NaN where not evaluated")
        if self.stop_reason is not None and self.stop_reason not in get_args(StopReason):
            allowed = ", ".join(repr(r) for r in get_args(StopReason))
            raise ValueError(
                f"stop_reason must be one of {allowed} or None "
                f"(got stop_reason={self.stop_reason!r})"
            )
        if not isinstance(self.settings, Mapping):
            raise TypeError(f"settings must be a mapping (got settings={self.settings!r})")
        settings = _json_safe("settings", self.settings)
        elapsed = self.elapsed_s
        if elapsed is not None:
            if isinstance(elapsed, bool) or not isinstance(elapsed, numbers.Real):
                raise TypeError(f"elapsed_s must be a number or None (got elapsed_s={elapsed!r})")
            elapsed = float(elapsed)
            if not math.isfinite(elapsed) or elapsed < 0:
                raise ValueError(
                    f"elapsed_s must be finite and non-negative (got elapsed_s={self.elapsed_s!r})"
                )
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
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        span = f"lr {self.lrs[0, 0]:.3g}..{self.lrs[-1, 0]:.3g}, " if self.num_recorded else ""
        metric = ", with metrics" if self.metrics is not None else ""
        return (
            f"RangeTestResult({self.num_recorded} steps x {self.lrs.shape[1]} groups, {span}"
            f"stop_reason={self.stop_reason!r}{metric})"
        )

    # -- reading the curve -----------------------------------------------------------

    def suggest(self, method: str | None = None) -> Suggestion:
        """Suggest one learning rate from the loss curve.

        See :mod:`cyclr.rangetest.suggest` for each rule. All read the curve on a
        log10-LR axis, up to the first non-finite loss, and compare only quantities
        relative to the curve's own drop or noise, so scaling or shifting the loss never
        moves a suggestion.

        Args:
            method: ``"bottom"``, ``"steepest"``, ``"valley"``, ``"minimum"``, ``"consensus"``, or
                ``None`` for :data:`~cyclr.rangetest.suggest.DEFAULT_METHOD`.

        Returns:
            The :class:`~cyclr.rangetest.suggest.Suggestion` (LR, method, evidence,
            interval of LRs about as good).

        Raises:
            cyclr.errors.NoReliableSuggestionError: If the curve is too short, never
                falls clearly, is flat or is not finite.
            ValueError: If ``method`` is unknown.
        """
        return suggest(self.lrs[:, 0], self.losses, method)

    def suggestions(self) -> dict[str, Suggestion]:
        """Return every method's suggestion; methods with no reliable answer are omitted.

        Call :meth:`suggest` with that method to see why it has none.
        """
        return suggestions(self.lrs[:, 0], self.losses)

    def clr_bounds(self, curve: str = "auto", rule: str = "smith") -> tuple[float, float]:
        """Return ``(base_lr, max_lr)`` for a cyclical schedule.

        ``rule="smith"``: where the curve starts to improve (the loss has fallen 10% of
        its total drop; an accuracy has risen 10% of its total rise) and where it stops
        improving (90%). ``rule="bottom"``: ``max_lr`` a tenth of the LR where the curve
        is clearly worse than at its first significant minimum, ``base_lr = max_lr /
        4``, for short runs. See :func:`cyclr.rangetest.suggest.clr_bounds`.

        Args:
            curve: ``"loss"``, ``"metric"`` (higher is better), or ``"auto"``: the
                metric when one was recorded at :data:`~cyclr.rangetest.suggest.MIN_POINTS`
                or more steps, else the loss.
            rule: ``"smith"`` or ``"bottom"``.

        Returns:
            ``(base_lr, max_lr)`` with ``base_lr < max_lr``.

        Raises:
            cyclr.errors.NoReliableSuggestionError: If the curve never improves clearly
                (``"bottom"``: or is still at its best when the sweep ends).
            ValueError: If ``curve`` or ``rule`` is unknown, or ``"metric"`` without
                metrics.
        """
        from .suggest import MIN_POINTS

        if curve not in ("auto", "loss", "metric"):
            raise ValueError(f"curve must be one of 'auto', 'loss', 'metric' (got curve={curve!r})")
        evaluated = 0 if self.metrics is None else int(np.sum(np.isfinite(self.metrics)))
        if curve == "metric" and self.metrics is None:
            raise ValueError("curve='metric' needs metrics: record_metric() was never called")
        use_metric = curve == "metric" or (curve == "auto" and evaluated >= MIN_POINTS)
        if use_metric and self.metrics is not None:
            return clr_bounds(self.lrs[:, 0], self.metrics, higher_is_better=True, rule=rule)
        return clr_bounds(self.lrs[:, 0], self.losses, rule=rule)

    def schedule(
        self,
        kind: str,
        steps_per_epoch: int,
        *,
        epochs_per_half_cycle: float | None = None,
        total_steps: int | None = None,
        **overrides: Any,
    ) -> Schedule:
        """Build a training schedule from :meth:`clr_bounds`.

        * ``"triangular"``, ``"triangular2"``, ``"exp_range"``: ``base_lr`` and ``max_lr``
          from the bounds, ``step_size_up = round(epochs_per_half_cycle *
          steps_per_epoch)``. ``exp_range`` needs ``gamma=`` in ``overrides``. If
          ``total_steps`` is given it must be a whole number of cycles (Smith: stop at
          the end of a cycle, when the LR is back at ``base_lr``).
        * ``"onecycle"``: ``max_lr`` is the upper bound and ``div_factor =
          max_lr / base_lr``, so the run starts at the lower bound (also when ``max_lr``
          is overridden); ``total_steps`` is required.

        Args:
            kind: ``"triangular"``, ``"triangular2"``, ``"exp_range"`` or ``"onecycle"``.
            steps_per_epoch: Optimizer steps per epoch, a positive integer.
            epochs_per_half_cycle: Epochs from ``base_lr`` to ``max_lr``, in ``[2, 10]``
                (Smith's advice); 4 when ``None``. Not used by ``"onecycle"``.
            total_steps: Steps of the whole run (required for ``"onecycle"``).
            **overrides: Keyword arguments passed on to the schedule, overriding the
                computed ones (``step_size_down``, ``gamma``, ``pct_start``,
                ``base_lr``, ...).

        Returns:
            The schedule.

        Raises:
            ValueError: For an unknown kind, out-of-range argument, a missing
                ``total_steps`` or ``gamma``, or a ``total_steps`` that cuts a cycle.
            cyclr.errors.NoReliableSuggestionError: If the curve gives no bounds.

        Example:
            >>> import numpy as np
            >>> lrs = np.logspace(-5, 0, 60)
            >>> r = RangeTestResult(lrs, 1 - np.tanh(np.log10(lrs) + 3), lrs * 0, None,
            ...                     "num_steps", {}, None)
            >>> s = r.schedule("triangular", steps_per_epoch=100)
            >>> type(s).__name__, s.step_size_up
            ('Triangular', 400)
        """
        from .._validate import check_choice, check_int
        from ..schedules import ExpRange, OneCycle, Triangular, Triangular2

        check_choice("kind", kind, _SCHEDULE_KINDS)
        spe = check_int("steps_per_epoch", steps_per_epoch)
        if kind == "onecycle":
            if epochs_per_half_cycle is not None:
                raise ValueError(
                    "epochs_per_half_cycle is not used by kind='onecycle': its length is "
                    f"total_steps (got epochs_per_half_cycle={epochs_per_half_cycle!r})"
                )
            if total_steps is None:
                raise ValueError("kind='onecycle' needs total_steps (steps of the whole run)")
            total = check_int("total_steps", total_steps)
            params: dict[str, Any] = {"total_steps": total, **overrides}
            if "max_lr" not in overrides or "div_factor" not in overrides:
                base, peak = self.clr_bounds()
                params.setdefault("max_lr", peak)
                params.setdefault("div_factor", params["max_lr"] / base)
            return OneCycle(**params)
        epochs: float = _DEFAULT_EPOCHS_PER_HALF_CYCLE
        if epochs_per_half_cycle is not None:
            from .._validate import check_finite

            epochs = check_finite("epochs_per_half_cycle", epochs_per_half_cycle)
            if not 2 <= epochs <= 10:
                raise ValueError(
                    "epochs_per_half_cycle must be in [2, 10], Smith's advice "
                    f"(got epochs_per_half_cycle={epochs_per_half_cycle!r})"
                )
        step_size_up = max(1, round(epochs * spe))
        params = {"step_size_up": step_size_up}
        if "base_lr" not in overrides or "max_lr" not in overrides:
            base, peak = self.clr_bounds()
            params.update(base_lr=base, max_lr=peak)
        if kind == "exp_range" and "gamma" not in overrides:
            raise ValueError(
                "kind='exp_range' needs gamma=..., the per-step amplitude decay "
                "(Smith used 0.99994 with step_size_up=2000)"
            )
        params.update(overrides)
        cls = {"triangular": Triangular, "triangular2": Triangular2, "exp_range": ExpRange}[kind]
        schedule = cls(**params)
        if total_steps is not None:
            total = check_int("total_steps", total_steps)
            cycle = schedule.cycle_steps
            if total % cycle:
                lower, upper = (total // cycle) * cycle, (total // cycle + 1) * cycle
                raise ValueError(
                    f"total_steps must be a whole number of cycles of {cycle} steps so "
                    f"training ends at base_lr (got total_steps={total}; nearest: "
                    f"{lower or upper} or {upper})"
                )
        return schedule

    # -- saving ----------------------------------------------------------------------

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the result as JSON (schema in the module docstring); write it to ``path``.

        Args:
            path: Where to write the JSON, or ``None`` to only return it.

        Returns:
            The JSON text (what is written to ``path``).
        """
        data = {
            "format": FORMAT,
            "version": SCHEMA_VERSION,
            "stop_reason": self.stop_reason,
            "elapsed_s": self.elapsed_s,
            "settings": self.settings,
            "groups": int(self.lrs.shape[1]),
            "lrs": self.lrs.tolist(),
            "losses": [_encode(v) for v in self.losses.tolist()],
            "smoothed": [_encode(v) for v in self.smoothed.tolist()],
            "metrics": None
            if self.metrics is None
            else [_encode(v) for v in self.metrics.tolist()],
        }
        text = json.dumps(data, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> RangeTestResult:
        """Read a result written by :meth:`to_json`, checking the schema and every field.

        Args:
            source: A path, or the JSON text itself (a string starting with ``{``).

        Returns:
            The result, equal to the one that was saved.

        Raises:
            ValueError: If the text is not valid JSON (for example a truncated file),
                is not a cyclr range-test result, has another schema version, or a
                field is missing, unknown or malformed.
            FileNotFoundError: If ``source`` is a path that does not exist.
        """
        if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
            text, origin = source, "JSON text"
        elif isinstance(source, (str, os.PathLike)):
            if isinstance(source, str) and not source.strip():
                raise ValueError("source must be a path or JSON text (got an empty string)")
            text, origin = Path(source).read_text(encoding="utf-8"), f"file {str(source)!r}"
        else:
            raise TypeError(f"source must be a path or JSON text (got source={source!r})")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{origin} is not valid JSON ({exc.msg} at line {exc.lineno} column "
                f"{exc.colno}); the file may be truncated or corrupted"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{origin} is not a cyclr range-test result (no format={FORMAT!r})")
        version = data.get("version")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise ValueError(
                f"{origin} has schema version {version!r}; this cyclr reads version "
                f"{SCHEMA_VERSION}"
                + (
                    " (it was written by a newer cyclr)"
                    if isinstance(version, int) and version > 1
                    else ""
                )
            )
        missing = [k for k in _KEYS if k not in data]
        unknown = sorted(set(data) - set(_KEYS))
        if missing or unknown:
            raise ValueError(f"{origin}: missing fields {missing}, unknown fields {unknown}")
        groups = data["groups"]
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"field 'groups' must be a positive integer (got {groups!r})")
        lrs = data["lrs"]
        if not isinstance(lrs, list) or not all(isinstance(row, list) for row in lrs):
            raise ValueError("field 'lrs' must be a list of lists (one LR per parameter group)")
        for i, row in enumerate(lrs):
            if len(row) != groups:
                raise ValueError(
                    f"field 'lrs'[{i}] must have one LR per parameter group ({groups}) "
                    f"(got {len(row)})"
                )
        lr_rows = [_decode_list(f"lrs[{i}]", row) for i, row in enumerate(lrs)]
        lr_array = np.array(lr_rows, dtype=np.float64).reshape(len(lr_rows), groups)
        stop_reason = data["stop_reason"]
        if stop_reason is not None and not isinstance(stop_reason, str):
            raise ValueError(f"field 'stop_reason' must be a string or null (got {stop_reason!r})")
        settings = data["settings"]
        if not isinstance(settings, dict):
            raise ValueError(f"field 'settings' must be an object (got {settings!r})")
        elapsed = data["elapsed_s"]
        if elapsed is not None and (
            isinstance(elapsed, bool) or not isinstance(elapsed, (int, float))
        ):
            raise ValueError(f"field 'elapsed_s' must be a number or null (got {elapsed!r})")
        metrics = data["metrics"]
        return cls(
            lrs=lr_array,
            losses=np.array(_decode_list("losses", data["losses"]), dtype=np.float64),
            smoothed=np.array(_decode_list("smoothed", data["smoothed"]), dtype=np.float64),
            metrics=None
            if metrics is None
            else np.array(_decode_list("metrics", metrics), dtype=np.float64),
            stop_reason=stop_reason,  # type: ignore[arg-type]  # validated in __post_init__
            settings=settings,
            elapsed_s=None if elapsed is None else float(elapsed),
        )

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the curve as CSV: ``step``, one LR column per group, ``loss``, ``smoothed``.

        LR columns are ``lr`` for a single group, else ``lr_0``, ``lr_1``, ...; a
        ``metric`` column follows when metrics were recorded. Floats are written with
        their round-trip repr; NaN as ``nan``.
        """
        groups = self.lrs.shape[1]
        lr_names = ["lr"] if groups == 1 else [f"lr_{g}" for g in range(groups)]
        header = ["step", *lr_names, "loss", "smoothed"]
        if self.metrics is not None:
            header.append("metric")
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for i in range(self.num_recorded):
                row = [str(i), *(repr(v) for v in self.lrs[i].tolist())]
                row += [repr(float(self.losses[i])), repr(float(self.smoothed[i]))]
                if self.metrics is not None:
                    row.append(repr(float(self.metrics[i])))
                writer.writerow(row)

    def plot(self, ax: Any = None) -> Any:
        """Plot the curve with every suggestion and the CLR bounds marked.

        See :func:`cyclr.plot.plot_result`. Needs matplotlib (``pip install
        'cyclr[plot]'``); never calls ``plt.show()``.

        Returns:
            The matplotlib ``Axes``.
        """
        from ..plot import plot_result

        return plot_result(self, ax=ax)
