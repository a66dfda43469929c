"""The ``cyclr-confirm`` finder family: the library's one-call path with a validation split.

``range_test(model, opt, fit_loader, criterion, held_out=val_batches, total_steps=budget)``
runs the sweep, then confirms the curve's default suggestion (five candidates around it,
40 steps each, scored on the held-out batches' loss) and answers from that confirmation,
fitted to the run's length. This family
measures exactly that call, on the data split the confirmation prototypes used
(:mod:`benchmarks.suite.proto_val`):

* the range test and the confirmation train on the *fit* part of
  :func:`~benchmarks.suite.proto_val.val_split` (the training examples less the
  validation fifth), in batches of the task's size shuffled per seed exactly as the
  prototype's candidate runs are (:func:`~benchmarks.suite.proto_val.train_batches`,
  wrapped so every ``iter()`` starts the seed's stream again, as a ``DataLoader`` does);
* ``held_out`` is the validation part (at most 1,000 examples) in batches of the task's
  size, the last one short, as a ``DataLoader`` gives them; the library weighs each
  batch's loss by its number of examples, so the score is the mean over the examples,
  as the prototype scored.

The call passes ``total_steps=task.steps`` (the run the LR is for). Method
``cyclr-confirmed`` is ``result.suggest().lr`` (the confirmed LR fitted to the run's
length, :mod:`cyclr.rangetest.horizon`), ``cyclr-confirmed-window`` the confirmation's
own LR (``result.confirmation.suggestion()``, without the run's length);
``cyclr-confirmed-base`` and ``cyclr-confirmed-max`` are ``result.clr_bounds()`` (the
confirmation's bounds, recorded as ``cyclr-clr-base``/``-max`` are: bounds, not trained
at); ``steps`` is ``result.steps_spent`` (sweep, its reruns and the confirmation); the
curve is the sweep's.

Unlike the ``cyclr`` family's records, these are not re-read from the stored curve: the
confirmation needs training, so the record's cache key carries a hash of every cyclr
module the call runs and of the modules that build its data (:func:`source_files`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import math
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .finders import START_LR, FinderRecord, _criterion
from .proto_val import train_batches, val_split
from .tasks import Task

FAMILY = "cyclr-confirm"
METHOD = "cyclr-confirmed"
AUTO_FAMILY = "cyclr-auto"
AUTO_METHOD = "cyclr-auto"
"""``held_out="auto"``: the batches to confirm on held aside from the training loader."""
WINDOW_METHOD = f"{METHOD}-window"
"""``result.suggest().lr`` without the run's length: the confirmation window's LR."""
FLOW_TIME = f"{METHOD}-flow-time"
"""Not an LR: the gradient-flow time of the held-out minimum, ``Horizon.lr * T`` (``None``
when too few candidates overfit), by which ``result.schedule(..., total_steps=T)``
scales the confirmed bounds (:func:`cyclr.rangetest.horizon.flow_time_factor`)."""
FLOW_TIMES = {FAMILY: FLOW_TIME, AUTO_FAMILY: f"{AUTO_METHOD}-flow-time"}
"""Each confirmed family's :data:`FLOW_TIME` entry."""
BOUNDS = (f"{METHOD}-base", f"{METHOD}-max")
END_BOUNDS = (f"{METHOD}-end-base", f"{METHOD}-end-max")
"""A prototype's bounds: ``clr_bounds()`` moved up half a decade when the confirmed LR is
the largest finite candidate (the scores say the best LR may lie past the window)."""
END_STRIDE = 10.0**0.5
STEADY_BOUNDS = (f"{METHOD}-steady-base", f"{METHOD}-steady-max")
"""A prototype's bounds: ``clr_bounds()`` moved up one candidate step when every candidate
trained steadily and the peak is the largest (the window saw no limit above it)."""
STEADY_STRIDE = 10.0**0.25
SOURCE_DIRS = ("rangetest", "torch")
"""cyclr sub-packages the call runs (every module in them is hashed)."""
SOURCE_MODULES = (
    "__init__.py",
    "_batches.py",
    "_held_aside.py",
    "_validate.py",
    "_progress.py",
    "errors.py",
)
"""cyclr's top-level modules the call runs."""
HERE = Path(__file__).resolve().parent
BENCH_SOURCES = (HERE / "finders_confirm.py", HERE / "proto_val.py")
"""This family's own code and the split and batches it reuses."""


