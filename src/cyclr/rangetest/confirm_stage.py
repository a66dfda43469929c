r"""The confirmation stage of ``range_test``: reading the scores against the untrained loss.

:mod:`cyclr.rangetest.confirm` trains nothing itself and chooses among the candidates;
this module is what a framework's ``range_test`` does around it
(:func:`confirm_result`): it confirms the curve's default reading, then reads the scores
against the untrained model's loss and its noise, taken from the sweep's first steps.

The confirmation measures the held-out loss before any candidate trains, :math:`v_0`,
and each candidate's rise counts from it
(:func:`~cyclr.rangetest.confirm.held_out_score`). A score above :math:`v_0` by more
than :data:`~cyclr.rangetest.scores.Z_LEARNED` standard deviations of the sweep's first
losses (:func:`untrained_ceiling`, the mirror of the sweep's learning bar) means the
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

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186 (the range test whose reading this checks).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._held_aside import HeldAside, finish
from .._validate import check_int
from .._warn import warn_caller
from ..errors import NoReliableSuggestionError
from .confirm import CONFIRM_OFFSETS, read_lr
from .confirmation import Confirmation
from .scores import held_out_bar, untrained_bar, untrained_loss
from .spec import EXTEND_FACTOR

if TYPE_CHECKING:
    from .result import RangeTestResult

__all__ = [
    "after_sweep",
    "capped",
    "check_run_length",
    "confirm_result",
    "learned",
    "learning_bar",
    "overfitting_notice",
    "untrained_ceiling",
]


def learned(result: RangeTestResult, confirmation: Confirmation) -> bool:
    r"""Whether the best candidate's held-out score fell clearly below the untrained loss.

    .. math:: \min_j s_j < v_0 - z \, \sigma_0 / \sqrt m

    :math:`v_0` is the held-out loss before training (:attr:`Confirmation.start_loss`;
    the mean of the sweep's first :data:`UNTRAINED_STEPS` losses where it was not
    measured), :math:`\sigma_0` the standard deviation of those first losses (at LRs
    too small to train: the batch-to-batch noise of one step's loss), :math:`m` the
    held-out batches' size in steps' worth of examples
    (:attr:`Confirmation.held_out_steps`; 1 when not known), so that
    :math:`\sigma_0/\sqrt m` is how much a held-out mean varies by chance, and
    :math:`z =` :data:`Z_LEARNED` (:func:`~cyclr.rangetest.scores.held_out_bar`). A model
    on a plateau (a recurrent network before it finds the signal) can leave every
    candidate's held-out loss at the untrained level for 40 steps; then the scores
    differ by noise alone and no reading of them means anything. Both sides are in the
    loss's units, so scaling or shifting the loss changes nothing. ``True`` when the
    sweep has too few finite first losses to tell.

    Measured against the bar without :math:`m` and from :math:`\bar L_0` (before): on
    a small regression (the benchmark suite's diabetes, batches of 32 whose losses vary
    by a third of their mean) a held-out MSE that fell by half counted as not learned, so
    the confirmation ran three times as long and warned that its LR was a guess, and the
    run's length could not be read; on the GRU's plateau the scores stay within the
    new bar as within the old.

    Example:
        >>> import numpy as np
        >>> from cyclr.rangetest import RangeTestResult
        >>> losses = 2.3 + 0.01 * np.sin(np.arange(20))
        >>> r = RangeTestResult(np.logspace(-7, -5, 20), losses, losses, None, None, {}, None)
        >>> stuck = Confirmation(0.01, 0.01, (0.01,), (2.299,), 40, 40)
        >>> learned(r, stuck), learned(r, Confirmation(0.01, 0.01, (0.01,), (1.2,), 40, 40))
        (False, True)
    """
    bar = learning_bar(result, confirmation)
    scores = [s for s in confirmation.scores if math.isfinite(s)]
    if bar is None or not scores:
        return True
    return min(scores) < bar


def untrained_ceiling(result: RangeTestResult, confirmation: Confirmation) -> float | None:
    r"""The score above which a candidate did worse than not training: :math:`v_0 + z\,\sigma_0`.

    :math:`v_0` is the held-out loss before training (:attr:`Confirmation.start_loss`;
    the sweep's untrained loss :math:`\bar L_0` where it was not measured),
    :math:`\sigma_0` the standard deviation of the sweep's first
    :data:`UNTRAINED_STEPS` losses and :math:`z =` :data:`Z_LEARNED`: the mirror of the
    sweep's own bar (:func:`~cyclr.rangetest.scores.untrained_bar`; a large deviation, not
    the noise of a held-out mean as :func:`learning_bar` with a confirmation). ``None``
    when the sweep has too few finite first losses.

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


def learning_bar(result: RangeTestResult, confirmation: Confirmation | None = None) -> float | None:
    r"""The score below which a candidate has learned.

    With a ``confirmation``, :math:`v_0 - z\,\sigma_0/\sqrt m` from its held-out loss
    before training and the held-out batches' size (see :func:`learned`,
    :func:`~cyclr.rangetest.scores.held_out_bar`); without one (before any candidate
    trained, as the line search's ``learned_below``), :math:`\bar L_0 - z\,\sigma_0`:
    the mean of the sweep's first :data:`UNTRAINED_STEPS` finite losses less
    :data:`Z_LEARNED` of their standard deviations
    (:func:`~cyclr.rangetest.scores.untrained_bar`). ``None`` when fewer than two are
    finite.
    """
    if confirmation is None:
        return untrained_bar(result.losses)
    return held_out_bar(result.losses, confirmation.start_loss, confirmation.held_out_steps)


def check_run_length(total_steps: Any, held_out: Any) -> int | None:
    """Check a ``range_test``'s ``total_steps`` before the first step.

    Args:
        total_steps: The run's length the confirmed LR is fitted to, or ``None``.
        held_out: The ``held_out`` argument (``total_steps`` needs a confirmation).

    Returns:
        ``total_steps`` as an int, or ``None``.

    Raises:
        TypeError: If ``total_steps`` is not an integer.
        ValueError: If it is not positive, or is given with ``held_out=None``.
    """
    if total_steps is None:
        return None
    steps = check_int("total_steps", total_steps)
    if held_out is None:
        raise ValueError(
            f"total_steps fits the confirmed LR to the run and needs the confirmation: pass "
            f"held_out='auto' or validation batches (got total_steps="
            f"{total_steps!r}, held_out=None)"
        )
    return steps


def confirm_result(
    result: RangeTestResult,
    run: Callable[[float, int], Confirmation],
    steps: int,
    total_steps: int | None = None,
    *,
    held_aside: bool = False,
) -> RangeTestResult:
    """``result`` with its curve's default suggestion confirmed by ``run``.

    What a framework's ``range_test`` does after the sweep (unless ``held_out=None``): it
    confirms the default reading of the curve (``result.reading.suggestion()``) and
    keeps the :class:`Confirmation` in the result, whose ``suggest()``,
    ``clr_bounds()`` and ``schedule()`` then answer from it. A curve with no reliable
    suggestion has nothing to confirm: the result comes back as it is
    (``result.suggest()`` raises the curve's reason), with a warning when the user's
    validation batches go unused (not for batches held aside, ``held_out="auto"``).

    Scores above the untrained model's (:func:`untrained_ceiling`) are brought down to
    it (:func:`capped`). If every candidate scored above it or diverged (the window lies
    past the edge of stability), the confirmation runs once more one window lower (the anchor
    divided by the ratio of the largest candidate to the smallest, 10 by default); if
    that window is past the edge too, a ``RuntimeWarning`` says the confirmed LR is a
    guess. Otherwise, if no candidate learned within ``steps`` steps (:func:`learned`),
    the confirmation runs once more from the same state with :data:`EXTEND_FACTOR` times
    the steps, as the sweep reruns a curve it cannot read; if still none learned, a
    ``RuntimeWarning`` says the confirmed LR is a guess. The steps of every run count in
    ``steps_spent``.

    Args:
        result: The range test's result, without a confirmation.
        run: ``run(lr, steps) -> Confirmation``: the framework's confirmation around
            ``lr``, ``steps`` steps per candidate.
        steps: Steps per candidate of the first run (``confirm_steps``).
        total_steps: The run's length (``range_test(..., total_steps=...)``), kept in
            ``result.settings["total_steps"]``, which ``result.suggest()`` then fits the
            confirmed LR to (:mod:`cyclr.rangetest.horizon`); ``None``: none.
        held_aside: Whether the held-out batches were held aside from the training data
            (``held_out="auto"``) rather than given.

    Returns:
        The result with :attr:`~cyclr.rangetest.RangeTestResult.confirmation` set, or
        ``result`` itself.

    Raises:
        Exception: Whatever ``run`` raises (every candidate diverged, also one window
            lower; data ran out; a held-out batch the model cannot read), with the
            sweep's result on its ``.result`` (confirmed by the first run if the longer
            one failed) and a note saying so: the sweep is never lost.
    """
    try:
        anchor = result.reading.suggestion().lr
    except NoReliableSuggestionError as exc:
        if held_aside:
            return result
        warn_caller(
            f"the curve has no suggestion to confirm on held_out ({exc}); the result has "
            "no confirmation"
        )
        return result
    if total_steps is not None:
        result = dataclasses.replace(
            result, settings={**result.settings, "total_steps": total_steps}
        )
    measured, diverged_steps = _first_window(result, lambda: run(anchor, steps))
    confirmation = None if measured is None else capped(result, measured)
    if confirmation is None:
        # Every candidate diverged or left the model clearly worse than where it started:
        # the window lies past the edge of stability. Confirm the window below it instead
        # (training longer there would not help).
        if measured is None:
            width = 10.0 ** (CONFIRM_OFFSETS[-1] - CONFIRM_OFFSETS[0])
            lower = _kept(result, lambda: run(anchor / width, steps), "(unconfirmed) result")
            lower = dataclasses.replace(lower, steps_spent=lower.steps_spent + diverged_steps)
        else:
            width = measured.candidates[-1] / measured.candidates[0]
            lower = _again(result, measured, lambda: run(anchor / width, steps))
        confirmation = capped(result, lower)
        if confirmation is None:
            warn_caller(
                f"held_out: every candidate diverged or scored clearly above the "
                f"untrained model's held-out loss, also one window lower (candidates from "
                f"{lower.candidates[0]:.3g}); the confirmed LR {lower.lr:.3g} is a guess: "
                "the curve's reading lies past the edge of stability; try a smaller "
                "end_lr or read the curve (result.suggest('bottom'))"
            )
            return dataclasses.replace(result, confirmation=lower)
        anchor = confirmation.anchor
    if learned(result, confirmation):
        return dataclasses.replace(result, confirmation=confirmation)
    longer = _again(result, confirmation, lambda: run(anchor, steps * EXTEND_FACTOR))
    longer = capped(result, longer) or longer
    if not learned(result, longer):
        warn_caller(
            f"held_out: no candidate's held-out loss fell clearly below the untrained "
            f"model's in {steps} or {longer.steps} steps (best score "
            f"{min(s for s in longer.scores if math.isfinite(s)):.4g}); the confirmed LR "
            f"{longer.lr:.3g} is a guess: train longer per candidate (confirm_steps=) or "
            "read the curve (result.suggest('bottom'))"
        )
    return dataclasses.replace(result, confirmation=longer)


def overfitting_notice(result: RangeTestResult) -> str | None:
    """What the confirmation says of a run at its LR when it overfits, the run's length unknown.

    The confirmed LR is the best for the window's few steps. Where the candidates'
    held-out losses turned up within it, a longer run at that LR ends past its held-out
    minimum (:mod:`cyclr.rangetest.horizon`), and only the run's length
    (``total_steps=``) lets ``result.suggest()`` lower the LR to fit.

    Returns:
        The finding in words (how many candidates turned up, after how many steps a run
        at the confirmed LR is past its held-out minimum); ``None`` when the run's
        length is known, there is no confirmation, its LR is already a guess (nothing
        learned, or every score past the untrained ceiling: :func:`confirm_result` said
        so), or fewer than two candidates turned up.
    """
    confirmation = result.confirmation
    if result.settings.get("total_steps") is not None or confirmation is None:
        return None
    if not learned(result, confirmation) or capped(result, confirmation) is None:
        return None
    suggestion = result.suggest()
    minimum = suggestion.evidence.get("held_out_minimum_steps")
    if minimum is None:
        return None
    return (
        f"the held-out loss turned up within the confirmation's {confirmation.steps} steps "
        f"at {len(suggestion.evidence['overfitting_times'])} candidates: a run at the "
        f"confirmed LR {suggestion.lr:.3g} is past its held-out minimum after about "
        f"{minimum} steps"
    )


def _warn_if_overfitting(result: RangeTestResult) -> None:
    """Warn with :func:`overfitting_notice`'s finding, if any.

    Without it the LR would look final where a run longer than a few steps is past its
    held-out minimum.
    """
    notice = overfitting_notice(result)
    if notice is not None:
        warn_caller(
            f"held_out: {notice}. For a longer run, pass its length (range_test(..., "
            "total_steps=...) or result.suggest(total_steps=...)) to fit the LR to it"
        )


def after_sweep(
    result: RangeTestResult,
    aside: HeldAside | None,
    run: Callable[[float, int], Confirmation] | None,
    steps: int,
    run_length: int | None,
) -> RangeTestResult:
    """What every framework's ``range_test`` does once its sweep has run.

    Notes what ``held_out="auto"`` held aside and confirms the curve's suggestion with
    ``run`` (:func:`confirm_result`), unless there is nothing to confirm on (``run`` is
    ``None``); the confirmation is dropped, with a warning, when a pass over the data
    began with batches other than those held aside (:func:`cyclr._held_aside.finish`).
    Without the run's length, a confirmation whose candidates overfit warns how soon a
    run at its LR passes the held-out minimum.

    Args:
        result: The sweep's result.
        aside: ``held_out="auto"``'s :class:`~cyclr._held_aside.HeldAside`, or ``None``.
        run: ``run(lr, steps) -> Confirmation`` on the held-out batches, or ``None``.
        steps: Steps per candidate (``confirm_steps``).
        run_length: ``total_steps`` as checked (:func:`check_run_length`).
    """
    if run is None:
        return finish(aside, result, None, run_length)
    confirming = run
    confirmed = finish(
        aside,
        result,
        lambda swept: confirm_result(
            swept, confirming, steps, run_length, held_aside=aside is not None
        ),
        run_length,
    )
    _warn_if_overfitting(confirmed)
    return confirmed


def _first_window(
    result: RangeTestResult, run: Callable[[], Confirmation]
) -> tuple[Confirmation | None, int]:
    """The first confirmation run, or ``None`` and its steps if every candidate diverged.

    Any other exception goes up with ``result`` on it (:func:`_kept`).
    """
    try:
        return _kept(result, run, "(unconfirmed) result"), 0
    except NoReliableSuggestionError as exc:
        return None, int(getattr(exc, "steps_spent", 0))


def _again(
    result: RangeTestResult, previous: Confirmation, run: Callable[[], Confirmation]
) -> Confirmation:
    """A second confirmation run; ``previous``'s steps count in its ``steps_spent``.

    If it raises, the result confirmed by ``previous`` goes on the exception.
    """
    kept = dataclasses.replace(result, confirmation=previous)
    again = _kept(kept, run, "result, confirmed")
    return dataclasses.replace(again, steps_spent=previous.steps_spent + again.steps_spent)


def _kept(kept: RangeTestResult, run: Callable[[], Confirmation], what: str) -> Confirmation:
    """``run()``; if it raises, ``kept`` goes on the exception as ``.result``, with a note."""
    try:
        return run()
    except (Exception, KeyboardInterrupt) as exc:  # the sweep finished: keep it for the caller
        exc.result = kept  # type: ignore[union-attr]
        add_note = getattr(exc, "add_note", None)  # Python 3.11+
        if add_note is not None:
            add_note(
                f"cyclr: the LR sweep finished before the confirmation failed; its {what} "
                "is this exception's .result"
            )
        raise
