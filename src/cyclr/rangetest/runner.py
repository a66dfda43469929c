"""The skeleton every framework's range test fills in: what differs is the step.

:class:`Runner` owns what the torch, Keras and JAX range tests share: the sweep and its
reruns (:func:`~cyclr.rangetest.driver.extend_until_readable`), the loop with its host
reads, metric cadence, stopping and progress bar (:func:`~cyclr.rangetest.driver.drive`),
the timing and the result with its settings. A framework subclass supplies only

* :meth:`Runner.session`: a context manager that saves the training state, yields a
  ``step(i, lrs) -> loss`` callable that trains one optimizer step at those LRs (one per
  parameter group), and restores everything when it exits, normally or not;
* :meth:`Runner.metric` (when a ``metric_fn`` is given) and, for losses that stay on a
  device, :meth:`Runner.read`;
* :meth:`Runner.framework_settings`, its entries of ``result.settings``;
* for distributed runs, the hooks :meth:`Runner.before_test`, :meth:`Runner.on_failure`
  and :meth:`Runner.agree_elapsed`.

The core stays framework-free: this module imports neither torch nor Keras nor JAX.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from .._validate import describe
from .driver import drive, extend_until_readable, runner_settings
from .result import RangeTestResult
from .spec import RangeTestSpec
from .tracker import RangeTest

__all__ = ["Runner", "Step"]

Step = Callable[[int, tuple[float, ...]], Any]
"""``step(i, lrs) -> loss``: train sweep step ``i`` with group ``g`` at ``lrs[g]``."""


class Runner:
    """A range test's loop, reruns and result; subclasses supply the framework's step.

    Attributes:
        name: The runner's name in ``result.settings["runner"]``.
        spec: The validated settings.
        group_scales: Each parameter group's LR as a multiple of group 0's.
        data_restarts: How often the data was started again (set by the session).
        shows_progress: Whether this process draws the progress bar.
    """

    name: ClassVar[str] = "cyclr.rangetest.Runner"

    def __init__(self, spec: RangeTestSpec, group_scales: Iterable[float] = (1.0,)) -> None:
        self.spec = spec
        self.group_scales = tuple(group_scales)
        self.data_restarts = 0
        self.shows_progress = True

    # -- what a framework supplies -------------------------------------------------------

    def session(self, rt: RangeTest) -> contextlib.AbstractContextManager[Step]:
        """Save the training state, yield the step function, restore on exit.

        Args:
            rt: The test about to run (its ``sweep`` gives every step's LR up front,
                for frameworks that compile the sweep into the train step).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement session()")

    def metric(self) -> float:
        """Evaluate ``spec.metric_fn`` on the model as it is now; a finite float."""
        raise NotImplementedError(f"{type(self).__name__} must implement metric()")

    read: Callable[[list[Any], float | None], tuple[Iterable[float], float | None]] | None = None
    """``read(losses, metric) -> (host floats, metric)``; ``None`` when steps return floats."""

    def framework_settings(self) -> dict[str, Any]:
        """The framework's own entries of ``result.settings`` (model, optimizer, device)."""
        return {}

    def before_test(self) -> None:
        """Called before each test (distributed runners agree on the settings here)."""

    def on_failure(self, error: BaseException) -> None:
        """Called when a test raises, after the state was restored."""

    def agree_elapsed(self, seconds: float) -> float:
        """The wall time to report (distributed runners take the ranks' maximum)."""
        return seconds

    # -- the skeleton ----------------------------------------------------------------------

    def _checked_metric(self) -> float:
        value = self.metric()
        if not math.isfinite(value):
            raise ValueError(
                f"metric_fn must return a finite number (got metric_fn(...)={value!r} "
                f"from metric_fn={describe(self.spec.metric_fn)})"
            )
        return value

    def run(self) -> RangeTestResult:
        """Run the range test, again and longer while its curve shows no clear fall."""
        return extend_until_readable(self.run_once, self.spec.num_steps, self.spec.max_steps)

    def run_once(self, num_steps: int) -> RangeTestResult:
        """One range test of ``num_steps`` steps, from and back to the saved state."""
        spec = self.spec
        rt = spec.tracker(num_steps, self.group_scales)
        started = time.perf_counter()
        self.before_test()
        steps_run = 0
        try:
            with self.session(rt) as step:
                steps_run = drive(
                    rt,
                    lambda i: step(i, rt.lrs_at(i)),
                    eval_every=spec.eval_every,
                    metric=self._checked_metric if spec.metric_fn is not None else None,
                    sync_every=spec.sync_every,
                    read=self.read,
                    progress=spec.progress if self.shows_progress else False,
                )
            elapsed = self.agree_elapsed(time.perf_counter() - started)
        except BaseException as exc:
            self.on_failure(exc)
            raise
        settings = runner_settings(
            self.name,
            self.framework_settings(),
            metric_fn=spec.metric_fn,
            eval_every=spec.eval_every,
            sync_every=spec.sync_every,
            steps_run=steps_run,
            data_restarts=self.data_restarts,
        )
        return rt.result(elapsed_s=elapsed, settings=settings)
