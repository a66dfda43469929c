"""The loop the framework runners share: train, read the losses in batches, stop in time.

A runner (``cyclr.torch``, ``cyclr.keras``, ``cyclr.jax``) supplies one training step at
a given sweep step and, if its losses stay on a device, a way to read a batch of them on
the host; :func:`drive` runs those steps against a :class:`~cyclr.rangetest.RangeTest`,
evaluates the metric on its cadence, and keeps the progress bar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from .._progress import progress_bar
from ..errors import NoReliableSuggestionError
from .result import RangeTestResult
from .spec import EXTEND_FACTOR
from .tracker import RangeTest

__all__ = [
    "callable_name",
    "drive",
    "extend_until_readable",
    "runner_settings",
]

Read = Callable[[list[Any], float | None], tuple[Iterable[float], float | None]]
"""``read(losses, metric) -> (host losses, metric)``: a runner's device-to-host copy."""


def callable_name(fn: Any) -> str:
    """Return a function's qualified name (or its type's name), for ``result.settings``.

    Example:
        >>> callable_name(callable_name), callable_name(3)
        ('callable_name', 'int')
    """
    return str(
        getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    )


def drive(
    rt: RangeTest,
    step: Callable[[int], Any],
    *,
    eval_every: int | None = None,
    metric: Callable[[], float] | None = None,
    sync_every: int = 1,
    read: Read | None = None,
    progress: bool | None = None,
) -> int:
    """Run ``step(i)`` for ``i = 0, 1, ...`` until ``rt`` has finished; return the steps run.

    ``step(i)`` trains at ``rt.lrs_at(i)`` and returns the loss, which may stay on the
    device. Every ``sync_every`` steps, after each step that ends with ``metric()``
    (every ``eval_every`` steps) and after the last step, ``read(losses, value)`` copies
    the buffered losses and the metric value to the host (by default they are host
    floats already) and :meth:`RangeTest.record_many` records them; the metric goes to
    its step unless the test stopped before it. Steps run past a stop inside one read
    window are counted but not recorded.

    Args:
        rt: The range test to drive (nothing recorded yet).
        step: ``step(i) -> loss`` for sweep step ``i``.
        eval_every: Steps between ``metric()`` calls, or ``None`` for none.
        metric: ``metric() -> float`` for the model as it is after the step.
        sync_every: Steps between reads of the losses.
        read: ``read(losses, value) -> (floats, value)``; ``None`` when ``step``
            returns floats.
        progress: Show a progress bar (see :func:`cyclr._progress.progress_bar`).

    Returns:
        The number of steps run (``>= rt.num_recorded``).

    Example:
        >>> rt = RangeTest(1e-3, 1.0, num_steps=20)
        >>> losses = [1.0] * 12 + [1e9] * 8
        >>> steps_run = drive(rt, lambda i: losses[i], sync_every=5, progress=False)
        >>> rt.stop_reason, rt.num_recorded, steps_run
        ('diverged', 13, 15)
    """
    bar = progress_bar(rt.num_steps, enabled=progress)
    pending: list[Any] = []
    steps_run = 0
    try:
        while not rt.finished:
            pending.append(step(steps_run))
            steps_run += 1
            evaluate = eval_every is not None and steps_run % eval_every == 0
            if not (evaluate or len(pending) >= sync_every or steps_run == rt.num_steps):
                continue
            value = metric() if evaluate and metric is not None else None
            losses, value = (pending, value) if read is None else read(pending, value)
            pending = []
            shown = rt.num_recorded
            rt.record_many(losses)
            if value is not None and rt.num_recorded == steps_run:
                rt.record_metric(value)
            bar.update(rt.num_recorded - shown)
            bar.set_postfix(
                lr=f"{rt.lr_at(rt.num_recorded - 1):.3g}", loss=f"{rt.smoothed_loss:.4g}"
            )
    finally:
        bar.close()
    return steps_run


def runner_settings(
    runner: str,
    framework: dict[str, Any],
    *,
    metric_fn: Any,
    eval_every: int | None,
    sync_every: int,
    steps_run: int,
    data_restarts: int,
) -> dict[str, Any]:
    """Return a runner's ``result.settings``: its name, its own entries, then the loop's.

    Example:
        >>> runner_settings("demo", {"device": "cpu"}, metric_fn=None, eval_every=None,
        ...                 sync_every=1, steps_run=5, data_restarts=0)["steps_run"]
        5
    """
    from .. import __version__

    return {
        "runner": runner,
        **framework,
        "metric": None if metric_fn is None else callable_name(metric_fn),
        "eval_every": eval_every,
        "sync_every": sync_every,
        "steps_run": steps_run,
        "data_restarts": data_restarts,
        "cyclr_version": __version__,
    }


def _readable(result: RangeTestResult) -> bool:
    try:
        result.suggest()
    except NoReliableSuggestionError:
        return False
    return True


def _check_first_loss(result: RangeTestResult) -> None:
    """Refuse a test whose first loss, the untrained model's, is NaN or infinite.

    It was computed before the first update, so no LR and no longer test changes it:
    the data or the loss function gives it.
    """
    if result.stop_reason == "non_finite" and result.num_recorded == 1:
        raise ValueError(
            "the loss must be finite before training: the first batch's loss on the "
            f"untrained model, before any update, is not (got loss={float(result.losses[0])}"
            f" at lr={float(result.lrs[0, 0]):.3g}); look for NaN or inf in the batches "
            "or in what the loss function computes"
        )


def extend_until_readable(
    run: Callable[[int], RangeTestResult], num_steps: Any, max_steps: int | None
) -> RangeTestResult:
    """Run ``run(num_steps)``; while its curve has no reliable suggestion, run it longer.

    A loss that sits on a plateau before it falls (a recurrent network at small LRs) or
    that is too noisy to show a clear fall in ``num_steps`` steps gets another test with
    :data:`EXTEND_FACTOR` times the steps over the same LR range (more batches per LR:
    the fall has time to show, the noise averages out), as long as that stays within
    ``max_steps``. ``run`` restores the training state after each test, so every rerun
    starts from the same state. ``result.settings["steps_tried"]`` lists the lengths run
    and ``result.settings["steps_run_total"]`` adds up the steps of every test.

    Args:
        run: ``run(n)`` runs one range test of ``n`` steps and returns its result.
        num_steps: Steps of the first test.
        max_steps: Longest test allowed (``None`` if ``num_steps`` is invalid, which
            ``run`` then reports).

    Returns:
        The last result.

    Example:
        >>> import numpy as np
        >>> def run(n):
        ...     lrs = np.logspace(-5, 0, n)
        ...     losses = 2.0 - np.tanh(np.log10(lrs) + 2.0) if n >= 300 else np.ones(n)
        ...     return RangeTestResult(lrs, losses, losses, None, "num_steps",
        ...                            {"num_steps": n}, 0.0)
        >>> extend_until_readable(run, 100, 900).settings["steps_tried"]
        [100, 300]
    """
    n = num_steps
    tried = []
    total = 0
    while True:
        result = run(n)
        _check_first_loss(result)
        tried.append(int(n))
        total += int(result.settings.get("steps_run", result.num_recorded))
        if max_steps is None or n * EXTEND_FACTOR > max_steps or _readable(result):
            break
        n *= EXTEND_FACTOR
    settings = {**result.settings, "steps_tried": tried, "steps_run_total": total}
    return dataclasses.replace(result, settings=settings)
