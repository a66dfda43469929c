r"""Which candidates a confirmation trains: a line search in log-LR, one candidate at a time.

A window of fixed offsets around the curve's reading can only confirm an LR inside it,
and the reading moves from seed to seed by a factor of 3 to 8 on some models; when the
best LR lies past the window's end, the confirmation answers with that end, and the
answer moves with the reading. :class:`CandidateSearch` lets the scores move the window
instead. It trains the candidates at offsets (in decades, around the LR being confirmed)

.. math:: o \in (-\tfrac12, 0, \tfrac12)

and then :data:`SEARCH_MOVES` more, each placed by the scores so far. With :math:`o^*`
the offset of the lowest finite score (ties: the smaller):

* at the largest offset tried: one :data:`SEARCH_STRIDE` (half a decade) beyond it;
* at the smallest: half a decade below it (also when no score is finite: every
  candidate diverged, so the LR sought is smaller);
* inside: halfway to its neighbour with the lower score, so the minimum is bracketed
  more finely where the parabola through the scores is read.

The same five trainings as a fixed window (:data:`SEARCH_START` plus two), so the same
cost, over as much as three decades when the evidence points that way. The LR is then
read from every score as before (:func:`~cyclr.rangetest.scores.fitted_lr`).

The window moves only on evidence that a candidate learned: with ``learned_below``
given (e.g. :func:`cyclr.rangetest.confirm_stage.learning_bar` of the range test's result, the
untrained loss less two standard deviations of its noise), if no score is below it after
the first three, the remaining two fill the window at :math:`\pm\tfrac14` instead: scores that
differ by noise alone (a recurrent network on its plateau) must not lead the search
away.

Not the default (the adapters' ``confirm`` take it with ``offsets=None``): measured end
to end on the benchmark suite, eight seeds (``benchmarks/results/suite_search_8seeds.md``),
it moved the window where the sweep's reading was low (an MLP at batch 512: 0.98 to 0.13
target units; the largest seed spread 15.4x to 9.3x) but also past LRs steady for 40
steps that fail over the whole run (one seed of a LeNet diverged; worst run 27 to 85
units) and lower on the overfitting regression (23% to 38% MSE). Schedules from its
bounds put ``max_lr`` up to 12x the confirmed LR (``benchmarks/results/clr_search.md``):
with the search, build a schedule around the confirmed LR itself rather than from
:meth:`Confirmation.bounds`.
See ``benchmarks/RESULTS.md``, "The confirmation as a line search".
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from .._validate import check_finite, check_positive
from .confirm import candidate_lrs, conclude, held_out_score
from .confirmation import Confirmation

__all__ = ["SEARCH_FILL", "SEARCH_MOVES", "SEARCH_START", "SEARCH_STRIDE", "CandidateSearch"]

SEARCH_START = (-0.5, 0.0, 0.5)
"""The first candidates' offsets in decades around the LR being confirmed."""

SEARCH_MOVES = 2
"""Candidates placed by the scores after the first ones."""

SEARCH_STRIDE = 0.5
"""How far past the end of the tried offsets a move goes, in decades."""

SEARCH_FILL = (-0.25, 0.25)
"""The offsets trained instead of moves when no first candidate learned."""


