"""The LR range test for functional JAX training: pure steps in, a result out.

JAX training is a pure function ``train_step(params, opt_state, batch, lr) ->
(params, opt_state, loss)``; the range test runs it at rising LRs on its own copy of the
state, so the caller's ``params`` and ``opt_state`` are never touched (even by a
``train_step`` that donates its buffers) and nothing needs restoring. The losses stay on
the device and are read every ``sync_every`` steps in one transfer. With ``held_out=``
(validation batches) and ``eval_loss=`` the curve's suggestion is then confirmed by
training a few candidates around it (:func:`cyclr.jax.confirm`), and the result answers
from that confirmation.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._batches import BatchStream, check_batches
from .._held_aside import check_held_out_choice, hold_aside, is_auto
from .._host_rng import host_rng_preserved, replaying
from .._validate import check_count
from ..rangetest import RangeTest, RangeTestResult
from ..rangetest.confirm import CONFIRM_STEPS
from ..rangetest.confirm_stage import after_sweep, check_run_length
from ..rangetest.driver import callable_name
from ..rangetest.runner import Runner, Step
from ..rangetest.spec import DEFAULTS, RangeTestSpec
from ._steps import EvalLoss, TrainStep, copy_tree, step_outputs
from .confirm import check_eval_loss, confirm, held_out_batches

__all__ = ["range_test"]

MetricFn = Callable[[Any], Any]


def range_test(  # noqa: D417  (the shared settings are documented on RangeTestSpec)
    train_step: TrainStep,
    params: Any,
    opt_state: Any,
    batches: Iterable[Any],
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
    sync_every: int = DEFAULTS.sync_every,
    progress: bool | None = None,
    held_out: Iterable[Any] | str | None = None,
    eval_loss: EvalLoss | None = None,
    confirm_steps: int = CONFIRM_STEPS,
    total_steps: int | None = None,
) -> RangeTestResult:
    r"""Run an LR range test with a pure JAX training step.

    Step ``i`` calls ``train_step(params, opt_state, batch, lr_i)`` with (exp sweep,
    ``n = num_steps``)

    .. math:: lr_i = start\_lr \cdot (end\_lr / start\_lr)^{i / (n - 1)}

    (``start_lr + (end_lr - start_lr) * i / (n - 1)`` for ``sweep="linear"``), passed as
    a float32 scalar array so a jitted ``train_step`` compiles once. The step must use
    ``lr`` as its learning rate, typically through ``optax.inject_hyperparams``::

        opt = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)

        @jax.jit
        def train_step(params, opt_state, batch, lr):
            opt_state.hyperparams["learning_rate"] = lr
            loss, grads = jax.value_and_grad(loss_fn)(params, batch)
            updates, opt_state = opt.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

    Smoothing and the stopping rule are those of :class:`~cyclr.rangetest.RangeTest`.

    **No per-step host transfer.** The losses stay on the device and are copied to the
    host together every ``sync_every`` steps (and at each metric evaluation), where the
    stopping rule runs. Up to ``sync_every - 1`` steps can run past the step where the
    test stops; their losses are discarded and ``result.settings["steps_run"]`` counts
    them.

    **Untouched state.** The test trains a copy of ``params`` and ``opt_state`` (every
    leaf copied, containers rebuilt), so the caller's arrays stay valid and unchanged
    even if ``train_step`` donates its arguments or mutates ``opt_state.hyperparams``
    outside ``jit``.

    **Batches.** ``batches`` is any iterable of batches, passed to ``train_step`` as
    they are. A re-iterable (a list) is started again when it runs out; an iterator
    that runs out raises ``ValueError``.

    **Confirmation** (``held_out=`` with ``eval_loss=``, recommended whenever validation
    batches are at hand). A range test sees each LR for a step or two, so after the sweep
    the curve's suggestion is confirmed by :func:`cyclr.jax.confirm`: a few candidates
    around it train ``confirm_steps`` steps each from a copy of ``params`` and
    ``opt_state`` on the same batches, and the LR is read from their held-out losses (the
    mean of ``eval_loss`` over ``held_out``; the candidates, the score and the reading:
    :mod:`cyclr.rangetest.confirm`).
    ``result.suggest()`` then returns it (method ``"confirmed"``), ``result.clr_bounds()``
    and ``result.schedule()`` use the confirmation's bounds, ``result.confirmation`` holds
    every candidate's held-out losses, and ``result.steps_spent`` counts the steps of both
    stages (about 300 by default; three times the confirmation's steps more when no
    candidate learned). On the benchmark suite (PyTorch tasks, the same rule, eight seeds)
    the confirmed LR took the median regret from 0.72 target units to 0.42 and the worst
    task from 8.9 to 4.7, and its bounds removed every collapse of Smith's
    (``benchmarks/RESULTS.md``, "The one call with eight seeds"). The caller's state is not
    touched by the confirmation either. A curve with no suggestion is returned unconfirmed
    (with a warning when validation batches go unused).

    Args:
        train_step: ``train_step(params, opt_state, batch, lr) -> (params, opt_state,
            loss)`` with a scalar ``loss``.
        params: The parameters (any pytree); not modified.
        opt_state: The optimizer state (any pytree); not modified.
        batches: An iterable of batches.
        start_lr, end_lr, num_steps, max_steps, sweep, smoothing, diverge_factor: The
            sweep, its reruns when the curve shows no clear fall, and the stopping rule,
            as in :class:`~cyclr.rangetest.RangeTestSpec` (which documents and checks
            them; the reruns are :func:`cyclr.rangetest.driver.extend_until_readable`).
        metric_fn: ``metric_fn(params) -> float`` (higher is better, e.g. validation
            accuracy) evaluated every ``eval_every`` steps and stored in
            ``result.metrics``.
        eval_every: Steps between metric evaluations (1 by default with a ``metric_fn``).
        sync_every: Steps between host reads of the losses (and stop checks).
        progress: Show a tqdm bar: ``True``, ``False``, or ``None`` for "when standard
            error is a terminal".
        held_out: Validation batches the model does not train on (a few; read once,
            kept in memory), to confirm the suggestion on; ``None``: the curve alone.
            ``"auto"``: the first batches of ``batches`` held aside (a fifth of a pass
                at most, about 1,000 examples at most), every pass starting after them
                (:mod:`cyclr._held_aside`); ``result.settings["held_out"]`` says what
                was held aside.
            Needs ``eval_loss``.
        eval_loss: ``eval_loss(params, batch) -> scalar``, the mean loss on one
            held-out batch in inference mode (jit it); needs ``held_out``.
        confirm_steps: Optimizer steps per confirmation candidate.
        total_steps: Optimizer steps of the run you will train at the suggested LR
            (needs ``held_out``): kept in ``result.settings["total_steps"]``, so that
            ``result.suggest()`` fits the confirmed LR to it
            (:mod:`cyclr.rangetest.horizon`); ``None``: the window's LR.

    Returns:
        A :class:`~cyclr.rangetest.RangeTestResult`, the same as the PyTorch and Keras
        runners return: ``elapsed_s`` is the sweep's time (the confirmation's time is not
        in it) and, with ``held_out``, it holds the ``confirmation``.

    Raises:
        TypeError: If ``train_step``, ``metric_fn`` or ``eval_loss`` is not callable,
            ``batches`` or ``held_out`` is not an iterable of batches, or ``train_step``
            does not return a 3-tuple.
        ValueError: For an argument out of range, empty or exhausted ``batches``, a loss
            that is not a scalar, an empty ``held_out``, or ``held_out`` without
            ``eval_loss`` or ``eval_loss`` without ``held_out``, or ``total_steps``
            without ``held_out`` (the arguments all checked before the first step).
        cyclr.errors.NoReliableSuggestionError: If every confirmation candidate
            diverged, also one window lower (the curve's suggestion is far too high to
            train at).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from cyclr.jax import range_test
        >>> x = jnp.linspace(-1.0, 1.0, 64)
        >>> batches = [(x[i : i + 16], 3.0 * x[i : i + 16]) for i in range(0, 64, 16)]
        >>> def train_step(w, state, batch, lr):
        ...     x, y = batch
        ...     loss, grad = jax.value_and_grad(lambda w: jnp.mean((w * x - y) ** 2))(w)
        ...     return w - lr * grad, state, loss
        >>> w = jnp.zeros(())
        >>> result = range_test(jax.jit(train_step), w, None, batches, start_lr=1e-3,
        ...                     end_lr=100.0, num_steps=80, progress=False)
        >>> result.stop_reason, float(w)
        ('diverged', 0.0)

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        https://arxiv.org/abs/1506.01186
    """
    spec = RangeTestSpec.from_arguments(locals())
    with host_rng_preserved(batches):  # NumPy, Python, torch and the loader's own, as they were
        return _run(spec, train_step, params, opt_state, batches, held_out, eval_loss,
                    confirm_steps, total_steps)  # fmt: skip


def _run(
    spec: RangeTestSpec,
    train_step: Any,
    params: Any,
    opt_state: Any,
    batches: Any,
    held_out: Any,
    eval_loss: Any,
    confirm_steps: Any,
    total_steps: Any,
) -> RangeTestResult:
    """The range test and its confirmation, under the caller's random states."""
    runner = _JaxRunner(spec, train_step, params, opt_state, batches)
    check_count("confirm_steps", confirm_steps)
    check_held_out_choice(held_out)
    run_length = check_run_length(total_steps, held_out)
    held, aside = None, None
    if is_auto(held_out):
        if eval_loss is None:
            raise ValueError(
                "held_out='auto' scores the batches it holds aside with eval_loss(params, "
                "batch) -> loss: pass eval_loss= (got eval_loss=None)"
            )
        aside = hold_aside(batches, replaying(batches))
        runner.batches = batches = aside.data
        held = held_out_batches(aside.held, eval_loss) if aside.held else None
    elif held_out is not None or eval_loss is not None:
        held = held_out_batches(held_out, eval_loss)
    if held is not None:
        check_eval_loss(eval_loss, params, held)  # type: ignore[arg-type]
    result = runner.run()
    score = eval_loss
    run = (
        None
        if held is None or score is None
        else lambda lr, steps: confirm(
            train_step,
            params,
            opt_state,
            batches,
            lr=lr,
            held_out=held,
            eval_loss=score,
            steps=steps,
        )
    )
    return after_sweep(result, aside, run, confirm_steps, run_length)