class FitBatches:
    """The seed's endless stream of fit-part batches; each ``iter()`` starts it again.

    A generator would be consumed by the sweep, so the confirmation would train on later
    batches than the prototype's candidates; re-iterable like a ``DataLoader``, the sweep
    and every confirmation candidate start from the same first batches.
    """

    def __init__(self, task: Task, seed: int, x: torch.Tensor, y: torch.Tensor) -> None:
        self.task, self.seed, self.x, self.y = task, seed, x, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(train_batches(self.task, self.seed, self.x, self.y))


def held_out_batches(task: Task) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The validation part in batches of the task's size, the last one short."""
    _, _, x_val, y_val = val_split(task)
    size = task.batch_size
    return [(x_val[i : i + size], y_val[i : i + size]) for i in range(0, len(x_val), size)]


def source_files() -> list[Path]:
    """Every cyclr source file the one-call path runs (found without importing cyclr)."""
    spec = importlib.util.find_spec("cyclr")
    if spec is None or spec.origin is None:
        return []
    root = Path(spec.origin).parent
    files = [root / name for name in SOURCE_MODULES]
    for sub in SOURCE_DIRS:
        files += sorted((root / sub).glob("*.py"))
    return [f for f in files if f.is_file()]


def version() -> str:
    """A tag that changes when cyclr's :func:`source_files` or this family's code change."""
    files = source_files()
    if not files:
        return "no-cyclr"
    h = hashlib.sha256()
    for f in (*files, *BENCH_SOURCES):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:10]


def check() -> str | None:
    """Why the family cannot run here, else ``None``."""
    try:
        from cyclr.torch import range_test
    except Exception as exc:
        return f"import failed: {type(exc).__name__}: {exc}"
    if "held_out" not in inspect.signature(range_test).parameters:
        return "cyclr.torch.range_test takes no held_out= (cyclr without the confirmation)"
    return None


def run_cyclr_confirm(
    task: Task, seed: int, scale: float = 1.0, shift: float = 0.0
) -> FinderRecord:
    """``range_test(..., held_out=..., total_steps=...)`` on the fit part, read as a user would."""
    x_fit, y_fit, _, _ = val_split(task)
    fit = FitBatches(task, seed, x_fit, y_fit)
    return _one_call(FAMILY, METHOD, task, seed, fit, held_out_batches(task), scale, shift)


def run_cyclr_auto(task: Task, seed: int, scale: float = 1.0, shift: float = 0.0) -> FinderRecord:
    """``range_test(..., held_out="auto", total_steps=...)`` on the task's own loader.

    The ``cyclr`` family's data (``task.loader(seed)``, every training example, a sampler
    with its own generator), with the first batches of a pass held aside by the library
    (:mod:`cyclr._held_aside`): the one call without a validation split.
    """
    data = task.loader(seed)
    return _one_call(AUTO_FAMILY, AUTO_METHOD, task, seed, data, "auto", scale, shift)


def _one_call(
    family: str,
    method: str,
    task: Task,
    seed: int,
    data: Any,
    held_out: Any,
    scale: float,
    shift: float,
) -> FinderRecord:
    """``range_test(model, opt, data, loss, held_out=..., total_steps=budget)``, recorded."""
    from cyclr.torch import range_test

    model = task.make_model(seed)
    opt = task.make_optimizer(model.parameters(), START_LR)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = range_test(
            model,
            opt,
            data,
            _criterion(task, scale, shift),
            held_out=held_out,
            total_steps=task.steps,
            progress=False,
        )
    return _record(family, method, result, task, caught, time.perf_counter() - t0)


