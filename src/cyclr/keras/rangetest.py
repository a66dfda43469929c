"""The LR range test for Keras 3 models: per-batch losses, then everything put back.

Keras' ``logs["loss"]`` in ``fit`` is the running mean over the epoch so far, which lags
the LR sweep and drags every finder built on a callback toward larger LRs. This runner
trains with ``model.train_on_batch``, which resets the loss tracker at each call, so the
loss recorded for step ``i`` is the loss of batch ``i`` alone, at the LR of step ``i``.
The curve's suggestion is then confirmed by training a few candidates around it and
scoring each on batches it did not train on (:func:`cyclr.keras.confirm`): by default the
first batches of ``data`` held aside, better a validation split passed as ``held_out=``;
the result answers from that confirmation. ``held_out=None`` keeps the curve alone.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import keras
from keras import ops

from .._batches import BatchStream, check_batches
from .._held_aside import AUTO, check_held_out_choice, hold_aside, is_auto
from .._validate import check_count
from ..rangetest import RangeTest, RangeTestResult
from ..rangetest.confirm import CONFIRM_STEPS
from ..rangetest.confirm_stage import after_sweep, check_run_length
from ..rangetest.runner import Runner, Step
from ..rangetest.spec import DEFAULTS, RangeTestSpec
from ._rng import replaying, rng_preserved
from ._training import Snapshot, SweepLR, compile_state_preserved, compiled, next_batch
from .confirm import check_held_out, confirm, held_out_batches

__all__ = ["range_test"]

MetricFn = Callable[[Any], Any]


def range_test(  # noqa: D417  (the shared settings are documented on RangeTestSpec)
    model: Any,
    data: Iterable[Any],
    *,
    start_lr: float = DEFAULTS.start_lr,
    end_lr: float = DEFAULTS.end_lr,
    num_steps: int = DEFAULTS.num_steps,
    max_steps: int | None = None,
    sweep: str = DEFAULTS.sweep,
    smoothing: float = DEFAULTS.smoothing,
    diverge_factor: float = DEFAULTS.diverge_factor,
    metric_fn: MetricFn | None = None,
    eval_every: int | None = None,
    progress: bool | None = None,
    held_out: Iterable[Any] | str | None = AUTO,
    confirm_steps: int = CONFIRM_STEPS,
    total_steps: int | None = None,
) -> RangeTestResult:
    r"""Run an LR range test on a compiled Keras model and restore it exactly afterwards.

    Step ``i`` trains on one batch with ``model.train_on_batch`` at (exp sweep,
    ``n = num_steps``)

    .. math:: lr_i = start\_lr \cdot (end\_lr / start\_lr)^{i / (n - 1)}

    (``start_lr + (end_lr - start_lr) * i / (n - 1)`` for ``sweep="linear"``), and records
    that batch's loss (the compiled loss plus any ``add_loss`` terms, as the optimizer
    minimizes it), not Keras' running epoch mean. Smoothing and the stopping rule are
    those of :class:`~cyclr.rangetest.RangeTest`. The model's compiled optimizer,
    loss and metrics are used as they are; the optimizer's LR (a float, a schedule or a
    callable) is replaced by the sweep for the duration of the test.

    **Restoring.** Before the first step the model's variables (weights, non-trainable
    state such as batch-norm statistics and dropout seeds), the optimizer's variables
    (step count, slots, LR), the metrics' variables and, on the PyTorch backend, torch's
    global RNG state (unseeded dropout draws from it) are copied to host memory; when
    the test ends, whether it finished or raised, they are assigned back bit for bit,
    the optimizer's LR object is put back and the compiled train function is rebuilt.
    An unbuilt model is built with the first batch, an unbuilt optimizer on the model's
    trainable variables, before the copy.

    **Batches.** ``data`` is any iterable of batches ``(x, y)`` or ``(x, y,
    sample_weight)`` (a list, a generator, a ``keras.utils.PyDataset``); a batch that is
    not a tuple is passed as ``x`` alone. A re-iterable is started again when it runs
    out; an iterator that runs out raises ``ValueError``.

    **Confirmation** (on by default). A range test sees each LR for a step or two, so after
    the sweep the curve's suggestion is confirmed by :func:`cyclr.keras.confirm`: a few
    candidates around it train ``confirm_steps`` steps each from the restored state on the
    same batches, and the LR is read from their losses on held-out batches (the
    candidates, the score and the reading: :mod:`cyclr.rangetest.confirm`): ``held_out=``
    (validation data: the best choice) or, by default (``held_out="auto"``), the first
    batches of ``data`` held aside. ``result.suggest()`` then returns the confirmed LR
    (method ``"confirmed"``), ``result.clr_bounds()`` and ``result.schedule()`` use the
    confirmation's bounds, ``result.confirmation`` holds every candidate's held-out
    losses, and ``result.steps_spent`` counts the steps of both stages (about 300 by
    default; three times the confirmation's steps more when no candidate learned). On the
    benchmark suite (run with :func:`cyclr.torch.range_test`, 13 tasks, eight seeds) the
    default took the median regret from 0.72 target units (the curve alone) to 0.42 and
    the worst task from 8.9 to 4.4 (``benchmarks/RESULTS.md``). The state is restored
    after the confirmation too. A curve with no suggestion is returned unconfirmed (with a
    warning when validation batches go unused); so is a run where nothing can be held
    aside (``data`` an iterator, a pass of fewer than five batches), which
    ``result.settings["held_out"]`` says, and one whose held-aside batches cannot be
    scored (with a warning after the sweep).

    Args:
        model: A compiled Keras model (``model.compile(optimizer=..., loss=...)``).
        data: An iterable of batches.
        start_lr, end_lr, num_steps, max_steps, sweep, smoothing, diverge_factor: The
            sweep, its reruns when the curve shows no clear fall, and the stopping rule,
            as in :class:`~cyclr.rangetest.RangeTestSpec` (which documents and checks
            them; the reruns are :func:`cyclr.rangetest.driver.extend_until_readable`).
        metric_fn: ``metric_fn(model) -> float`` (higher is better, e.g. validation
            accuracy) evaluated every ``eval_every`` steps and stored in
            ``result.metrics``.
        eval_every: Steps between metric evaluations (1 by default with a ``metric_fn``).
        progress: Show a tqdm bar: ``True``, ``False``, or ``None`` for "when standard
            error is a terminal".
        held_out: What the confirmation scores the candidates on. ``"auto"`` (the
            default): the first batches of ``data`` held aside (a fifth of a pass at
            most, about 1,000 examples at most), every pass starting after them
            (:mod:`cyclr._held_aside`: every pass is checked to begin with them, the
            random generators replayed; data whose passes differ, a ``tf.data`` pipeline
            that reshuffles, holds nothing aside); ``result.settings["held_out"]`` says
            what was held aside. Validation batches the model does not train on (a few; read once,
            kept in memory): better where there are some. ``None``: the curve alone.
        confirm_steps: Optimizer steps per confirmation candidate.
        total_steps: Optimizer steps of the run you will train at the suggested LR
            (not with ``held_out=None``): kept in ``result.settings["total_steps"]``, so that
            ``result.suggest()`` fits the confirmed LR to it
            (:mod:`cyclr.rangetest.horizon`); ``None``: the window's LR.

    Returns:
        A :class:`~cyclr.rangetest.RangeTestResult`, the same as the PyTorch runner's:
        unless ``held_out=None``, with its ``confirmation``.

    Raises:
        TypeError: If ``model`` is not a Keras model, ``data`` or ``held_out`` is not an
            iterable of batches, ``metric_fn`` is not callable, or ``confirm_steps`` is
            not an integer.
        ValueError: If the model is not compiled with an optimizer, uses gradient
            accumulation, an argument is out of range, ``data`` is empty or exhausted,
            ``held_out`` is empty, or ``total_steps`` is given with ``held_out=None``
            (all checked before the first step).
        cyclr.errors.NoReliableSuggestionError: If every confirmation candidate
            diverged, also one window lower (the curve's suggestion is far too high to
            train at).

    Example:
        >>> import keras, numpy as np
        >>> from cyclr.keras import range_test
        >>> keras.utils.set_random_seed(0)
        >>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
        >>> y = x.sum(axis=1, keepdims=True)
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        >>> before = [w.copy() for w in model.get_weights()]
        >>> data = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)]
        >>> result = range_test(model, data, start_lr=1e-3, end_lr=10.0, num_steps=60,
        ...                     progress=False)
        >>> result.stop_reason
        'diverged'
        >>> all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
        True

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        https://arxiv.org/abs/1506.01186
    """
    spec = RangeTestSpec.from_arguments(locals(), sync_every=1)
    with rng_preserved(data), compile_state_preserved(model):  # as they were
        runner = _KerasRunner(spec, model, data)
        check_count("confirm_steps", confirm_steps)
        check_held_out_choice(held_out)
        run_length = check_run_length(total_steps, held_out)
        aside = None
        if is_auto(held_out):
            aside = hold_aside(data, replaying(data)).scorable(
                lambda b: check_held_out(model, held_out_batches(b, model))
            )
            runner.data = data = aside.data
            held = held_out_batches(aside.held, model) if aside.held else None
        else:
            held = None if held_out is None else held_out_batches(held_out, model)
            if held is not None:
                check_held_out(model, held)
        result = runner.run()
        run = (
            None
            if held is None
            else lambda lr, steps: confirm(model, data, lr=lr, held_out=held, steps=steps)
        )
        return after_sweep(result, aside, run, confirm_steps, run_length)


MAX_SKIPPED_UPDATES = 32
"""Updates in a row a loss scaler may skip before a step counts as not finite: from
Keras' initial scale ``2**15``, 32 halvings reach ``2**-17``."""