class _JaxRunner(Runner):
    """A functional train step over copies of the caller's pytrees; theirs are never touched."""

    name = "cyclr.jax.range_test"

    def __init__(
        self, spec: RangeTestSpec, train_step: Any, params: Any, opt_state: Any, batches: Any
    ) -> None:
        super().__init__(spec)
        if not callable(train_step):
            raise TypeError(f"train_step must be callable (got train_step={train_step!r})")
        check_batches(batches, name="batches")
        self.train_step, self.params, self.opt_state = train_step, params, opt_state
        self.batches = batches
        self._current: Any = None

    @contextlib.contextmanager
    def session(self, rt: RangeTest) -> Iterator[Step]:
        lrs = _float32_lrs(rt)
        state = [copy_tree(self.params), copy_tree(self.opt_state)]
        self._current = state
        stream = BatchStream(self.batches, name="batches")
        train_step = self.train_step

        def step(i: int, group_lrs: tuple[float, ...]) -> Any:
            out = train_step(state[0], state[1], stream.next(), lrs[i])
            state[0], state[1], loss = step_outputs(out, first=i == 0)
            return loss

        try:
            yield step
        finally:
            self.data_restarts = stream.restarts
            self._current = None

    @staticmethod
    def read(losses: list[Any], metric: float | None) -> tuple[list[float], float | None]:
        host = np.asarray(jax.device_get(jnp.stack(losses)), dtype=np.float64)
        return host.tolist(), metric

    def metric(self) -> float:
        metric_fn = self.spec.metric_fn
        if metric_fn is None or self._current is None:  # pragma: no cover - skeleton contract
            raise RuntimeError("no metric_fn to evaluate")
        return float(metric_fn(self._current[0]))

    def framework_settings(self) -> dict[str, Any]:
        return {
            "train_step": callable_name(self.train_step),
            "device": jax.default_backend(),
            "jax_version": jax.__version__,
        }


def _float32_lrs(rt: RangeTest) -> list[Any]:
    """The sweep's LRs as float32 device scalars; refused when float32 cannot hold them."""
    lrs = np.asarray(rt.sweep.lrs(), dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):  # refused below, by name
        single = lrs.astype(np.float32)
    bad = ~np.isfinite(single) | (single <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind = "overflows to inf" if lrs[i] > 1 else "underflows to 0"
        raise ValueError(
            f"the JAX range test passes float32 LRs, and lr={lrs[i]!r} at step {i} {kind} "
            f"in float32: keep start_lr and end_lr within float32's normal range "
            f"(got start_lr={rt.sweep.start_lr!r}, end_lr={rt.sweep.end_lr!r})"
        )
    if np.any(np.diff(single.astype(np.float64)) <= 0):
        raise ValueError(
            "the JAX range test passes float32 LRs, and float32 cannot tell the sweep's "
            f"steps apart (got start_lr={rt.sweep.start_lr!r}, end_lr={rt.sweep.end_lr!r}, "
            f"num_steps={rt.num_steps}): widen the range or take fewer steps"
        )
    return list(jnp.asarray(single))
