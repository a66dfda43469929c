"""The demo's experiment: range test, bounds, then fixed LR vs triangular2 vs one-cycle.

:func:`run_demo` is what ``cyclr demo`` and ``benchmarks/bench_demo.py`` run:

1. an exponential LR range test on a fresh model (:func:`cyclr.torch.range_test`), read
   from its curve alone as in the paper (``held_out=None``), or with ``confirm=True``
   (``cyclr demo --confirm``) at the library's default, the curve's suggestion confirmed
   on batches held aside (``held_out="auto"``), which on this task takes the fixed run's
   LR from about 0.03 to 0.1 and the bounds below Smith's (``benchmarks/RESULTS.md``,
   "The default confirms on batches held aside");
2. the suggestion (:meth:`~cyclr.rangetest.RangeTestResult.suggest`) and the CLR bounds
   (:meth:`~cyclr.rangetest.RangeTestResult.clr_bounds`) read from its curve;
3. three training runs from the same initialization, on the same batches, for the same
   number of steps: a fixed LR at the suggestion, ``result.schedule("triangular2", ...)``
   between the bounds for a whole number of cycles, and ``result.schedule("onecycle",
   ...)`` up to ``max_lr``.

The comparison follows Smith (2017), who reports the fixed-LR CIFAR-10 accuracy after
70,000 iterations (81.4%) reached by triangular2 within 25,000: the *target* is the
fixed-LR run's final held-out accuracy (the mean of its last
:data:`~cyclr.demo.train.FINAL_EVALS` evaluations, so that one noisy evaluation does not
decide), each run's *steps to target* is the first evaluated step at which it reaches
it, and the *speed-up* of a run is the fixed run's steps to target divided by its own.
The fixed run scores 1.0 by construction, and a fixed run that plateaued early is not
flattered by counting its whole budget.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186

    L. N. Smith and N. Topin, "Super-Convergence", https://arxiv.org/abs/1708.07120
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._validate import check_choice, check_int, check_type
from ..rangetest import RangeTestResult, Suggestion
from ..schedules import Constant, OneCycle, Schedule, Triangular2
from ..torch import range_test
from .data import Task, load_digits, load_mnist1d
from .train import Batches, Curve, make_optimizer, tiny_cnn, train

__all__ = ["DemoConfig", "DemoResult", "Run", "run_demo"]

RUN_LABELS = {"fixed": "fixed LR", "triangular2": "triangular2", "onecycle": "one-cycle"}
"""Display names of the three runs, in the order they are trained."""


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Everything that defines one demo run; :meth:`preset` gives the tuned settings.

    Attributes:
        task: ``"mnist1d"`` or ``"digits"``.
        seed: Seed of the initialization and the batch order (shared by all runs).
        batch_size: Samples per optimizer step.
        epochs_per_half_cycle: Epochs from ``base_lr`` to ``max_lr`` in triangular2.
        cycles: Whole triangular2 cycles; the step budget of every run is
            ``cycles * 2 * round(epochs_per_half_cycle * steps_per_epoch)``.
        eval_every: Steps between held-out evaluations.
        range_test_steps: Steps of the range-test sweep.
        start_lr: First LR of the sweep.
        end_lr: Last LR of the sweep.
        width: Channels of the CNN.
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        num_samples: MNIST-1D sequences to generate (``None``: the standard 5,000).
        suggestion_method: The rule of the fixed run's LR (see
            :meth:`~cyclr.rangetest.RangeTestResult.suggest`); ``None``: its default.
        confirm: Run the range test at its default, the curve's suggestion confirmed on
            batches held aside (``held_out="auto"``); ``False``: the curve alone, as the
            paper reads it (``held_out=None``).
        threads: ``torch.set_num_threads`` for the run. One is fastest: the model is so
            small that a second thread only adds synchronisation, and on a busy machine
            (or with two cores) it can make training several times slower.
    """

    task: str = "mnist1d"
    seed: int = 0
    batch_size: int = 100
    epochs_per_half_cycle: float = 8.0
    cycles: int = 3
    eval_every: int = 50
    range_test_steps: int = 200
    start_lr: float = 1e-4
    end_lr: float = 10.0
    width: int = 32
    momentum: float = 0.9
    weight_decay: float = 5e-4
    num_samples: int | None = None
    suggestion_method: str | None = None
    threads: int = 1
    confirm: bool = False

    def __post_init__(self) -> None:
        check_choice("task", self.task, ("mnist1d", "digits"))
        check_int("seed", self.seed, minimum=0)
        check_int("cycles", self.cycles)
        check_int("threads", self.threads)
        check_type("confirm", self.confirm, bool, "a bool")
        if self.num_samples is not None and self.task != "mnist1d":
            raise ValueError(
                f"num_samples applies only to task='mnist1d' (got task={self.task!r}, "
                f"num_samples={self.num_samples!r})"
            )

    @classmethod
    def preset(
        cls,
        task: str = "mnist1d",
        *,
        quick: bool = False,
        seed: int = 0,
        threads: int = 1,
        confirm: bool = False,
    ) -> DemoConfig:
        """The demo's settings for ``task``, full or ``quick`` (a few seconds, for tests).

        Example:
            >>> DemoConfig.preset("mnist1d", quick=True).cycles
            2
        """
        check_choice("task", task, ("mnist1d", "digits"))
        base = cls(task=task, seed=seed, threads=threads, confirm=confirm)
        if quick:
            return dataclasses.replace(
                base,
                batch_size=50,
                epochs_per_half_cycle=2.0,
                cycles=2,
                eval_every=16,
                num_samples=2000 if task == "mnist1d" else None,
            )
        if task == "digits":
            return dataclasses.replace(base, batch_size=50, eval_every=20)
        return base


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of the comparison.

    Attributes:
        name: ``"fixed"``, ``"triangular2"`` or ``"onecycle"``.
        schedule: The schedule it trained with.
        curve: Its held-out accuracy curve.
    """

    name: str
    schedule: Schedule
    curve: Curve

    @property
    def label(self) -> str:
        """Display name."""
        return RUN_LABELS[self.name]


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` measured.

    Attributes:
        config: The settings.
        task_title: One-line description of the data.
        num_weights: Trainable parameters of the model.
        steps_per_epoch: Optimizer steps per epoch.
        total_steps: Step budget of every run.
        range_test: The range-test curve.
        suggestion: The suggested LR (the fixed run's LR).
        bounds: ``(base_lr, max_lr)`` read from the curve.
        runs: The three runs, fixed LR first.
        seconds: Wall-clock time of the whole demo (data, test and training).
    """

    config: DemoConfig
    task_title: str
    num_weights: int
    steps_per_epoch: int
    total_steps: int
    range_test: RangeTestResult
    suggestion: Suggestion
    bounds: tuple[float, float]
    runs: tuple[Run, ...]
    seconds: float

    @property
    def fixed(self) -> Run:
        """The fixed-LR baseline."""
        return self.runs[0]

    @property
    def target(self) -> float:
        """The fixed-LR run's final held-out accuracy (mean of its last evaluations)."""
        return self.fixed.curve.final_accuracy

    def steps_to_target(self, run: Run) -> int | None:
        """First evaluated step at which ``run`` reaches :attr:`target`, or ``None``."""
        return run.curve.steps_to_reach(self.target)

    def speedup(self, run: Run) -> float | None:
        """The fixed run's steps to target over ``run``'s, or ``None`` if never reached."""
        baseline, mine = self.steps_to_target(self.fixed), self.steps_to_target(run)
        if baseline is None or mine is None:
            return None
        return baseline / mine

    def summary(self) -> dict[str, Any]:
        """A JSON-safe summary: settings, suggestion, bounds, and each run's numbers."""
        return {
            "task": self.config.task,
            "task_title": self.task_title,
            "config": dataclasses.asdict(self.config),
            "model_weights": self.num_weights,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "epochs": self.total_steps / self.steps_per_epoch,
            "range_test": {
                "steps": self.range_test.num_recorded,
                "stop_reason": self.range_test.stop_reason,
                "seconds": self.range_test.elapsed_s,
            },
            "suggestion": {
                "lr": self.suggestion.lr,
                "method": self.suggestion.method,
                "interval": list(self.suggestion.interval),
            },
            "bounds": {"base_lr": self.bounds[0], "max_lr": self.bounds[1]},
            "target_accuracy": self.target,
            "runs": [
                {
                    "name": run.name,
                    "label": run.label,
                    "schedule": run.schedule.to_dict(),
                    "final_accuracy": run.curve.final_accuracy,
                    "best_accuracy": float(run.curve.accuracy.max()),
                    "steps_to_target": self.steps_to_target(run),
                    "speedup": self.speedup(run),
                    "seconds": run.curve.seconds,
                    "eval_steps": run.curve.steps.tolist(),
                    "accuracy": run.curve.accuracy.tolist(),
                }
                for run in self.runs
            ],
            "seconds": self.seconds,
        }