class CandidateSearch:
    """The candidates of one confirmation, proposed one at a time; iterate, then record.

    A framework's confirmation trains whatever the iteration yields, from the same saved
    state, and calls :meth:`record` with each candidate's held-out losses before asking
    for the next; :meth:`conclude` then reads the LR from every score.

    Args:
        lr: The LR to confirm, positive and finite.
        offsets: Fixed offsets in decades (every candidate ``lr * 10 ** o`` is trained,
            in increasing order, and none is added), or ``None`` for the line search.
        learned_below: The score a candidate must beat before the search moves the
            window (``None``: it moves on any score). Ignored with fixed ``offsets``.

    Raises:
        TypeError, ValueError: For an ``lr``, ``offsets`` or ``learned_below`` that is
            not valid (named, with its value).

    Example:
        >>> search = CandidateSearch(0.01)
        >>> for lr in search:   # a toy score with its minimum at lr = 0.1
        ...     search.record([abs(math.log10(lr) + 1.0)], finite=True)
        >>> [f"{c:.3g}" for c in search.candidates]
        ['0.00316', '0.01', '0.0316', '0.1', '0.316']
    """

    def __init__(
        self,
        lr: Any,
        offsets: Sequence[float] | None = None,
        *,
        learned_below: float | None = None,
    ) -> None:
        self.anchor = check_positive("lr", lr)
        self._fixed: tuple[float, ...] | None = None
        if offsets is not None:
            candidate_lrs(lr, offsets)  # names a bad offset
            self._fixed = tuple(sorted(float(o) for o in offsets))
        self.learned_below = (
            None if learned_below is None else check_finite("learned_below", learned_below)
        )
        self._runs: dict[float, tuple[tuple[float, ...], bool]] = {}
        self._waiting: float | None = None
        self.start_loss: float | None = None
        self.held_out_steps: float | None = None

    # -- proposing ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[float]:
        """Yield each candidate LR; :meth:`record` its run before taking the next."""
        for offset in self._offsets():
            candidate = self.anchor * 10.0**offset
            if not (math.isfinite(candidate) and candidate > 0):
                raise ValueError(
                    f"the candidate lr * 10**{offset:g} is not a positive finite number "
                    f"(got lr={self.anchor!r})"
                )
            self._waiting = offset
            yield candidate
            if self._waiting is not None:
                raise RuntimeError(f"record() the run of candidate {candidate!r} first")

    def _offsets(self) -> Iterator[float]:
        if self._fixed is not None:
            yield from self._fixed
            return
        yield from SEARCH_START
        if self.learned_below is not None and not min(self.scores, default=math.inf) < (
            self.learned_below
        ):
            yield from SEARCH_FILL
            return
        for _ in range(SEARCH_MOVES):
            offset = self._next_offset()
            if offset is None:
                return
            yield offset

    def _next_offset(self) -> float | None:
        """Where the scores so far say the next candidate goes; ``None``: nowhere new."""
        tried = sorted(self._runs)
        scores = dict(zip(tried, self.scores, strict=True))
        finite = [o for o in tried if math.isfinite(scores[o])]
        if not finite:
            return tried[0] - SEARCH_STRIDE
        best = min(finite, key=lambda o: (scores[o], o))
        if best == tried[-1]:
            return best + SEARCH_STRIDE
        if best == tried[0]:
            return best - SEARCH_STRIDE
        below = max(o for o in tried if o < best)
        above = min(o for o in tried if o > best)
        toward = below if scores[below] <= scores[above] else above
        return None if (best + toward) / 2 in self._runs else (best + toward) / 2

    # -- recording and concluding ------------------------------------------------------

    def record_start(self, held_out_loss: float, held_out_steps: float | None = None) -> None:
        """Record the held-out loss of the state every candidate starts from.

        Measured before the first candidate trains; each candidate's rise above it then
        counts in its score (:func:`~cyclr.rangetest.confirm.held_out_score`).
        ``held_out_steps``: the held-out batches' examples over one optimizer step's
        (:attr:`~cyclr.rangetest.confirmation.Confirmation.held_out_steps`), if known.
        """
        self.start_loss = float(held_out_loss)
        self.held_out_steps = held_out_steps

    def record(self, held_out_losses: Sequence[float], finite: bool) -> None:
        """Record the run of the candidate just yielded.

        Args:
            held_out_losses: Its held-out losses, in the order measured.
            finite: Whether its training loss stayed finite.

        Raises:
            RuntimeError: If no candidate is waiting for its run.
        """
        if self._waiting is None:
            raise RuntimeError("record() follows a candidate taken from the search")
        self._runs[self._waiting] = (tuple(float(v) for v in held_out_losses), bool(finite))
        self._waiting = None

    @property
    def candidates(self) -> tuple[float, ...]:
        """The candidates recorded so far, increasing."""
        return tuple(self.anchor * 10.0**o for o in sorted(self._runs))

    @property
    def scores(self) -> tuple[float, ...]:
        """Their :func:`~cyclr.rangetest.confirm.held_out_score` (``inf``: diverged)."""
        return tuple(
            held_out_score(losses, self.start_loss) if ok else math.inf
            for losses, ok in (self._runs[o] for o in sorted(self._runs))
        )

    def conclude(self, steps: int, steps_spent: int) -> Confirmation:
        """The :class:`Confirmation` of every recorded candidate (see ``confirm.conclude``)."""
        runs = [self._runs[o] for o in sorted(self._runs)]
        return conclude(
            self.anchor,
            self.candidates,
            runs,
            steps,
            steps_spent,
            self.start_loss,
            self.held_out_steps,
        )
