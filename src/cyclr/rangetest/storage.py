"""The JSON and CSV forms of a range-test result, written and read back exactly.

JSON schema (version 1), one object::

    {"format": "cyclr.RangeTestResult", "version": 1,
     "stop_reason": "diverged" | "non_finite" | "num_steps" | null,
     "elapsed_s": float | null, "settings": {...}, "groups": int,
     "lrs": [[lr of each group], ...], "losses": [...], "smoothed": [...],
     "metrics": [...] | null,
     "confirmation": {...}}

``"confirmation"`` is there only for a result whose suggestion was confirmed
(``range_test``'s confirmation stage): ``{"lr", "anchor", "candidates", "scores",
"steps", "steps_spent", "held_out_losses"}`` and, where they are known,
``"start_loss"`` and ``"held_out_steps"``: the fields of
:class:`~cyclr.rangetest.confirmation.Confirmation`. A file without it is a plain curve.

Floats are written with Python's shortest round-trip repr, so reading a file back
gives the same float64 values bit for bit. JSON has no NaN or infinity: NaN is written
as ``null`` and infinities as the strings ``"inf"`` and ``"-inf"``.

CSV: a header ``step, lr`` (or ``lr_0, lr_1, ...`` for several parameter groups),
``loss, smoothed`` and, when metrics were recorded, ``metric``; one row per step, floats
as round-trip reprs, NaN as ``nan``. The CSV holds the curve only: read back, its
``stop_reason``, ``settings`` and ``elapsed_s`` are ``None``, ``{}`` and ``None``.

These functions turn text into the fields of a result and back; the
:class:`~cyclr.rangetest.RangeTestResult` methods add the files.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._validate import check_type
from .confirmation import Confirmation

if TYPE_CHECKING:
    from .result import RangeTestResult

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "csv_fields",
    "csv_text",
    "curve_arrays",
    "json_fields",
    "json_text",
    "read_file",
]

FORMAT = "cyclr.RangeTestResult"
"""The ``"format"`` tag of the JSON file."""

SCHEMA_VERSION = 1
"""The JSON schema version this cyclr writes and reads."""

FloatArray = npt.NDArray[np.float64]

MAX_TEXT_CHARS = 1 << 30
"""The longest text read as a result (1 GiB): a range test is a few thousand steps."""

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
_OPTIONAL_KEYS = ("confirmation",)
_CONFIRMATION_KEYS = (
    "lr",
    "anchor",
    "candidates",
    "scores",
    "steps",
    "steps_spent",
    "held_out_losses",
)
_CONFIRMATION_OPTIONAL = ("start_loss", "held_out_steps")
"""Confirmation keys written only when known (files before them lack them)."""


def float_array(name: str, value: Any, ndim: int | None) -> FloatArray:
    """A read-only float64 copy of ``value``, checked to have ``ndim`` dimensions."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers (got {name}={value!r})") from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional (got shape {array.shape})")
    array.setflags(write=False)
    return array


def curve_arrays(
    lrs: Any, losses: Any, smoothed: Any, metrics: Any
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]:
    """A result's curve as read-only float64 arrays, checked: ``lrs`` as ``(steps, groups)``.

    Raises:
        ValueError: If ``lrs`` is not ``(steps, groups)`` or ``(steps,)``, not positive
            and finite, or group 0 does not increase strictly; if ``losses``,
            ``smoothed`` or ``metrics`` has not one value per step; if ``metrics``
            holds an infinity (NaN marks a step not evaluated).
        TypeError: If an array holds something that is not a number.
    """
    lr_array = float_array("lrs", lrs, None)
    if lr_array.ndim == 1:
        lr_array = lr_array.reshape(-1, 1)
        lr_array.setflags(write=False)
    if lr_array.ndim != 2:
        raise ValueError(f"lrs must be (steps, groups) or (steps,) (got shape {lr_array.shape})")
    n, groups = lr_array.shape
    if groups < 1:
        raise ValueError(f"lrs must have at least one parameter group (got shape {lr_array.shape})")
    if not np.all(np.isfinite(lr_array)) or np.any(lr_array <= 0):
        raise ValueError("lrs must be positive and finite everywhere")
    if n > 1 and not np.all(np.diff(lr_array[:, 0]) > 0):
        raise ValueError("lrs of group 0 must increase strictly from step to step")
    loss_array = float_array("losses", losses, 1)
    smoothed_array = float_array("smoothed", smoothed, 1)
    for name, array in (("losses", loss_array), ("smoothed", smoothed_array)):
        if array.shape[0] != n:
            raise ValueError(
                f"{name} must have one value per step (got {array.shape[0]} values for {n} steps)"
            )
    metric_array = None
    if metrics is not None:
        metric_array = float_array("metrics", metrics, 1)
        if metric_array.shape[0] != n:
            raise ValueError(
                f"metrics must have one value per step, NaN where not evaluated "
                f"(got {metric_array.shape[0]} values for {n} steps)"
            )
        if np.any(np.isinf(metric_array)):
            raise ValueError("metrics must be finite, or NaN where not evaluated")
    return lr_array, loss_array, smoothed_array, metric_array