def _load(config: DemoConfig) -> Task:
    if config.task == "digits":
        return load_digits()
    return load_mnist1d(5000 if config.num_samples is None else config.num_samples)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _describe(schedule: Schedule, steps_per_epoch: int) -> str:
    """One line saying what a schedule does, in the demo's terms."""
    if isinstance(schedule, Constant):
        return f"lr {_fmt(schedule.lr)} throughout"
    if isinstance(schedule, Triangular2):
        half = schedule.step_size_up
        return (
            f"{_fmt(schedule.base_lr)} <-> {_fmt(schedule.max_lr)}, {half} steps "
            f"({half / steps_per_epoch:g} epochs) per half cycle, amplitude halved each cycle"
        )
    if isinstance(schedule, OneCycle):
        return (
            f"{_fmt(schedule.initial_lr)} -> {_fmt(schedule.max_lr)} over "
            f"{schedule.pct_start:.0%} of the run, then cosine down to {_fmt(schedule.final_lr)}"
        )
    return repr(schedule)


def run_demo(
    config: DemoConfig,
    *,
    log: Callable[[str], None] = lambda line: None,
    progress: bool | None = None,
) -> DemoResult:
    """Run the range test and the three-way comparison described in the module docstring.

    Args:
        config: The settings (see :meth:`DemoConfig.preset`).
        log: Called with one line of text at each stage (``print`` in the CLI).
        progress: Progress bars: ``True``, ``False``, or ``None`` for "on a terminal".

    Returns:
        The measurements.

    Raises:
        cyclr.errors.NoReliableSuggestionError: If the range test gives no suggestion or
            bounds.
    """
    started = time.perf_counter()
    torch.set_num_threads(config.threads)
    task = _load(config)
    spe = len(task.x_train) // config.batch_size
    torch.manual_seed(config.seed)
    model = tiny_cnn(task.length, task.num_classes, config.width)
    num_weights = sum(p.numel() for p in model.parameters())
    log(f"data:  {task.title}")
    log(
        f"model: tiny 1-D CNN ({num_weights:,} weights), SGD momentum {config.momentum}, "
        f"weight decay {config.weight_decay:g}, batch {config.batch_size} "
        f"({spe} steps/epoch), seed {config.seed}, {config.threads} torch thread(s)"
    )

    log("")
    log(
        f"1. LR range test: lr {config.start_lr:g} -> {config.end_lr:g}, exponential, "
        f"at most {config.range_test_steps} steps, "
        + (
            "its suggestion confirmed on batches held aside (held_out='auto')"
            if config.confirm
            else "read from the curve alone as in the paper (held_out=None)"
        )
    )
    x_train, y_train = torch.from_numpy(task.x_train), torch.from_numpy(task.y_train)
    result = range_test(
        model,
        make_optimizer(model, config.start_lr, config.momentum, config.weight_decay),
        Batches(x_train, y_train, config.batch_size, config.seed),
        nn.CrossEntropyLoss(),
        held_out="auto" if config.confirm else None,  # None: Smith's reading of the curve
        start_lr=config.start_lr,
        end_lr=config.end_lr,
        num_steps=config.range_test_steps,
        progress=progress,
    )
    suggestion = result.suggest(config.suggestion_method)
    bounds = result.clr_bounds()
    fall = suggestion.evidence.get("fall_lrs")
    log(
        f"   {result.num_recorded} steps in {result.elapsed_s or 0.0:.1f} s, "
        f"stopped: {result.stop_reason}"
        + (
            f"; the fitted loss is highest at lr {_fmt(fall[0])}, lowest at {_fmt(fall[1])}"
            if fall
            else ""
        )
    )
    log(
        f"   suggestion ({suggestion.method}): lr = {_fmt(suggestion.lr)} "
        f"(about as good: {_fmt(suggestion.interval[0])} to {_fmt(suggestion.interval[1])})"
    )
    log(
        f"   CLR bounds: base_lr = {_fmt(bounds[0])} "
        + (
            "(a quarter of max_lr), "
            f"max_lr = {_fmt(bounds[1])} (the largest candidate that trained steadily, "
            "or the confirmed LR)"
            if result.confirmation is not None
            else f"(the loss has fallen 10% of its drop), max_lr = {_fmt(bounds[1])} "
            "(within 10% of its minimum)"
        )
    )

    triangular2 = result.schedule(
        "triangular2", spe, epochs_per_half_cycle=config.epochs_per_half_cycle
    )
    if not isinstance(triangular2, Triangular2):  # pragma: no cover - result.schedule's contract
        raise TypeError(f"expected a Triangular2 schedule (got {triangular2!r})")
    total_steps = config.cycles * triangular2.cycle_steps
    onecycle = result.schedule("onecycle", spe, total_steps=total_steps)
    schedules = {"fixed": Constant(suggestion.lr), "triangular2": triangular2, "onecycle": onecycle}
    log("")
    log(
        f"2. training, same seed, batches and budget: {total_steps:,} steps "
        f"({total_steps / spe:g} epochs) each"
    )
    for name, schedule in schedules.items():
        log(f"   {RUN_LABELS[name]:<12} {_describe(schedule, spe)}")
    runs = []
    for name, schedule in schedules.items():
        curve = train(
            task,
            schedule,
            total_steps,
            batch_size=config.batch_size,
            seed=config.seed,
            eval_every=config.eval_every,
            width=config.width,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            progress=progress,
            desc=RUN_LABELS[name],
        )
        runs.append(Run(name, schedule, curve))
        log(
            f"   {RUN_LABELS[name]:<12} final accuracy {curve.final_accuracy:.1%} "
            f"({curve.seconds:.1f} s)"
        )
    return DemoResult(
        config=config,
        task_title=task.title,
        num_weights=num_weights,
        steps_per_epoch=spe,
        total_steps=total_steps,
        range_test=result,
        suggestion=suggestion,
        bounds=bounds,
        runs=tuple(runs),
        seconds=time.perf_counter() - started,
    )
