r"""Confirming a suggestion by training a few candidates briefly: the framework-free part.

A range test sees each LR for a step or two. Whether an LR is good for sustained
training shows only after some steps at it, so the confirmation stage trains each
candidate

.. math:: lr_j = lr \cdot 10^{o_j}, \qquad o = (-0.5, -0.25, 0, 0.25, 0.5)

for ``k`` steps (40 by default) from the same saved state, on the same batches. (A line
search that lets the scores move the window is there too,
:class:`~cyclr.rangetest.search.CandidateSearch`, ``offsets=None`` in the adapters'
``confirm``; measured end to end it cut the largest seed spread from 15x to 9x but lost
the worst case, so it is not the default: ``benchmarks/RESULTS.md``, "The confirmation
as a line search".) Every :data:`EVALUATE_EVERY` steps (and after step ``k``) it
measures the mean loss on held-out batches, :math:`v_{j,1}, \dots, v_{j,n}`, and
scores the candidate by the last one plus the largest rise above its running minimum
(:func:`held_out_score`):

.. math:: s_j = v_{j,n} + \max_m \Big(v_{j,m} - \min_{i \le m} v_{j,i}\Big)

The rise is 0 for a held-out loss that only fell; it is the size of the bounce for one
that went back up, which is how an LR on the edge of stability, or one that starts to
overfit, looks within a few dozen steps. It is in the loss's own units, so the sum needs
no constant and scaling the loss scales every score alike. A candidate whose training
loss became non-finite scores ``inf``.

The chosen LR is read from every score, not only the lowest (:func:`fitted_lr`): a
parabola is fitted by least squares to the finite scores in log-LR,

.. math:: s_j \approx a x_j^2 + b x_j + c, \qquad x_j = \log_{10} lr_j,

and, when it opens upwards (:math:`a > 0`) through at least three finite scores, its
vertex :math:`x^* = -b / 2a`, clipped to the finite candidates' range, gives
:math:`lr = 10^{x^*}`. Otherwise the candidate with the lowest score wins (ties: the
smaller LR). The lowest of five noisy scores is biased towards whichever candidate's
noise happened to be lowest (the winner's curse); the fitted vertex averages the noise
of all five, as a response surface does. Shifting or scaling the loss moves no vertex.
The state is restored afterwards. Cyclical LR's own idea: measure the thing you care
about, briefly.

Measured on the benchmark suite's 13 tasks with a validation split the candidates never
train on, five seeds (``benchmarks/results/suggest_vfit_5seeds.md``): the fitted vertex
has a worst task of 2.9 target units against 5.1 for the lowest score (a batch-16 MLP
whose best-scoring candidate at 40 steps becomes unstable later: 0.9 against 5.1) at
about the same median (0.32 against 0.28); on another draw of the sweeps, three seeds
(``benchmarks/results/suggest_vfit.md``), 2.6 against 10.7. The one call measured end
to end: ``benchmarks/RESULTS.md``. Over 40-epoch runs the chosen LR held fixed can
still be too high, while the schedules between :meth:`Confirmation.bounds` stayed within
1 unit of the best fixed LR (``benchmarks/results/clr_long_confirmed.md``). It costs
``5 k`` training steps (200 by default), one held-out pass before training and
``ceil(k / 10)`` per candidate.

The held-out loss is also measured once before any candidate trains, :math:`v_0`, and
each candidate's rise counts from it: an LR past the edge of stability can send the loss
far above where it started within ten steps and then bring it back below, and its last
value alone would look good. In the range test (:func:`confirm_result`) a score above
:math:`v_0` by more than :data:`Z_LEARNED` standard deviations of the sweep's first
losses (:func:`untrained_ceiling`, the mirror of :func:`learning_bar`) means the
candidate left the model worse than not training: all such scores are brought down to
that ceiling (:func:`capped`), so that one exploded candidate does not steer the
parabola; when every candidate is above it, the window lies past the edge and the window
below it is confirmed instead (on the benchmark suite, a ResNet whose sweep read its
bottom past a spike to the edge, 250x the best LR).

A model on a plateau can leave every candidate's held-out loss at the untrained level
for ``k`` steps (a recurrent network before it finds the signal: on the benchmark's GRU,
on two seeds of four, all five scores within 0.002 of ``ln 10``). The scores then differ
by noise, and any reading of them is a guess. :func:`confirm_result` tells
(:func:`learned`: the best score at least two standard deviations of the sweep's first
losses below their mean) and runs the confirmation again with three times the steps, as
the sweep does with a curve it cannot read; the steps of both runs count.

The chosen LR is the best for ``k`` steps. ``result.suggest(total_steps=T)`` fits it to
a whole run of ``T`` steps from the same held-out losses, lowering it where the
candidates overfit within the window (:mod:`cyclr.rangetest.horizon`).

The framework adapters run the training (:func:`cyclr.torch.confirm`); this module
holds the candidates, the score, the choice and the result.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186 (the range test whose reading this checks).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._validate import check_finite, check_int, check_positive
from ..errors import NoReliableSuggestionError
from .confirmation import (
    EVALUATE_EVERY,
    UNTRAINED_STEPS,
    Z_LEARNED,
    Confirmation,
    evaluation_steps,
    fitted_lr,
    largest_rise,
    untrained_bar,
    untrained_loss,
)
from .spec import EXTEND_FACTOR

if TYPE_CHECKING:
    from .result import RangeTestResult

__all__ = [
    "CONFIRM_OFFSETS",
    "CONFIRM_STEPS",
    "EVALUATE_EVERY",
    "UNTRAINED_STEPS",
    "Z_LEARNED",
    "Confirmation",
    "candidate_lrs",
    "capped",
    "check_run_length",
    "choose",
    "conclude",
    "confirm_result",
    "evaluation_steps",
    "fitted_lr",
    "held_out_score",
    "largest_rise",
    "learned",
    "learning_bar",
    "read_lr",
    "untrained_ceiling",
]

CONFIRM_OFFSETS = (-0.5, -0.25, 0.0, 0.25, 0.5)
"""Candidate offsets in decades around the LR being confirmed (the line search's first
three and its fill when no candidate learned)."""

CONFIRM_STEPS = 40
"""Training steps per candidate."""

MAX_CANDIDATES = 16
"""Most candidates one confirmation trains."""


def held_out_score(losses: Sequence[float], start: float | None = None) -> float:
    r"""A candidate's score: its last held-out loss plus the largest rise before it.

    .. math:: s = v_n + \max_m \Big(v_m - \min_{0 \le i \le m} v_i\Big)

    where :math:`v_0` is the held-out loss before training (``start``), so that a
    candidate whose loss jumped above the model it started from and came back down
    carries that jump (a large LR on the edge of stability, whose end value is luck).

    Args:
        losses: The held-out losses :math:`v_1, \dots, v_n` in the order measured.
        start: :math:`v_0`, the held-out loss of the state every candidate starts from;
            ``None`` (or a non-finite value): the rise counts from :math:`v_1`.

    Returns:
        The score (lower is better); ``inf`` if ``losses`` is empty or holds a
        non-finite value.

    Example:
        >>> held_out_score([2.0, 1.0, 0.5])       # only fell: the last loss
        0.5
        >>> held_out_score([2.0, 0.5, 1.5, 1.0])  # bounced by 1.0 above its minimum
        2.0
        >>> held_out_score([9.0, 3.0, 1.5], start=2.5)  # jumped 6.5 above its start
        8.0
    """
    values = [float(v) for v in losses]
    if not values or not all(math.isfinite(v) for v in values):
        return math.inf
    head = [float(start)] if start is not None and math.isfinite(start) else []
    return values[-1] + largest_rise([*head, *values])


def candidate_lrs(lr: Any, offsets: Any = CONFIRM_OFFSETS) -> tuple[float, ...]:
    """The candidates ``lr * 10 ** o`` for each offset, in increasing order.

    Args:
        lr: The LR to confirm (e.g. ``result.suggest().lr``), positive and finite.
        offsets: Distinct finite offsets in decades, 1 to 16 of them.

    Returns:
        The candidate LRs, smallest first.

    Raises:
        TypeError: If ``lr`` or an offset is not a real number, or ``offsets`` is not a
            sequence.
        ValueError: If ``lr`` is not positive and finite, ``offsets`` is empty, has
            more than 16 entries, repeats one, or holds a non-finite one.

    Example:
        >>> [f"{v:.3g}" for v in candidate_lrs(0.01, (-1, 0, 1))]
        ['0.001', '0.01', '0.1']
    """
    centre = check_positive("lr", lr)
    if isinstance(offsets, (str, bytes)) or not isinstance(offsets, Sequence):
        raise TypeError(f"offsets must be a sequence of numbers (got offsets={offsets!r})")
    if not 1 <= len(offsets) <= MAX_CANDIDATES:
        raise ValueError(
            f"offsets must hold 1 to {MAX_CANDIDATES} offsets (got {len(offsets)}: "
            f"offsets={list(offsets)!r})"
        )
    values = [check_finite(f"offsets[{i}]", o) for i, o in enumerate(offsets)]
    if len(set(values)) != len(values):
        raise ValueError(f"offsets must be distinct (got offsets={list(offsets)!r})")
    try:
        lrs = sorted(centre * 10.0**o for o in values)
    except OverflowError:  # 10.0 ** o past the float range
        lrs = []
    if not lrs or not all(math.isfinite(v) and v > 0 for v in lrs):
        raise ValueError(
            f"every candidate lr * 10**offset must be positive and finite (got lr={lr!r}, "
            f"offsets={list(offsets)!r})"
        )
    return tuple(lrs)


def choose(candidates: Sequence[float], scores: Sequence[float]) -> int:
    """Index of the candidate with the lowest finite score (ties: the smaller LR).

    Args:
        candidates: Candidate LRs, increasing.
        scores: One score per candidate, lower is better; ``inf`` or NaN for a
            candidate that diverged.

    Returns:
        The index of the chosen candidate.

    Raises:
        ValueError: If the lengths differ.
        cyclr.errors.NoReliableSuggestionError: If no score is finite.

    Example:
        >>> choose([0.1, 0.2, 0.4], [1.5, 1.2, 1.2])
        1
    """
    if len(candidates) != len(scores):
        raise ValueError(
            f"candidates and scores must have the same length (got {len(candidates)} and "
            f"{len(scores)})"
        )
    best: int | None = None
    for i, score in enumerate(scores):
        if math.isfinite(score) and (best is None or score < scores[best]):
            best = i
    if best is None:
        raise NoReliableSuggestionError(
            f"every candidate diverged or gave a non-finite held-out loss (candidates="
            f"{[float(f'{c:.4g}') for c in candidates]}); confirm a smaller lr"
        )
    return best


def read_lr(candidates: Sequence[float], scores: Sequence[float]) -> float:
    """The LR the scores give: :func:`fitted_lr`'s vertex, else :func:`choose`'s candidate.

    Raises:
        cyclr.errors.NoReliableSuggestionError: If no score is finite.
    """
    best = choose(candidates, scores)
    fitted = fitted_lr(candidates, scores)
    return candidates[best] if fitted is None else fitted


def conclude(
    anchor: float,
    candidates: tuple[float, ...],
    runs: Sequence[tuple[Sequence[float], bool]],
    steps: int,
    steps_spent: int,
    start_loss: float | None = None,
) -> Confirmation:
    """Score every candidate's run, choose, and say what was found.

    The LR is :func:`fitted_lr`'s, or, when the scores give no vertex, :func:`choose`'s.

    The one ending every framework's confirmation shares.

    Args:
        anchor: The LR the candidates were spread around.
        candidates: The candidate LRs, increasing.
        runs: Per candidate, its held-out losses (after the steps of
            :func:`evaluation_steps`) and whether its training loss stayed finite.
        steps: Optimizer steps each candidate trained.
        steps_spent: Optimizer steps trained in all.
        start_loss: The held-out loss of the state the candidates start from (the
            :math:`v_0` of :func:`held_out_score`); ``None``: not measured.

    Returns:
        The :class:`Confirmation`.

    Raises:
        cyclr.errors.NoReliableSuggestionError: If every candidate diverged.
    """
    scores = tuple(
        held_out_score(losses, start_loss) if finite else math.inf for losses, finite in runs
    )
    return Confirmation(
        lr=read_lr(candidates, scores),
        anchor=float(anchor),
        candidates=candidates,
        scores=scores,
        steps=steps,
        steps_spent=steps_spent,
        held_out_losses=tuple(tuple(losses) for losses, _ in runs),
        start_loss=start_loss,
    )


def learned(result: RangeTestResult, confirmation: Confirmation) -> bool:
    r"""Whether the best candidate's held-out score fell clearly below the untrained loss.

    .. math:: \min_j s_j < \bar L_0 - z \, \sigma_0

    :math:`\bar L_0` and :math:`\sigma_0` are the mean and standard deviation of the
    sweep's first :data:`UNTRAINED_STEPS` losses (at LRs too small to train, so the
    untrained model's loss and its batch-to-batch noise), :math:`z =`
    :data:`Z_LEARNED`. A model on a plateau (a recurrent network before it finds the
    signal) can leave every candidate's held-out loss at the untrained level for 40
    steps; then the scores differ by noise alone and no reading of them means anything.
    Both sides are in the loss's units, so scaling or shifting the loss changes nothing.
    ``True`` when the sweep has too few finite first losses to tell.

    Example:
        >>> import numpy as np
        >>> from cyclr.rangetest import RangeTestResult
        >>> losses = 2.3 + 0.01 * np.sin(np.arange(20))
        >>> r = RangeTestResult(np.logspace(-7, -5, 20), losses, losses, None, None, {}, None)
        >>> stuck = Confirmation(0.01, 0.01, (0.01,), (2.299,), 40, 40)
        >>> learned(r, stuck), learned(r, Confirmation(0.01, 0.01, (0.01,), (1.2,), 40, 40))
        (False, True)
    """
    bar = learning_bar(result)
    scores = [s for s in confirmation.scores if math.isfinite(s)]
    if bar is None or not scores:
        return True
    return min(scores) < bar


def untrained_ceiling(result: RangeTestResult, confirmation: Confirmation) -> float | None:
    r"""The score above which a candidate did worse than not training: :math:`v_0 + z\,\sigma_0`.

    :math:`v_0` is the held-out loss before training (:attr:`Confirmation.start_loss`;
    the sweep's untrained loss :math:`\bar L_0` where it was not measured),
    :math:`\sigma_0` the standard deviation of the sweep's first
    :data:`UNTRAINED_STEPS` losses and :math:`z =` :data:`Z_LEARNED`: the mirror of
    :func:`learning_bar`. ``None`` when the sweep has too few finite first losses.

    Example:
        >>> import numpy as np
        >>> from cyclr.rangetest import RangeTestResult
        >>> losses = 2.3 + 0.01 * np.sin(np.arange(20))
        >>> r = RangeTestResult(np.logspace(-7, -5, 20), losses, losses, None, None, {}, None)
        >>> c = Confirmation(0.1, 0.1, (0.1,), (1.0,), 40, 40, start_loss=2.25)
        >>> round(untrained_ceiling(r, c) - 2.25, 4)  # two standard deviations of the noise
        0.0139
    """
    bar = learning_bar(result)
    untrained = untrained_loss(result.losses)
    if bar is None or untrained is None:
        return None
    start = untrained if confirmation.start_loss is None else confirmation.start_loss
    return start + (untrained - bar)


def capped(result: RangeTestResult, confirmation: Confirmation) -> Confirmation | None:
    """The confirmation with every score above :func:`untrained_ceiling` brought down to it.

    A candidate scoring above the ceiling left the model worse than not training at all,
    beyond the loss's noise: its LR is past the edge of stability (a score counts the
    rise above the state the candidate started from, :func:`held_out_score`). How far
    past says nothing about where the best LR is, and one exploded score would steer
    the least-squares parabola (:func:`fitted_lr`) on its own: such scores are all set
    to the ceiling, and the LR is read again (:func:`read_lr`). ``None`` when no finite
    score is at or below the ceiling: the whole window lies past the edge.
    ``confirmation`` itself when nothing changes (or there is no ceiling).

    Example:
        >>> import numpy as np
        >>> from cyclr.rangetest import RangeTestResult
        >>> losses = 2.3 + 0.01 * np.sin(np.arange(20))
        >>> r = RangeTestResult(np.logspace(-7, -5, 20), losses, losses, None, None, {}, None)
        >>> c = Confirmation(0.1, 0.1, (0.03, 0.1, 0.3), (1.5, 1.2, 900.0), 40, 120,
        ...                  start_loss=2.3)
        >>> [round(s, 4) for s in capped(r, c).scores]
        [1.5, 1.2, 2.3139]
        >>> capped(r, Confirmation(0.1, 0.1, (0.1, 0.3), (4.0, 900.0), 40, 80)) is None
        True
    """
    ceiling = untrained_ceiling(result, confirmation)
    if ceiling is None:
        return confirmation
    if not any(s <= ceiling for s in confirmation.scores):
        return None
    scores = tuple(min(s, ceiling) if math.isfinite(s) else s for s in confirmation.scores)
    if scores == confirmation.scores:
        return confirmation
    return dataclasses.replace(
        confirmation, scores=scores, lr=read_lr(confirmation.candidates, scores)
    )


def learning_bar(result: RangeTestResult) -> float | None:
    r"""The score below which a candidate has learned: :math:`\bar L_0 - z\,\sigma_0`.

    The mean of the sweep's first :data:`UNTRAINED_STEPS` finite losses less
    :data:`Z_LEARNED` of their standard deviations (see :func:`learned`); ``None`` when
    fewer than two are finite (:func:`~cyclr.rangetest.confirmation.untrained_bar`).
    """
    return untrained_bar(result.losses)


def check_run_length(total_steps: Any, held_out: Any) -> int | None:
    """Check a ``range_test``'s ``total_steps`` before the first step.

    Args:
        total_steps: The run's length the confirmed LR is fitted to, or ``None``.
        held_out: The ``held_out`` argument (``total_steps`` needs a confirmation).

    Returns:
        ``total_steps`` as an int, or ``None``.

    Raises:
        TypeError: If ``total_steps`` is not an integer.
        ValueError: If it is not positive, or is given without ``held_out``.
    """
    if total_steps is None:
        return None
    steps = check_int("total_steps", total_steps)
    if held_out is None:
        raise ValueError(
            f"total_steps fits the confirmed LR to the run and needs held_out= (validation "
            f"batches) to confirm on (got total_steps={total_steps!r}, held_out=None)"
        )
    return steps


def confirm_result(
    result: RangeTestResult,
    run: Callable[[float, int], Confirmation],
    steps: int,
    total_steps: int | None = None,
) -> RangeTestResult:
    """``result`` with its curve's default suggestion confirmed by ``run``.

    What a framework's ``range_test(..., held_out=...)`` does after the sweep: it
    confirms the default reading of the curve (``result.reading.suggestion()``) and
    keeps the :class:`Confirmation` in the result, whose ``suggest()``,
    ``clr_bounds()`` and ``schedule()`` then answer from it. A curve with no reliable
    suggestion has nothing to confirm: the result comes back as it is, with a warning
    that gives the curve's reason (``result.suggest()`` raises it).

    Scores above the untrained model's (:func:`untrained_ceiling`) are brought down to
    it (:func:`capped`). If every candidate scored above it (the window lies past the
    edge of stability), the confirmation runs once more
    one window lower (the anchor divided by the ratio of the largest candidate to the
    smallest, 10 by default); if that window is past the edge too, a
    ``RuntimeWarning`` says the confirmed LR is a guess. Otherwise, if no candidate
    learned within ``steps`` steps (:func:`learned`), the confirmation runs once more
    from the same state with :data:`EXTEND_FACTOR` times the steps, as the sweep reruns
    a curve it cannot read; if still none learned, a ``RuntimeWarning`` says the
    confirmed LR is a guess. The steps of every run count in ``steps_spent``.

    Args:
        result: The range test's result, without a confirmation.
        run: ``run(lr, steps) -> Confirmation``: the framework's confirmation around
            ``lr``, ``steps`` steps per candidate.
        steps: Steps per candidate of the first run (``confirm_steps``).
        total_steps: The run's length (``range_test(..., total_steps=...)``), kept in
            ``result.settings["total_steps"]``, which ``result.suggest()`` then fits the
            confirmed LR to (:mod:`cyclr.rangetest.horizon`); ``None``: none.

    Returns:
        The result with :attr:`~cyclr.rangetest.RangeTestResult.confirmation` set, or
        ``result`` itself.

    Raises:
        Exception: Whatever ``run`` raises (every candidate diverged, data ran out, a
            held-out batch the model cannot read), with the sweep's result on its
            ``.result`` (confirmed by the first run if the longer one failed) and a note
            saying so: the sweep is never lost.
    """
    try:
        anchor = result.reading.suggestion().lr
    except NoReliableSuggestionError as exc:
        warnings.warn(
            f"held_out was given but the curve has no suggestion to confirm ({exc}); the "
            "result has no confirmation",
            RuntimeWarning,
            stacklevel=3,
        )
        return result
    if total_steps is not None:
        result = dataclasses.replace(
            result, settings={**result.settings, "total_steps": total_steps}
        )
    measured = _kept(result, lambda: run(anchor, steps), "(unconfirmed) result")
    confirmation = capped(result, measured)
    if confirmation is None:
        # Every candidate left the model clearly worse than where it started: the window
        # lies past the edge of stability. Confirm the window below it instead (training
        # longer there would not help).
        first = dataclasses.replace(result, confirmation=measured)
        width = measured.candidates[-1] / measured.candidates[0]
        lower = _kept(first, lambda: run(anchor / width, steps), "result, confirmed")
        lower = dataclasses.replace(lower, steps_spent=measured.steps_spent + lower.steps_spent)
        confirmation = capped(result, lower)
        if confirmation is None:
            warnings.warn(
                f"held_out: every candidate's score was clearly above the "
                f"untrained model's held-out loss, also one window lower (candidates from "
                f"{lower.candidates[0]:.3g}); the confirmed LR {lower.lr:.3g} is a guess: "
                "the curve's reading lies past the edge of stability; try a smaller "
                "end_lr or read the curve (result.suggest('bottom'))",
                RuntimeWarning,
                stacklevel=3,
            )
            return dataclasses.replace(result, confirmation=lower)
        anchor = confirmation.anchor
    if learned(result, confirmation):
        return dataclasses.replace(result, confirmation=confirmation)
    first = dataclasses.replace(result, confirmation=confirmation)
    longer = _kept(first, lambda: run(anchor, steps * EXTEND_FACTOR), "result, confirmed")
    longer = dataclasses.replace(longer, steps_spent=confirmation.steps_spent + longer.steps_spent)
    longer = capped(result, longer) or longer
    if not learned(result, longer):
        warnings.warn(
            f"held_out: no candidate's held-out loss fell clearly below the untrained "
            f"model's in {steps} or {longer.steps} steps (best score "
            f"{min(s for s in longer.scores if math.isfinite(s)):.4g}); the confirmed LR "
            f"{longer.lr:.3g} is a guess: train longer per candidate (confirm_steps=) or "
            "read the curve (result.suggest('bottom'))",
            RuntimeWarning,
            stacklevel=3,
        )
    return dataclasses.replace(result, confirmation=longer)


def _kept(kept: RangeTestResult, run: Callable[[], Confirmation], what: str) -> Confirmation:
    """``run()``; if it raises, ``kept`` goes on the exception as ``.result``, with a note."""
    try:
        return run()
    except Exception as exc:  # the sweep finished: keep it for the caller
        exc.result = kept  # type: ignore[attr-defined]
        add_note = getattr(exc, "add_note", None)  # Python 3.11+
        if add_note is not None:
            add_note(
                f"cyclr: the LR sweep finished before the confirmation failed; its {what} "
                "is this exception's .result"
            )
        raise
