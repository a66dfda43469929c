"""What a range test sweeps and when it stops, declared and validated once for every runner.

:class:`RangeTestSpec` holds the parameters that the torch, Keras, JAX and distributed
runners, the CLI and the demo share: the sweep (``start_lr``, ``end_lr``, ``num_steps``,
``sweep``), the stopping rule (``smoothing``, ``diverge_factor``), the reruns
(``max_steps``) and the loop (``metric_fn``, ``eval_every``, ``sync_every``,
``progress``), with their defaults (:data:`DEFAULTS`) and their checks. A runner builds
one from its keyword arguments before it touches the model, so every bad value is named
before the first training step.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._validate import check_callable, check_int, check_type, describe
from .tracker import RangeTest

__all__ = [
    "DEFAULTS",
    "DEFAULT_EXTENSIONS",
    "EXTEND_FACTOR",
    "MAX_NUM_STEPS",
    "RangeTestSpec",
]

EXTEND_FACTOR = 3
"""A range test whose curve shows no clear fall is rerun with this many times the steps."""

DEFAULT_EXTENSIONS = 2
"""Reruns allowed by default: ``max_steps = num_steps * EXTEND_FACTOR ** 2``."""

MAX_NUM_STEPS = 100_000
"""The longest range test accepted (``num_steps`` and ``max_steps``).

A range test reads a curve from a few hundred steps (fast.ai and Smith use about 100);
a thousand times that is a typing mistake, not a test, and would train for hours.
"""


@dataclasses.dataclass(frozen=True)
class RangeTestSpec:
    """The settings of a range test, validated; every runner takes these.

    Args:
        start_lr: Group 0's LR at step 0; positive and finite.
        end_lr: Group 0's LR at the last step; above ``start_lr``.
        num_steps: Optimizer steps of the first sweep, 2 to :data:`MAX_NUM_STEPS`.
        max_steps: Longest rerun when the curve shows no clear fall (each rerun has
            :data:`EXTEND_FACTOR` times the steps); ``None``: ``9 * num_steps``
            (capped at :data:`MAX_NUM_STEPS`); ``num_steps``: never rerun.
        sweep: ``"exp"`` or ``"linear"``.
        smoothing: EMA factor of the smoothed loss, in ``[0, 1)``.
        diverge_factor: Divergence threshold ``f > 1`` of the stopping rule.
        metric_fn: A callable evaluated every ``eval_every`` steps, or ``None``.
        eval_every: Steps between metric evaluations; ``None``: 1 with a ``metric_fn``.
        sync_every: Steps between host reads of the losses (and stop checks).
        progress: Show a progress bar: ``True``, ``False``, or ``None`` for "when
            standard error is a terminal".

    Raises:
        TypeError: If a value has the wrong type.
        ValueError: If a value is out of range (the message names it and its value).

    Example:
        >>> spec = RangeTestSpec(num_steps=50)
        >>> spec.max_steps, spec.eval_every
        (450, None)
        >>> RangeTestSpec(num_steps=10**9)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: num_steps must be at most 100000, ... (got num_steps=1000000000)
    """

    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_steps: int = 100
    max_steps: int | None = None
    sweep: str = "exp"
    smoothing: float = 0.98
    diverge_factor: float = 4.0
    metric_fn: Callable[..., Any] | None = None
    eval_every: int | None = None
    sync_every: int = 10
    progress: bool | None = None

    def __post_init__(self) -> None:
        steps = _check_steps("num_steps", self.num_steps, minimum=2)
        # The tracker owns the checks of the sweep and of the stopping rule.
        probe = self.tracker(steps)
        if self.max_steps is None:
            limit = min(steps * EXTEND_FACTOR**DEFAULT_EXTENSIONS, MAX_NUM_STEPS)
            limit = max(limit, steps)
        else:
            limit = _check_steps("max_steps", self.max_steps, minimum=2)
            if limit < steps:
                raise ValueError(
                    "max_steps must be at least num_steps "
                    f"(got num_steps={self.num_steps!r}, max_steps={self.max_steps!r})"
                )
        check_callable("metric_fn", self.metric_fn)
        sync_every = check_int("sync_every", self.sync_every)
        progress = self.progress
        check_type("progress", progress, (bool, type(None)), "a bool or None")
        eval_every = self.eval_every
        if self.metric_fn is None and eval_every is not None:
            raise ValueError(
                f"eval_every needs a metric_fn (got eval_every={eval_every!r}, metric_fn=None)"
            )
        if self.metric_fn is not None:
            eval_every = 1 if eval_every is None else check_int("eval_every", eval_every)
        for name, value in (
            ("start_lr", probe.sweep.start_lr),
            ("end_lr", probe.sweep.end_lr),
            ("num_steps", steps),
            ("max_steps", limit),
            ("smoothing", probe.settings["smoothing"]),
            ("diverge_factor", probe.settings["diverge_factor"]),
            ("eval_every", eval_every),
            ("sync_every", sync_every),
        ):
            object.__setattr__(self, name, value)

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any], **fixed: Any) -> RangeTestSpec:
        """The spec from a runner's keyword arguments (the entries named like its fields).

        Lets a runner pass ``locals()`` at the top of its public function, so each
        setting is spelled once, in the signature, with its default from
        :data:`DEFAULTS`.

        Args:
            arguments: A mapping that holds some of the spec's fields by name.
            **fixed: Fields the runner fixes itself (e.g. ``sync_every=1``).

        Example:
            >>> RangeTestSpec.from_arguments({"num_steps": 30, "model": None}).num_steps
            30
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in arguments.items() if k in names}, **fixed)

    def as_arguments(self) -> dict[str, Any]:
        """The spec's fields as keyword arguments, for a runner's ``range_test``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def tracker(self, num_steps: int, group_scales: Sequence[float] = (1.0,)) -> RangeTest:
        """A fresh :class:`~cyclr.rangetest.RangeTest` of ``num_steps`` steps for this spec."""
        return RangeTest(
            self.start_lr,
            self.end_lr,
            num_steps,
            sweep=self.sweep,
            smoothing=self.smoothing,
            diverge_factor=self.diverge_factor,
            group_scales=group_scales,
        )

    def fingerprint(self) -> dict[str, float]:
        """The settings every rank of a distributed run must share, as numbers."""
        return {
            "num_steps": self.num_steps,
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "sweep": float(self.sweep == "exp"),
            "sync_every": self.sync_every,
            "eval_every": 0 if self.eval_every is None else self.eval_every,
            "smoothing": self.smoothing,
            "diverge_factor": self.diverge_factor,
        }


def _check_steps(name: str, value: Any, *, minimum: int) -> int:
    """An integer step count in ``[minimum, MAX_NUM_STEPS]``."""
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if integral and int(value) > MAX_NUM_STEPS:
        raise ValueError(
            f"{name} must be at most {MAX_NUM_STEPS}, a range test of 100 to a few "
            f"thousand steps (got {name}={describe(value)})"
        )
    return check_int(name, value, minimum=minimum)


DEFAULTS = RangeTestSpec()
"""The default settings; runners take their keyword defaults from here."""
