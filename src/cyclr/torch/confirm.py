"""Confirm a suggested LR on a PyTorch model: train a few candidates briefly, read the LR.

See :mod:`cyclr.rangetest.confirm` for the rule and what it measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from .._batches import BatchStream, check_batches, steps_worth
from .._validate import check_choice, check_count
from ..rangetest.confirm import CONFIRM_OFFSETS, CONFIRM_STEPS, Confirmation, evaluation_steps
from ..rangetest.search import CandidateSearch
from ..rangetest.spec import DEFAULTS
from . import state as _state
from ._rng import loader_rng_preserved
from .training import LossFn, StepFn, TrainingStep, derive_group_scales

__all__ = [
    "check_held_out",
    "check_single_process",
    "confirm",
    "held_out_batches",
    "several_processes",
]


def confirm(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    loss_fn: LossFn | None = None,
    *,
    lr: float,
    held_out: Iterable[Any],
    steps: int = CONFIRM_STEPS,
    offsets: Sequence[float] | None = CONFIRM_OFFSETS,
    learned_below: float | None = None,
    step_fn: StepFn | None = None,
    accumulation_steps: int = 1,
    scaler: torch.amp.GradScaler | None = None,
    device: str | torch.device | None = None,
    snapshot: str = "memory",
    group_scales: Sequence[float] | None = None,
) -> Confirmation:
    r"""Train each candidate ``lr * 10 ** o`` for ``steps`` steps; read the LR.

    ``o`` runs over ``offsets``; with ``offsets=None`` a line search in log-LR places
    five candidates instead (:class:`~cyclr.rangetest.search.CandidateSearch`: ``o`` in
    ``(-0.5, 0, 0.5)``, then two more half a decade past the better end or between the
    best and its better neighbour; not the default: it lost the worst case on the
    benchmark suite).

    Every candidate starts from the same saved state (parameters, gradients, buffers, module
    modes, optimizer state, scaler, RNG) and trains on the same ``steps *
    accumulation_steps`` batches, drawn once from ``data``. Every 10 steps and after the
    last, the mean loss over ``held_out``'s examples is measured in eval mode under
    ``no_grad`` (each batch weighs the leading dimension of its first tensor); the
    candidate's score is the last of these plus their largest rise above their running
    minimum, counted from the held-out loss before training (measured once)
    (:func:`~cyclr.rangetest.confirm.held_out_score`: a held-out loss that bounced back up,
    on the edge of stability or starting to overfit, pays for the bounce). The LR is the
    vertex of the parabola fitted to the scores in log-LR
    (:func:`~cyclr.rangetest.confirm.read_lr`), or the lowest finite score's when they
    give none or it is the smallest candidate's (ties: the smaller LR); a candidate whose
    training loss turns non-finite
    scores ``inf`` and stops at the next check (the losses stay on the device and are read
    every 10 steps, as in the range test). Parameter group ``g`` trains at ``candidate *
    (lr_g / lr_0)``, the optimizer's own ratios. When the call returns, raises or is
    interrupted (``KeyboardInterrupt``), the model, optimizer, scaler and RNG are exactly as
    before (:func:`cyclr.torch.state.preserved`); set the LR yourself from the result.

    Batches and losses work as in :func:`cyclr.torch.range_test`: ``(inputs, targets)``
    pairs with ``loss_fn``, dict batches with ``model(**batch).loss``, or ``step_fn(model,
    batch) -> loss`` for anything else (also used for ``held_out``).

    Measured on the benchmark suite with validation data as ``held_out``
    (``benchmarks/results/confirm_val.md``): better than the single-pass suggestion on
    the median task and on the worst, which it still misses by 10 points. Over runs
    much longer than ``steps`` the chosen LR held fixed can be too high (instability
    that 40 steps do not show); a schedule between :meth:`Confirmation.bounds
    <cyclr.rangetest.confirm.Confirmation.bounds>` held up there.

    Args:
        model: The model to train.
        optimizer: Its optimizer.
        data: Training batches (a ``DataLoader``, a list, a generator); a re-iterable
            is started again if it holds fewer than ``steps * accumulation_steps``.
        loss_fn: ``loss_fn(outputs, targets)`` for ``(inputs, targets)`` batches.
        lr: The LR to confirm, for parameter group 0 (e.g. ``result.suggest().lr``).
        held_out: Batches to score each candidate on: validation data the model does
            not train on (a few batches; each is evaluated once before training and
            ``ceil(steps / 10)`` times per candidate). At least one. Read once, kept in memory.
        steps: Optimizer steps per candidate (``k``).
        offsets: Candidate offsets in decades around ``lr`` (1 to 16), or ``None`` for
            the line search.
        learned_below: With the line search, the held-out score a candidate must beat
            before the search moves away from ``lr`` (e.g.
            :func:`~cyclr.rangetest.confirm_stage.learning_bar` of the range test's result);
            ``None``: no such bar. Not used with ``offsets``.
        step_fn: ``step_fn(model, batch) -> loss`` instead of ``loss_fn``.
        accumulation_steps: Batches per optimizer step.
        scaler: A ``torch.amp.GradScaler`` for float16 mixed precision.
        device: Where batches go (default: the model's first parameter's device).
        snapshot: Where the saved state lives, ``"memory"`` or ``"disk"``.
        group_scales: Each param group's LR as a multiple of group 0's, as in
            :func:`cyclr.torch.range_test` (default: the optimizer's current ratios).

    Returns:
        The :class:`~cyclr.rangetest.confirm.Confirmation`: the chosen LR, every
        candidate's score and held-out losses, and the steps spent (``steps *
        number of candidates`` at most).

    Raises:
        ValueError: For a bad argument (named, with its value), an empty ``held_out``,
            ``data`` that is a spent iterator with too few batches, or a call under
            ``torch.distributed`` with more than one process (each rank would score
            its own batches and could choose differently).
        TypeError: For an argument of the wrong type.
        cyclr.errors.NoReliableSuggestionError: If every candidate diverged.

    Example:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> x = torch.randn(256, 4); y = x @ torch.ones(4, 1)
        >>> batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)]
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> c = confirm(model, opt, batches[:6], torch.nn.functional.mse_loss, lr=0.1,
        ...             held_out=batches[6:], steps=10)
        >>> c.candidates[0] <= c.lr <= c.candidates[-1], c.steps_spent
        (True, 50)
    """
    check_single_process()
    search = CandidateSearch(lr, offsets, learned_below=learned_below)
    k = check_count("steps", steps)
    storage = check_choice("snapshot", snapshot, _state.STORAGES)
    training = TrainingStep(model, optimizer, loss_fn, step_fn, accumulation_steps, scaler, device)
    check_batches(data, refuse=(torch.Tensor,))
    held = held_out_batches(held_out)
    scales = derive_group_scales(optimizer, group_scales)
    marks = set(evaluation_steps(k))
    spent = 0
    with (
        loader_rng_preserved(data),
        _state.preserved(model, optimizer, scaler=scaler, storage=storage) as saved,
    ):
        stream = BatchStream(data, fewer="steps * accumulation_steps")
        try:
            batches = [stream.next() for _ in range(k * training.accumulation_steps)]
        finally:
            stream.close()
        search.record_start(
            training.held_out_loss(held),
            steps_worth(held, batches[: training.accumulation_steps]),
        )
        for j, candidate in enumerate(search):
            if j:
                saved.restore()
            training.set_lrs(tuple(candidate * s for s in scales))
            replay = BatchStream(batches)
            finite, pending, curve = True, [], []
            for step in range(1, k + 1):
                pending.append(training.step(replay))
                spent += 1
                if step % DEFAULTS.sync_every == 0 or step == k:  # a host read per 10 steps
                    finite = bool(torch.isfinite(torch.stack(pending)).all())
                    pending.clear()
                    if not finite:
                        break
                if step in marks:
                    curve.append(training.held_out_loss(held))
            search.record(curve, finite)
    return search.conclude(k, spent)


def held_out_batches(held_out: Iterable[Any]) -> list[Any]:
    """``held_out`` read into a list, checked to be batches and not empty.

    Reading it leaves the RNG states as they were (:func:`cyclr.torch.state.rng_preserved`).

    Raises:
        TypeError: If ``held_out`` is a tensor or not an iterable of batches.
        ValueError: If it holds no batch.
    """
    check_batches(held_out, refuse=(torch.Tensor,), name="held_out")
    with _state.rng_preserved():  # starting a DataLoader iterator draws a seed
        held = list(held_out)
    if not held:
        raise ValueError("held_out must hold at least one batch (got an empty held_out)")
    return held


def check_held_out(training: TrainingStep, held: list[Any]) -> None:
    """Evaluate the loss on ``held[0]`` once, so a batch the model cannot read is named now.

    In eval mode under ``no_grad``, module modes and RNG states put back: before any
    training step, instead of after the sweep.

    Raises:
        TypeError, ValueError: What computing the loss raised, prefixed with
            ``held_out[0]``.
    """
    try:
        with _state.rng_preserved():
            training.held_out_loss(held[:1])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"held_out[0] cannot be scored: {exc}") from exc


def several_processes() -> bool:
    """Whether an initialised ``torch.distributed`` process group has more than one process."""
    dist = torch.distributed
    return bool(dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)


def check_single_process(what: str = "confirm") -> None:
    """Refuse a confirmation under ``torch.distributed`` with more than one process."""
    dist = torch.distributed
    if several_processes():
        raise ValueError(
            f"{what} runs on one process: under torch.distributed each rank would score its "
            f"own batches and could keep a different LR (got world_size="
            f"{dist.get_world_size()}); run it before the process group starts, or on rank 0 "
            "and broadcast the LR"
        )