def _record(
    family: str, method: str, result: Any, task: Task, caught: list[Any], wall: float
) -> FinderRecord:
    """The record of a confirmed range test: ``suggest()``, the window's LR, the bounds."""
    suggestions: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    unconfirmed = "" if result.confirmation is not None else "no confirmation"
    notes = "; ".join(str(w.message) for w in caught)
    answers = {
        method: result.suggest,
        f"{method}-window": lambda: result.confirmation.suggestion(),  # no run length
    }
    for name, answer in answers.items():
        try:
            suggestions[name] = float(answer().lr)
            if unconfirmed:  # not expected: without a confirmation the curve had no suggestion
                errors[name] = f"{unconfirmed}: {notes}"
        except Exception as exc:
            suggestions[name] = None
            errors[name] = f"{type(exc).__name__}: {exc}" + (f" ({notes})" if notes else "")
    bounds = (f"{method}-base", f"{method}-max")
    try:
        base, peak = result.clr_bounds()
        suggestions[bounds[0]], suggestions[bounds[1]] = float(base), float(peak)
    except Exception as exc:
        suggestions[bounds[0]] = suggestions[bounds[1]] = None
        errors[f"{method}-bounds"] = f"{type(exc).__name__}: {exc}"
    if family == FAMILY:
        _moved_bounds(suggestions, END_BOUNDS, _end_factor(result.confirmation))
        peak = suggestions[BOUNDS[1]]
        _moved_bounds(suggestions, STEADY_BOUNDS, _steady_factor(result.confirmation, peak))
    suggestions[FLOW_TIMES[family]] = _flow_time(result, task.steps)
    return FinderRecord(
        family,
        suggestions,
        errors,
        int(result.steps_spent),
        wall,
        [float(x) for x in result.lrs[:, 0]],
        [float(x) for x in result.losses],
        "raw",
        json.loads(result.to_json()).get("confirmation"),
    )


def _flow_time(result: Any, total_steps: int) -> float | None:
    """:data:`FLOW_TIME` of a result (``None`` without a confirmation or the evidence)."""
    from cyclr.rangetest.confirm_stage import learning_bar

    if result.confirmation is None:
        return None
    horizon = result.confirmation.horizon(total_steps, learning_bar(result))
    return None if horizon.lr is None else horizon.lr * total_steps


def _moved_bounds(
    suggestions: dict[str, float | None], names: tuple[str, str], factor: float | None
) -> None:
    """Record the confirmation's bounds times ``factor`` under ``names`` (prototypes).

    ``None`` for both when there are no bounds or no ``factor`` (no confirmation).
    """
    base, peak = suggestions.get(BOUNDS[0]), suggestions.get(BOUNDS[1])
    if factor is None or base is None or peak is None:
        suggestions[names[0]] = suggestions[names[1]] = None
    else:
        suggestions[names[0]], suggestions[names[1]] = base * factor, peak * factor


def _end_factor(confirmation: Any) -> float | None:
    """:data:`END_STRIDE` when the confirmed LR is the largest finite candidate, else 1."""
    if confirmation is None:
        return None
    pairs = zip(confirmation.candidates, confirmation.scores, strict=True)
    finite = [c for c, score in pairs if math.isfinite(score)]
    return END_STRIDE if finite and confirmation.lr >= finite[-1] * (1 - 1e-9) else 1.0


def _steady_factor(confirmation: Any, peak: float | None) -> float | None:
    """:data:`STEADY_STRIDE` where the window saw no limit above the peak, else 1.

    One-cycle's gradient-flow time, ``sum_t lr(t)``, is about 0.54 of a fixed run's at its
    peak; a peak at the confirmed LR gives the schedule half the flow of the fixed LR it
    is compared with. Where every candidate trained steadily (finite, its held-out loss
    never rising) and the peak is the largest of them, nothing in the window limits the
    peak, and it moves up one candidate step (a quarter decade: the next candidate the
    grid would have tried).
    """
    if confirmation is None or peak is None:
        return None
    at_top = peak >= max(confirmation.candidates) * (1 - 1e-9)
    return STEADY_STRIDE if all(confirmation.steady) and at_top else 1.0