def _updates(optimizer: Any) -> int:
    """The updates ``optimizer`` has applied (its ``iterations``)."""
    return int(ops.convert_to_numpy(ops.convert_to_tensor(optimizer.iterations)))


class _KerasRunner(Runner):
    """One compiled Keras model: ``train_on_batch`` at the sweep's LRs, read back exactly."""

    name = "cyclr.keras.range_test"

    def __init__(self, spec: RangeTestSpec, model: Any, data: Iterable[Any]) -> None:
        super().__init__(spec)
        optimizer, inner = compiled(model, "the range test")
        if getattr(optimizer, "gradient_accumulation_steps", None):
            raise ValueError(
                "optimizer.gradient_accumulation_steps must be None for the range test: each "
                "step must apply one batch's update (got gradient_accumulation_steps="
                f"{optimizer.gradient_accumulation_steps!r})"
            )
        check_batches(data)
        self.model, self.optimizer, self.inner, self.data = model, optimizer, inner, data

    @contextlib.contextmanager
    def session(self, rt: RangeTest) -> Iterator[Step]:
        model, optimizer, inner = self.model, self.optimizer, self.inner
        stream = BatchStream(self.data)
        first = next_batch(stream)
        if not model.built:
            model(first[0])
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        snapshot = Snapshot(model, optimizer)
        original_lr = inner._learning_rate
        first_step = _updates(inner)

        scaled = optimizer is not inner  # a LossScaleOptimizer may skip an update

        def step(i: int, lrs: tuple[float, ...]) -> float:
            batch = first if i == 0 else next_batch(stream)
            for _ in range(MAX_SKIPPED_UPDATES):
                x, y, sample_weight = batch
                logs = model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)
                if not scaled or _updates(inner) > first_step + i:
                    return float(logs["loss"])
                batch = next_batch(stream)  # skipped: again, at the same LR
            return math.nan  # the loss scale kept falling: its gradients are not finite

        try:
            object.__setattr__(inner, "_learning_rate", SweepLR(rt.sweep.lrs(), first_step))
            model.make_train_function(force=True)
            yield step
        finally:
            self.data_restarts = stream.restarts
            object.__setattr__(inner, "_learning_rate", original_lr)
            snapshot.restore()
            model.make_train_function(force=True)

    def metric(self) -> float:
        metric_fn = self.spec.metric_fn
        if metric_fn is None:  # pragma: no cover - the skeleton calls it only with one
            raise RuntimeError("no metric_fn to evaluate")
        return float(metric_fn(self.model))

    def framework_settings(self) -> dict[str, Any]:
        return {
            "model": type(self.model).__name__,
            "optimizer": type(self.inner).__name__,
            "keras_backend": keras.backend.backend(),
            "keras_version": keras.__version__,
        }
