"""Confirm a suggested LR with a pure JAX training step: train a few candidates briefly.

See :mod:`cyclr.rangetest.confirm` for the rule and what it measured. Each candidate
trains its own copy of ``params`` and ``opt_state``, so the caller's state is never
touched and nothing needs restoring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._batches import BatchStream, batch_weights, check_batches, steps_worth
from .._host_rng import host_rng_preserved
from .._validate import check_count
from ..rangetest.confirm import CONFIRM_OFFSETS, CONFIRM_STEPS, Confirmation, evaluation_steps
from ..rangetest.search import CandidateSearch
from ..rangetest.spec import DEFAULTS
from ._steps import EvalLoss, TrainStep, copy_tree, step_outputs

__all__ = ["check_eval_loss", "confirm", "held_out_batches"]


def confirm(
    train_step: TrainStep,
    params: Any,
    opt_state: Any,
    batches: Iterable[Any],
    *,
    lr: float,
    held_out: Iterable[Any],
    eval_loss: EvalLoss,
    steps: int = CONFIRM_STEPS,
    offsets: Sequence[float] | None = CONFIRM_OFFSETS,
    learned_below: float | None = None,
) -> Confirmation:
    r"""Train each candidate ``lr * 10 ** o`` for ``steps`` steps; read the LR.

    ``o`` runs over ``offsets``; with ``offsets=None`` a line search in log-LR places
    five candidates instead (:class:`~cyclr.rangetest.search.CandidateSearch`; not the
    default: it lost the worst case on the benchmark suite).

    Every candidate starts from a copy of ``params`` and ``opt_state`` and calls
    ``train_step(params, opt_state, batch, lr)`` (as :func:`cyclr.jax.range_test` does, with
    ``lr`` a float32 scalar array) on the same ``steps`` batches, drawn once from
    ``batches``. Every 10 steps and after the last, the mean of ``eval_loss(params, batch)``
    over ``held_out`` is measured (each batch weighing its number of examples, the leading
    dimension of its first array); the candidate's score is the last of these plus their
    largest rise above their running minimum, counted from the held-out loss before
    training (measured once)
    (:func:`~cyclr.rangetest.confirm.held_out_score`). The LR is the vertex of the parabola
    fitted to the scores in log-LR (:func:`~cyclr.rangetest.confirm.read_lr`), or the
    lowest finite score's when they give none or it is the smallest candidate's (ties:
    the smaller LR); a candidate whose
    training loss turns non-finite scores ``inf`` and stops at the next check (the losses
    stay on the device and are read every 10 steps).

    Args:
        train_step: ``train_step(params, opt_state, batch, lr) -> (params, opt_state,
            loss)``, the one :func:`cyclr.jax.range_test` takes.
        params: The parameters (any pytree); not modified.
        opt_state: The optimizer state (any pytree); not modified.
        batches: Training batches; a re-iterable is started again if it holds fewer
            than ``steps``.
        lr: The LR to confirm (e.g. ``result.suggest().lr``).
        held_out: Batches to score each candidate on: validation data the model does
            not train on (a few batches). At least one. Read once, kept in memory.
        eval_loss: ``eval_loss(params, batch) -> scalar``, the mean loss on one batch in
            inference mode (jit it).
        steps: Training steps per candidate (``k``).
        offsets: Candidate offsets in decades (1 to 16), or ``None`` for the search.
        learned_below: The line search's bar (as in :func:`cyclr.torch.confirm`).

    Returns:
        The :class:`~cyclr.rangetest.confirm.Confirmation`: the chosen LR, every
        candidate's score and held-out losses, and the steps spent.

    Raises:
        TypeError: If ``train_step`` or ``eval_loss`` is not callable, or the batches
            are not iterables of batches.
        ValueError: For a bad argument (named, with its value), an empty ``held_out``,
            ``batches`` that is a spent iterator with too few batches, or a candidate
            LR that float32 cannot hold.
        cyclr.errors.NoReliableSuggestionError: If every candidate diverged.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.linspace(-1.0, 1.0, 64)
        >>> batches = [(x[i : i + 16], 3.0 * x[i : i + 16]) for i in range(0, 64, 16)]
        >>> def mse(w, batch):
        ...     return jnp.mean((w * batch[0] - batch[1]) ** 2)
        >>> def train_step(w, state, batch, lr):
        ...     loss, grad = jax.value_and_grad(mse)(w, batch)
        ...     return w - lr * grad, state, loss
        >>> c = confirm(jax.jit(train_step), jnp.zeros(()), None, batches[:3], lr=0.3,
        ...             held_out=batches[3:], eval_loss=jax.jit(mse), steps=20)
        >>> c.steps_spent, c.candidates[0] <= c.lr <= c.candidates[-1]
        (100, True)
    """
    if not callable(train_step):
        raise TypeError(f"train_step must be callable (got train_step={train_step!r})")
    search = CandidateSearch(lr, offsets, learned_below=learned_below)
    k = check_count("steps", steps)
    check_batches(batches, name="batches")
    held = held_out_batches(held_out, eval_loss)
    check_eval_loss(eval_loss, params, held)
    weights = jnp.asarray(batch_weights(held), jnp.float32)  # the mean over examples
    with host_rng_preserved(batches):  # drawing them may draw from NumPy's generator
        stream = BatchStream(batches, fewer="steps", name="batches")
        try:
            train = [stream.next() for _ in range(k)]
        finally:
            stream.close()
    marks = set(evaluation_steps(k))

    def held_out_loss(p: Any) -> float:
        losses = jnp.stack([jnp.reshape(eval_loss(p, b), ()) for b in held])
        mean = float(jax.device_get(jnp.dot(losses, weights)))
        return mean if math.isfinite(mean) else math.inf

    spent = 0
    search.record_start(held_out_loss(params), steps_worth(held, train[:1]))
    for candidate in search:
        lr32 = _float32(candidate, lr)
        state = [copy_tree(params), copy_tree(opt_state)]
        finite, pending, curve = True, [], []
        for step, batch in enumerate(train, start=1):
            out = train_step(state[0], state[1], batch, lr32)
            state[0], state[1], loss = step_outputs(out, first=step == 1)
            pending.append(loss)
            spent += 1
            if step % DEFAULTS.sync_every == 0 or step == k:  # a host read per 10 steps
                finite = bool(np.all(np.isfinite(jax.device_get(jnp.stack(pending)))))
                pending.clear()
                if not finite:
                    break
            if step in marks:
                curve.append(held_out_loss(state[0]))
        search.record(curve, finite)
    return search.conclude(k, spent)


def held_out_batches(held_out: Iterable[Any] | None, eval_loss: EvalLoss | None) -> list[Any]:
    """``held_out`` read into a list, checked to be batches and not empty, with ``eval_loss``.

    The checks :func:`confirm` and :func:`cyclr.jax.range_test` share: the two go
    together, ``eval_loss`` is callable and ``held_out`` holds at least one batch.

    Raises:
        TypeError: If ``eval_loss`` is not callable or ``held_out`` is not an iterable
            of batches (a bare array is refused: it iterates over rows, not batches).
        ValueError: If only one of ``held_out`` and ``eval_loss`` is given, or
            ``held_out`` holds no batch.
    """
    if held_out is None or eval_loss is None:
        got = (
            f"held_out=None with eval_loss={eval_loss!r}"
            if held_out is None
            else f"eval_loss=None with held_out of type {type(held_out).__name__}"
        )
        raise ValueError(
            "held_out and eval_loss go together: the held-out batches and "
            f"eval_loss(params, batch) -> loss to score them with ({got}); to confirm "
            "without validation batches, pass held_out='auto' with eval_loss"
        )
    if not callable(eval_loss):
        raise TypeError(f"eval_loss must be callable (got eval_loss={eval_loss!r})")
    check_batches(held_out, refuse=(jax.Array, np.ndarray), name="held_out")
    held = list(held_out)
    if not held:
        raise ValueError("held_out must hold at least one batch (got an empty held_out)")
    return held


def check_eval_loss(eval_loss: EvalLoss, params: Any, held: list[Any]) -> None:
    """Score ``held[0]`` once, so a batch ``eval_loss`` cannot read is named before any step.

    Raises:
        TypeError, ValueError: What ``eval_loss`` raised, prefixed with ``held_out[0]``.
        ValueError: If ``eval_loss`` does not return a scalar.
    """
    try:
        value = eval_loss(params, held[0])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"held_out[0] cannot be scored by eval_loss: {exc}") from exc
    if jnp.shape(value) not in ((), (1,)):
        raise ValueError(
            "eval_loss must return a scalar, the mean loss of one batch (got "
            f"eval_loss(params, held_out[0]) of shape {jnp.shape(value)})"
        )


def _float32(candidate: float, lr: Any) -> Any:
    """The candidate as a float32 device scalar; refused when float32 cannot hold it."""
    single = np.float32(candidate)
    if not (np.isfinite(single) and single > 0):
        raise ValueError(
            f"train_step gets float32 LRs, and the candidate {candidate!r} around lr={lr!r} "
            "over- or underflows in float32"
        )
    return jnp.asarray(single)
