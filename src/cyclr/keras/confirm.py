"""Confirm a suggested LR on a compiled Keras 3 model: train a few candidates briefly.

See :mod:`cyclr.rangetest.confirm` for the rule and what it measured. The model's,
optimizer's and metrics' variables (and, on the torch backend, PyTorch's RNG) are
copied once and put back before each candidate and at the end, as
:func:`cyclr.keras.range_test` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from keras import ops

from .._batches import BatchStream, batch_weights, check_batches, steps_worth
from .._validate import check_count
from ..rangetest.confirm import CONFIRM_OFFSETS, CONFIRM_STEPS, Confirmation, evaluation_steps
from ..rangetest.search import CandidateSearch
from ._rng import rng_preserved
from ._training import Snapshot, SweepLR, compile_state_preserved, compiled, next_batch, unpack

__all__ = ["check_held_out", "confirm", "held_out_batches"]


def confirm(
    model: Any,
    data: Iterable[Any],
    *,
    lr: float,
    held_out: Iterable[Any],
    steps: int = CONFIRM_STEPS,
    offsets: Sequence[float] | None = CONFIRM_OFFSETS,
    learned_below: float | None = None,
) -> Confirmation:
    r"""Train each candidate ``lr * 10 ** o`` for ``steps`` steps; read the LR.

    ``o`` runs over ``offsets``; with ``offsets=None`` a line search in log-LR places
    five candidates instead (:class:`~cyclr.rangetest.search.CandidateSearch`; not the
    default: it lost the worst case on the benchmark suite).

    Every candidate starts from the same saved state and trains with
    ``model.train_on_batch`` on the same ``steps`` batches, drawn once from ``data``. Every
    10 steps and after the last, the mean ``model.test_on_batch`` loss over ``held_out``'s
    examples is measured (each batch weighs its number of rows); the candidate's score is
    the last of these plus their largest rise above their running minimum, counted from the
    held-out loss before training (measured once)
    (:func:`~cyclr.rangetest.confirm.held_out_score`). The LR is the vertex of the parabola
    fitted to the scores in log-LR (:func:`~cyclr.rangetest.confirm.read_lr`), or the
    lowest finite score's when they give none or it is the smallest candidate's (ties:
    the smaller LR); a candidate whose
    training loss turns non-finite scores ``inf`` and stops. When the call returns or raises
    (``KeyboardInterrupt`` included), the model's, optimizer's and metrics' variables and
    the LR are exactly as before; set the LR yourself from the result.

    Args:
        model: A ``keras.Model`` compiled with an optimizer and a loss.
        data: Training batches, ``(x, y)`` or ``(x, y, sample_weight)``; a re-iterable
            is started again if it holds fewer than ``steps``.
        lr: The LR to confirm (e.g. ``result.suggest().lr``).
        held_out: Batches to score each candidate on: validation data the model does
            not train on (a few batches). At least one. Read once, kept in memory.
        steps: Optimizer steps per candidate (``k``).
        offsets: Candidate offsets in decades (1 to 16), or ``None`` for the search.
        learned_below: The line search's bar (as in :func:`cyclr.torch.confirm`).

    Returns:
        The :class:`~cyclr.rangetest.confirm.Confirmation`: the chosen LR, every
        candidate's score and held-out losses, and the steps spent.

    Raises:
        TypeError: If ``model`` is not a ``keras.Model``, its optimizer keeps no learning
            rate, or the batches are not iterables of batches.
        ValueError: For a bad argument (named, with its value), a model that is not
            compiled, an empty ``held_out``, or ``data`` that is a spent iterator with
            too few batches.
        cyclr.errors.NoReliableSuggestionError: If every candidate diverged.
    """
    with rng_preserved(data), compile_state_preserved(model):  # drawing may draw from them
        optimizer, inner = compiled(model, "confirm")
        search = CandidateSearch(lr, offsets, learned_below=learned_below)
        k = check_count("steps", steps)
        check_batches(data)
        held = held_out_batches(held_out, model)
        stream = BatchStream(data, fewer="steps")
        try:
            batches = [next_batch(stream) for _ in range(k)]
        finally:
            stream.close()
        if not model.built:
            model(batches[0][0])
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        marks = set(evaluation_steps(k))
        snapshot = Snapshot(model, optimizer)
        original_lr = inner._learning_rate
        first_step = int(ops.convert_to_numpy(ops.convert_to_tensor(inner.iterations)))
        spent = 0
        try:
            search.record_start(_held_out_loss(model, held), steps_worth(held, batches[:1]))
            for candidate in search:
                snapshot.restore()
                constant = SweepLR(np.full(k, candidate), first_step)
                object.__setattr__(inner, "_learning_rate", constant)
                model.make_train_function(force=True)
                finite, curve = True, []
                for step, (x, y, weight) in enumerate(batches, start=1):
                    logs = model.train_on_batch(x, y, sample_weight=weight, return_dict=True)
                    spent += 1
                    if not math.isfinite(float(logs["loss"])):
                        finite = False
                        break
                    if step in marks:
                        curve.append(_held_out_loss(model, held))
                search.record(curve, finite)
        finally:
            object.__setattr__(inner, "_learning_rate", original_lr)
            snapshot.restore()
            model.make_train_function(force=True)
        return search.conclude(k, spent)


def held_out_batches(held_out: Iterable[Any], model: Any = None) -> list[tuple[Any, Any, Any]]:
    """``held_out`` read into a list of ``(x, y, sample_weight)``, checked not to be empty.

    Batches need targets unless ``model`` was compiled without a loss (its loss is its
    own, ``add_loss``: an autoencoder's), when ``x`` alone is a batch.

    Raises:
        TypeError: If ``held_out`` is not an iterable of batches (a bare array is
            refused: it iterates over rows, not batches).
        ValueError: If it holds no batch, or a batch without targets that the model's
            compiled loss needs.
    """
    check_batches(held_out, refuse=(np.ndarray,), name="held_out")
    held = [unpack(b) for b in held_out]
    if not held:
        raise ValueError("held_out must hold at least one batch (got an empty held_out)")
    own_loss = model is not None and getattr(model, "loss", None) is None
    for i, (_, y, _) in enumerate(held):
        if y is None and not own_loss:
            raise ValueError(
                f"held_out[{i}] must be an (x, y) or (x, y, sample_weight) batch: the held-out "
                "loss needs targets (got a batch without y); pass e.g. [(x_val, y_val)]"
            )
    return held


def check_held_out(model: Any, held: list[tuple[Any, Any, Any]]) -> None:
    """Score ``held[0]`` once, so a batch the model cannot read is named before any step.

    An unbuilt model is built on ``held[0]``'s inputs first, as the range test would
    build it on its first batch; every variable, metrics included, is put back
    afterwards.

    Raises:
        TypeError, ValueError, RuntimeError: What ``test_on_batch`` raised, prefixed with
            ``held_out[0]``.
    """
    x, y, w = held[0]
    if not model.built:
        model(x)
    snapshot = Snapshot(model, model.optimizer)
    try:
        model.test_on_batch(x, y, sample_weight=w)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise type(exc)(f"held_out[0] cannot be scored: {exc}") from exc
    finally:
        snapshot.restore()


def _held_out_loss(model: Any, held: list[tuple[Any, Any, Any]]) -> float:
    """Mean ``test_on_batch`` loss over the held-out examples (``inf`` if not finite).

    Each batch's loss weighs its number of examples (:func:`cyclr._batches.batch_weights`).
    """
    losses = [
        float(model.test_on_batch(x, y, sample_weight=w, return_dict=True)["loss"])
        for x, y, w in held
    ]
    mean = float(np.dot(losses, batch_weights([x for x, _, _ in held])))
    return mean if math.isfinite(mean) else math.inf
