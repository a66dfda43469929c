"""The LR range test for functional JAX training: pure steps in, a result out.

JAX training is a pure function ``train_step(params, opt_state, batch, lr) ->
(params, opt_state, loss)``; the range test runs it at rising LRs on its own copy of the
state, so the caller's ``params`` and ``opt_state`` are never touched (even by a
``train_step`` that donates its buffers) and nothing needs restoring. The losses stay on
the device and are read every ``sync_every`` steps in one transfer.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._batches import BatchStream, check_batches
from ..rangetest import RangeTest, RangeTestResult
from ..rangetest.driver import (
    callable_name,
    check_loop_args,
    drive,
    extend_until_readable,
    resolve_max_steps,
    runner_settings,
)

__all__ = ["range_test"]

TrainStep = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]
MetricFn = Callable[[Any], Any]


def _copy_leaf(leaf: Any) -> Any:
    if isinstance(leaf, jax.Array):
        return jnp.array(leaf, copy=True)
    if isinstance(leaf, np.ndarray):
        return leaf.copy()
    return leaf


def _copy_tree(tree: Any) -> Any:
    """A fresh copy of every array leaf, in new containers."""
    return jax.tree_util.tree_map(_copy_leaf, tree)


def range_test(
    train_step: TrainStep,
    params: Any,
    opt_state: Any,
    batches: Iterable[Any],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    max_steps: int | None = None,
    sweep: str = "exp",
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    metric_fn: MetricFn | None = None,
    eval_every: int | None = None,
    sync_every: int = 10,
    progress: bool | None = None,
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

    Args:
        train_step: ``train_step(params, opt_state, batch, lr) -> (params, opt_state,
            loss)`` with a scalar ``loss``.
        params: The parameters (any pytree); not modified.
        opt_state: The optimizer state (any pytree); not modified.
        batches: An iterable of batches.
        start_lr: The LR of step 0.
        end_lr: The LR of the last step.
        num_steps: Steps in the full sweep (at least 2).
        max_steps: If the curve shows no clear fall (no reliable suggestion), the
            test is run again from the restored state with three times the steps while
            that stays within ``max_steps``; ``None``: ``9 * num_steps``;
            ``max_steps=num_steps`` never reruns (see
            :func:`cyclr.rangetest.driver.extend_until_readable`).
        sweep: ``"exp"`` or ``"linear"``.
        smoothing: EMA factor of the smoothed loss, in ``[0, 1)``.
        diverge_factor: Divergence threshold ``f > 1`` of the stopping rule.
        metric_fn: ``metric_fn(params) -> float`` (higher is better, e.g. validation
            accuracy) evaluated every ``eval_every`` steps and stored in
            ``result.metrics``.
        eval_every: Steps between metric evaluations (1 by default with a ``metric_fn``).
        sync_every: Steps between host reads of the losses (and stop checks).
        progress: Show a tqdm bar: ``True``, ``False``, or ``None`` for "when standard
            error is a terminal".

    Returns:
        A :class:`~cyclr.rangetest.RangeTestResult`, the same as the PyTorch and Keras
        runners return.

    Raises:
        TypeError: If ``train_step`` or ``metric_fn`` is not callable, ``batches`` is not
            an iterable of batches, or ``train_step`` does not return a 3-tuple.
        ValueError: For an argument out of range, empty or exhausted ``batches``, or a
            loss that is not a scalar.

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
    limit = resolve_max_steps(num_steps, max_steps)
    return extend_until_readable(
        lambda n: _range_test_once(
            train_step=train_step,
            params=params,
            opt_state=opt_state,
            batches=batches,
            start_lr=start_lr,
            end_lr=end_lr,
            num_steps=n,
            sweep=sweep,
            smoothing=smoothing,
            diverge_factor=diverge_factor,
            metric_fn=metric_fn,
            eval_every=eval_every,
            sync_every=sync_every,
            progress=progress,
        ),
        num_steps,
        limit,
    )


def _range_test_once(
    train_step: TrainStep,
    params: Any,
    opt_state: Any,
    batches: Iterable[Any],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    sweep: str = "exp",
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    metric_fn: MetricFn | None = None,
    eval_every: int | None = None,
    sync_every: int = 10,
    progress: bool | None = None,
) -> RangeTestResult:
    """One range test of ``num_steps`` steps (see :func:`range_test`)."""
    started = time.perf_counter()
    if not callable(train_step):
        raise TypeError(f"train_step must be callable (got train_step={train_step!r})")
    check_batches(batches)
    every, sync_every = check_loop_args(metric_fn, eval_every, sync_every, progress)
    rt = RangeTest(
        start_lr, end_lr, num_steps, sweep=sweep, smoothing=smoothing, diverge_factor=diverge_factor
    )
    lrs = list(jnp.asarray(np.asarray(rt.sweep.lrs(), dtype=np.float32)))
    params, opt_state = _copy_tree(params), _copy_tree(opt_state)
    stream = BatchStream(batches)

    def step(i: int) -> Any:
        nonlocal params, opt_state
        out = train_step(params, opt_state, stream.next(), lrs[i])
        if not isinstance(out, tuple) or len(out) != 3:
            raise TypeError(
                "train_step must return a tuple (params, opt_state, loss) "
                f"(got {type(out).__name__})"
            )
        params, opt_state, loss = out
        if i == 0 and jnp.shape(loss) not in ((), (1,)):
            raise ValueError(
                f"train_step must return a scalar loss (got loss of shape {jnp.shape(loss)})"
            )
        return jnp.reshape(loss, ())

    def read(losses: list[Any], metric: float | None) -> tuple[list[float], float | None]:
        host = np.asarray(jax.device_get(jnp.stack(losses)), dtype=np.float64)
        return host.tolist(), metric

    steps_run = drive(
        rt,
        step,
        eval_every=every,
        metric=None if metric_fn is None else lambda: float(metric_fn(params)),
        sync_every=sync_every,
        read=read,
        progress=progress,
    )
    framework = {
        "train_step": callable_name(train_step),
        "device": jax.default_backend(),
        "jax_version": jax.__version__,
    }
    settings = runner_settings(
        "cyclr.jax.range_test",
        framework,
        metric_fn=metric_fn,
        eval_every=every,
        sync_every=sync_every,
        steps_run=steps_run,
        data_restarts=stream.restarts,
    )
    return rt.result(elapsed_s=time.perf_counter() - started, settings=settings)
