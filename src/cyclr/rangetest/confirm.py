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
smaller LR), and so it does when the vertex falls at or past the largest candidate
without that candidate scoring lowest: an extrapolation towards instability, which on
the benchmark suite took a batch-16 MLP seed to the window's largest candidate, 0.084,
where 0.047 scored lowest and 0.1 diverges over the run (:func:`read_lr`).
The lowest of five noisy scores is biased towards whichever candidate's
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
value alone would look good. What ``range_test`` does with the scores beyond choosing
(reading them against the untrained loss, running again longer or one window lower) is
:mod:`cyclr.rangetest.confirm_stage`.

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

import math
from collections.abc import Sequence
from typing import Any

from .._validate import check_finite, check_positive
from ..errors import NoReliableSuggestionError
from .confirmation import Confirmation
from .scores import (
    EVALUATE_EVERY,
    UNTRAINED_STEPS,
    Z_LEARNED,
    evaluation_steps,
    fitted_lr,
    largest_rise,
)

__all__ = [
    "CONFIRM_OFFSETS",
    "CONFIRM_STEPS",
    "EVALUATE_EVERY",
    "UNTRAINED_STEPS",
    "Z_LEARNED",
    "Confirmation",
    "candidate_lrs",
    "choose",
    "conclude",
    "evaluation_steps",
    "fitted_lr",
    "held_out_score",
    "largest_rise",
    "read_lr",
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
    return values[-1] + largest_rise(values, start)


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
    """The LR the scores give: :func:`fitted_lr`'s vertex, never read upwards past them.

    A vertex at or past the largest finite candidate is the parabola's extrapolation
    towards instability, not a minimum the scores show: unless that candidate scored
    lowest itself, the lowest score's candidate (:func:`choose`) is the LR, as when the
    parabola opens downwards. A vertex below the smallest candidate stays clipped to it:
    erring low costs speed, erring high can diverge. For the same reason, when the
    smallest finite candidate scored lowest, it is the LR: the scores put the minimum at
    or below it, and a vertex above it is the parabola bending towards the higher
    scores to its right, an LR that scored worse (measured: ``benchmarks/RESULTS.md``,
    "The smallest candidate scoring lowest").

    Raises:
        cyclr.errors.NoReliableSuggestionError: If no score is finite.

    Example:
        >>> lrs = [0.01, 0.02, 0.04, 0.08, 0.16]
        >>> fitted_lr(lrs, [2.0, 1.6, 0.8, 0.4, 0.45]), read_lr(lrs, [2.0, 1.6, 0.8, 0.4, 0.45])
        (0.16, 0.08)
        >>> read_lr(lrs, [0.45, 0.4, 0.8, 1.6, 2.0])  # below the smallest: clipped to it
        0.01
        >>> f"{read_lr(lrs, [2.0, 1.0, 0.5, 0.4, 0.8]):.3g}"  # a vertex inside the window
        '0.063'
        >>> rising = [0.4, 0.45, 0.5, 0.55, 0.85]  # the smallest scored lowest
        >>> f"{fitted_lr(lrs, rising):.3g}", read_lr(lrs, rising)
        ('0.0152', 0.01)
    """
    best = candidates[choose(candidates, scores)]
    fitted = fitted_lr(candidates, scores)
    finite = [c for c, s in zip(candidates, scores, strict=True) if math.isfinite(s)]
    if fitted is None or best == finite[0]:
        return best
    return best if fitted == finite[-1] else fitted


def conclude(
    anchor: float,
    candidates: tuple[float, ...],
    runs: Sequence[tuple[Sequence[float], bool]],
    steps: int,
    steps_spent: int,
    start_loss: float | None = None,
    held_out_steps: float | None = None,
) -> Confirmation:
    """Score every candidate's run, choose, and say what was found.

    The LR is :func:`read_lr`'s: the vertex of the parabola through the scores, or the
    lowest score's candidate.

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
        held_out_steps: The held-out batches' examples over one optimizer step's
            (:attr:`Confirmation.held_out_steps`); ``None``: not known.

    Returns:
        The :class:`Confirmation`.

    Raises:
        cyclr.errors.NoReliableSuggestionError: If every candidate diverged (its
            ``steps_spent`` attribute holds ``steps_spent``).
    """
    scores = tuple(
        held_out_score(losses, start_loss) if finite else math.inf for losses, finite in runs
    )
    try:
        lr = read_lr(candidates, scores)
    except NoReliableSuggestionError as exc:
        exc.steps_spent = steps_spent  # type: ignore[attr-defined]
        raise
    return Confirmation(
        lr=lr,
        anchor=float(anchor),
        candidates=candidates,
        scores=scores,
        steps=steps,
        steps_spent=steps_spent,
        held_out_losses=tuple(tuple(losses) for losses, _ in runs),
        start_loss=start_loss,
        held_out_steps=held_out_steps,
    )