def json_safe(name: str, value: Any) -> Any:
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
        return [json_safe(f"{name}[{i}]", item) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{name} keys must be strings (got key {key!r})")
            out[key] = json_safe(f"{name}[{key!r}]", item)
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
            try:
                out.append(float(item))
            except OverflowError:
                raise ValueError(
                    f"field {name!r}[{i}] must be a float64 number (got an integer of "
                    f"{len(str(abs(item)))} digits)"
                ) from None
        else:
            raise ValueError(
                f"field {name!r}[{i}] must be a number, null, 'inf' or '-inf' (got {item!r})"
            )
    return out


def json_text(result: RangeTestResult) -> str:
    """The JSON text of ``result`` (schema in the module docstring), without a newline."""
    data = {
        "format": FORMAT,
        "version": SCHEMA_VERSION,
        "stop_reason": result.stop_reason,
        "elapsed_s": result.elapsed_s,
        "settings": result.settings,
        "groups": int(result.lrs.shape[1]),
        "lrs": result.lrs.tolist(),
        "losses": [_encode(v) for v in result.losses.tolist()],
        "smoothed": [_encode(v) for v in result.smoothed.tolist()],
        "metrics": None
        if result.metrics is None
        else [_encode(v) for v in result.metrics.tolist()],
    }
    if result.confirmation is not None:
        data["confirmation"] = _confirmation_data(result.confirmation)
    return json.dumps(data, allow_nan=False)


def _confirmation_data(c: Confirmation) -> dict[str, Any]:
    return {
        "lr": c.lr,
        "anchor": c.anchor,
        "candidates": list(c.candidates),
        "scores": [_encode(v) for v in c.scores],
        "steps": c.steps,
        "steps_spent": c.steps_spent,
        "held_out_losses": [[_encode(v) for v in run] for run in c.held_out_losses],
        **({} if c.start_loss is None else {"start_loss": _encode(c.start_loss)}),
        **({} if c.held_out_steps is None else {"held_out_steps": c.held_out_steps}),
    }


def _confirmation(data: Any) -> Confirmation | None:
    """The :class:`Confirmation` of a result file's ``"confirmation"`` field, checked."""
    if data is None:
        return None
    keys = set(data) if isinstance(data, dict) else None
    if keys is None or not set(_CONFIRMATION_KEYS) <= keys <= {
        *_CONFIRMATION_KEYS,
        *_CONFIRMATION_OPTIONAL,
    }:
        raise ValueError(
            f"field 'confirmation' must be an object with the keys {list(_CONFIRMATION_KEYS)} "
            f"and optionally {list(_CONFIRMATION_OPTIONAL)} (got {data!r:.200})"
        )
    runs = data["held_out_losses"]
    if not isinstance(runs, list):
        raise ValueError("field 'confirmation'['held_out_losses'] must be a list of lists")
    lr, anchor = (_decode_list(f"confirmation.{k}", [data[k]])[0] for k in ("lr", "anchor"))
    for k in ("steps", "steps_spent"):
        if isinstance(data[k], bool) or not isinstance(data[k], int):
            raise ValueError(f"field 'confirmation'[{k!r}] must be an integer (got {data[k]!r})")
    return Confirmation(
        lr=lr,
        anchor=anchor,
        candidates=tuple(_decode_list("confirmation.candidates", data["candidates"])),
        scores=tuple(_decode_list("confirmation.scores", data["scores"])),
        steps=data["steps"],
        steps_spent=data["steps_spent"],
        held_out_losses=tuple(
            tuple(_decode_list(f"confirmation.held_out_losses[{i}]", run))
            for i, run in enumerate(runs)
        ),
        start_loss=(
            None
            if data.get("start_loss") is None
            else _decode_list("confirmation.start_loss", [data["start_loss"]])[0]
        ),
        held_out_steps=(
            None
            if data.get("held_out_steps") is None
            else _decode_list("confirmation.held_out_steps", [data["held_out_steps"]])[0]
        ),
    )


_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|-?inf|nan", re.IGNORECASE)
"""A number as this module writes it: decimal digits (``repr`` of a float), ``inf`` or
``nan``; no underscores, no leading ``+`` or spaces, which Python's ``float`` would take."""


def _float64(text: str) -> float:
    """A JSON number as a float64, refusing one beyond its range (``1e400`` is not ``inf``)."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is beyond the range of float64")
    return value


def _csv_number(cell: str) -> float:
    """A CSV cell as :func:`csv_text` writes it, or a ValueError (no silent reading)."""
    if not _NUMBER.fullmatch(cell):
        raise ValueError(cell)
    return _float64(cell) if "inf" not in cell.lower() else float(cell)


def _parse_json(text: str, origin: str) -> Any:
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"{origin} is too large to be a range-test result ({len(text):,} chars)")
    try:
        return json.loads(text, parse_float=_float64)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{origin} is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); the file may be truncated or corrupted"
        ) from None
    except RecursionError:
        raise ValueError(
            f"{origin} is not a range-test result: its JSON is nested too deeply"
        ) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise ValueError(f"{origin} is not a range-test result: {exc}") from None


def json_fields(text: str, origin: str) -> dict[str, Any]:
    """Parse and check the JSON text of a result; return the result's fields.

    Args:
        text: The JSON text.
        origin: How to name the text in errors (``"file 'x.json'"``, ``"JSON text"``).

    Returns:
        Keyword arguments for :class:`~cyclr.rangetest.RangeTestResult`.

    Raises:
        ValueError: If the text is not JSON, not a cyclr result, of another schema
            version, or a field is missing, unknown or malformed.
    """
    data = _parse_json(text, origin)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{origin} is not a cyclr range-test result (no format={FORMAT!r})")
    version = data.get("version")
    if version != SCHEMA_VERSION or type(version) is not int:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise ValueError(
            f"{origin} has schema version {version!r}; this cyclr reads version "
            f"{SCHEMA_VERSION}" + (" (it was written by a newer cyclr)" if newer else "")
        )
    missing = [k for k in _KEYS if k not in data]
    unknown = sorted(set(data) - set(_KEYS) - set(_OPTIONAL_KEYS))
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
                f"field 'lrs'[{i}] must have one LR per parameter group ({groups}) (got {len(row)})"
            )
    lr_rows = [_decode_list(f"lrs[{i}]", row) for i, row in enumerate(lrs)]
    stop_reason = data["stop_reason"]
    if stop_reason is not None and not isinstance(stop_reason, str):
        raise ValueError(f"field 'stop_reason' must be a string or null (got {stop_reason!r})")
    settings = data["settings"]
    if not isinstance(settings, dict):
        raise ValueError(f"field 'settings' must be an object (got {settings!r})")
    elapsed = data["elapsed_s"]
    if elapsed is not None and (isinstance(elapsed, bool) or not isinstance(elapsed, (int, float))):
        raise ValueError(f"field 'elapsed_s' must be a number or null (got {elapsed!r})")
    metrics = data["metrics"]
    return {
        "lrs": np.array(lr_rows, dtype=np.float64).reshape(len(lr_rows), groups),
        "losses": np.array(_decode_list("losses", data["losses"]), dtype=np.float64),
        "smoothed": np.array(_decode_list("smoothed", data["smoothed"]), dtype=np.float64),
        "metrics": None
        if metrics is None
        else np.array(_decode_list("metrics", metrics), dtype=np.float64),
        "stop_reason": stop_reason,
        "settings": settings,
        "elapsed_s": None if elapsed is None else _decode_list("elapsed_s", [elapsed])[0],
        "confirmation": _confirmation(data.get("confirmation")),
    }


def csv_text(result: RangeTestResult) -> str:
    """The CSV text of ``result``'s curve (columns in the module docstring)."""
    groups = result.lrs.shape[1]
    lr_names = ["lr"] if groups == 1 else [f"lr_{g}" for g in range(groups)]
    header = ["step", *lr_names, "loss", "smoothed"]
    if result.metrics is not None:
        header.append("metric")
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(header)
    for i in range(result.num_recorded):
        row = [str(i), *(repr(v) for v in result.lrs[i].tolist())]
        row += [repr(float(result.losses[i])), repr(float(result.smoothed[i]))]
        if result.metrics is not None:
            row.append(repr(float(result.metrics[i])))
        writer.writerow(row)
    return handle.getvalue()


def _lr_columns(header: list[str], origin: str) -> int:
    """The number of LR columns in a CSV header, checked against the expected layout."""
    names = header[1:-2] if header[-1] != "metric" else header[1:-3]
    groups = len(names)
    expected = ["lr"] if groups == 1 else [f"lr_{g}" for g in range(groups)]
    tail = header[len(expected) + 1 :]
    if (
        header[:1] != ["step"]
        or names != expected
        or tail
        not in (
            ["loss", "smoothed"],
            ["loss", "smoothed", "metric"],
        )
    ):
        raise ValueError(
            f"{origin} is not a cyclr range-test CSV: its header must be step, lr (or lr_0, "
            f"lr_1, ...), loss, smoothed[, metric] (got {', '.join(header)[:200]})"
        )
    return groups


def csv_fields(text: str, origin: str) -> dict[str, Any]:
    """Parse the CSV text written by :func:`csv_text`; return the result's fields.

    Raises:
        ValueError: If the header or a row is malformed (the row is named).
    """
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"{origin} is too large to be a range-test result ({len(text):,} chars)")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValueError(f"{origin} is empty")
    header = [name.strip() for name in rows[0]]
    groups = _lr_columns(header, origin)
    values: list[list[float]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{origin} line {line} must have {len(header)} columns (got {len(row)})"
            )
        try:
            if not row[0].isdigit() or not row[0].isascii():
                raise ValueError(row[0])
            step = int(row[0])
            numbers = [_csv_number(cell) for cell in row[1:]]
        except ValueError:
            raise ValueError(f"{origin} line {line} holds a value that is not a number") from None
        if step != len(values):
            raise ValueError(f"{origin} line {line}: step must be {len(values)} (got {step})")
        values.append(numbers)
    table = np.array(values, dtype=np.float64).reshape(len(values), len(header) - 1)
    has_metric = header[-1] == "metric"
    return {
        "lrs": table[:, :groups],
        "losses": table[:, groups],
        "smoothed": table[:, groups + 1],
        "metrics": table[:, groups + 2] if has_metric else None,
        "stop_reason": None,
        "settings": {},
        "elapsed_s": None,
    }


def read_file(path: Any, method: str) -> tuple[str, str]:
    """The text of a result file and how to name it, or a clear error."""
    text_given = isinstance(path, str) and path.lstrip().startswith(("{", "["))
    if text_given and not os.path.exists(path):  # a file may be named "[run 1] lr.json"
        raise TypeError(
            f"{method} reads a file; for JSON text use RangeTestResult.from_json_text "
            f"(got path={path[:40]!r}...)"
        )
    check_type("path", path, (str, os.PathLike), "a str or os.PathLike")
    from .._files import read_text

    return read_text(path, what="range-test result"), f"file {os.fspath(path)!r}"
