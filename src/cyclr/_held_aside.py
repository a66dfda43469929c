"""``held_out="auto"``: hold the first batches of the training data aside to confirm on.

The confirmation scores each candidate on batches it does not train on. Without a
validation split, the runners take them from the training data itself: the first
:func:`aside_count` batches of the first pass are read once and kept, and every pass the
sweep and the candidates make over the data starts after them (:class:`AfterFirst`). A
data loader that shuffles gives the same order again when the random state it draws from
is the same: the PyTorch runner starts every pass under the random state of the first
(the global generators and the loader's own), so no pass trains on a batch held aside.
Elsewhere (a ``tf.data`` pipeline that reshuffles each iteration) later passes may train
on some of those examples. An iterator (a generator) is not re-iterable: nothing is held
aside from it, and the range test reads its curve alone, as it did before the
confirmation became the default (a finite generator that served the sweep would run out
during the candidates).

Shared by the PyTorch, Keras and JAX runners.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ._batches import leading_size
from ._validate import describe

__all__ = [
    "AUTO",
    "AfterFirst",
    "HeldAside",
    "aside_count",
    "check_held_out_choice",
    "hold_aside",
    "is_auto",
]

AUTO = "auto"
"""The ``held_out`` value that holds batches of the training data aside."""
ASIDE_EXAMPLES = 1000
"""At most this many examples held aside (a validation set's usual size for the
confirmation's five 40-step candidates; the benchmark suite's validation split is a fifth
of the training set, at most 1,000 examples)."""
ASIDE_SHARE = 5
"""At most one batch in this many of a pass (a fifth, as that split)."""
ASIDE_BATCHES = 8
"""Batches held aside when a batch has no size to count examples by."""
ITERATOR_NOTE = (
    "none held aside: data is an iterator (a generator), whose batches the sweep and then "
    "every candidate would use up; pass a re-iterable (a list, a DataLoader) or validation "
    "batches as held_out= to confirm"
)
"""Why an iterator is read as it is: a finite one that served the sweep alone would run
out during the confirmation."""


def is_auto(held_out: Any) -> bool:
    """Whether ``held_out`` asks for batches held aside from the training data."""
    return isinstance(held_out, str) and held_out == AUTO


def check_held_out_choice(held_out: Any) -> None:
    """Refuse a string ``held_out`` other than ``"auto"`` (strings are not batches).

    Example:
        >>> check_held_out_choice("val")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: held_out must be validation batches, 'auto' ... (got held_out='val')
    """
    if isinstance(held_out, (str, bytes)) and not is_auto(held_out):
        raise ValueError(
            f"held_out must be validation batches, 'auto' (the first batches of data held "
            f"aside) or None (got held_out={describe(held_out)})"
        )


def aside_count(batch_size: int | None, batches_per_pass: int | None) -> int:
    r"""How many batches to hold aside.

    .. math:: k = \min\Big(\big\lceil 1000 / B \big\rceil,\ \big\lfloor n / 5 \big\rfloor\Big)

    for batches of ``B`` examples and passes of ``n`` batches (either bound dropped when
    unknown; ``8`` batches when ``B`` is unknown).

    Example:
        >>> aside_count(64, 200), aside_count(16, 90), aside_count(512, 8), aside_count(None, 4)
        (16, 18, 1, 0)
    """
    k = (
        ASIDE_BATCHES
        if not batch_size or batch_size < 0
        else math.ceil(ASIDE_EXAMPLES / batch_size)
    )
    if batches_per_pass is not None:
        k = min(k, batches_per_pass // ASIDE_SHARE)
    return k


class AfterFirst:
    """``data`` re-iterable, each pass less its first ``skip`` batches.

    Args:
        data: A re-iterable of batches (a list, a data loader).
        skip: Batches to drop at the start of every pass.
        starting: A context factory each pass is started in (its iterator made, the
            skipped batches drawn): the PyTorch runner's replays the random state of the
            first pass, so a shuffling loader gives every pass that order.

    Example:
        >>> rest = AfterFirst([1, 2, 3, 4, 5], 2)
        >>> list(rest), list(rest), len(rest)
        ([3, 4, 5], [3, 4, 5], 3)
    """

    def __init__(
        self,
        data: Iterable[Any],
        skip: int,
        starting: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        self.data = data
        self.skip = skip
        self.starting = starting
        self.batch_size = getattr(data, "batch_size", None)

    def __iter__(self) -> Iterator[Any]:
        with self.starting():
            iterator = iter(self.data)
            for _ in itertools.islice(iterator, self.skip):
                pass
            first = next(iterator, _END)
        return iter(()) if first is _END else itertools.chain([first], iterator)

    def __len__(self) -> int:
        return max(0, len(self.data) - self.skip)  # type: ignore[arg-type]


_END = object()


@dataclass(frozen=True)
class HeldAside:
    """The outcome of :func:`hold_aside`.

    Attributes:
        held: The batches held aside (empty when none could be).
        data: What to train on: ``data`` less the held batches, or ``data`` as it was.
        note: What was done, for ``result.settings["held_out"]``.
        warning: What to warn about once the sweep has run (:meth:`annotate`), or
            ``None``.
    """

    held: list[Any]
    data: Iterable[Any]
    note: str
    warning: str | None = None

    def scorable(self, check: Callable[[list[Any]], None]) -> HeldAside:
        """Itself, or nothing held aside (and a warning to give) if ``check(held)`` raises.

        ``held_out="auto"`` is the runners' default, so it must not break a run the sweep
        alone can do: a model whose loss cannot be computed in eval mode without
        gradients (a detection model that returns predictions in eval mode, a loss with
        a gradient penalty) is read from the curve alone, every batch trained on. The
        ``RuntimeWarning`` that names the error and ``held_out=None`` is given after the
        sweep (:meth:`annotate`): a loss that is wrong in training too (no
        ``loss_fn``, not a scalar) fails the sweep's first step with its own error first.

        Example:
            >>> def refuse(held):
            ...     raise ValueError("no loss in eval mode")
            >>> aside = hold_aside(list(range(10)))
            >>> kept = aside.scorable(refuse)
            >>> kept.held, list(kept.data)[:3]
            ([], [0, 1, 2])
            >>> kept.note
            'none held aside: they cannot be scored (ValueError: no loss in eval mode)'
        """
        if not self.held:
            return self
        try:
            check(self.held)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            # Something was held, so ``data`` is the source less those batches.
            whole = self.data.data if isinstance(self.data, AfterFirst) else self.data
            warning = (
                f"held_out='auto' (the default): the batches held aside cannot be scored "
                f"({reason}); the result is the curve's alone. Pass validation batches the "
                "loss can be computed on in eval mode as held_out=, or held_out=None"
            )
            note = f"none held aside: they cannot be scored ({reason})"
            return HeldAside([], whole, note, warning=warning)
        return self

    def annotate(self, result: Any, *, confirmed: bool, total_steps: Any) -> Any:
        """``result`` with ``settings["held_out"] = note``, after the sweep.

        :attr:`warning` (:meth:`scorable`'s) is given as a ``RuntimeWarning``. When
        nothing could be held aside and ``total_steps`` was given, a ``RuntimeWarning``
        says that the run's length goes unused (it fits the confirmed LR, and there is
        none).
        """
        if self.warning is not None:
            warnings.warn(self.warning, RuntimeWarning, stacklevel=3)
        if not confirmed and total_steps is not None:
            warnings.warn(
                f"held_out='auto': {self.note}, so the suggestion is not confirmed and "
                f"total_steps={total_steps!r} is not used; pass validation batches as "
                "held_out=",
                RuntimeWarning,
                stacklevel=3,
            )
        return dataclasses.replace(result, settings={**result.settings, "held_out": self.note})


def hold_aside(
    data: Iterable[Any], reading: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
) -> HeldAside:
    """Hold the first :func:`aside_count` batches of ``data`` aside.

    Args:
        data: The training batches (checked by the runner to be an iterable of batches).
        reading: A context factory every pass is started in, the first (read here) and
            the training passes after it (PyTorch: one that replays the random state of
            the first, so a shuffling loader gives every pass the same order).

    Returns:
        The :class:`HeldAside`; ``held`` is empty (nothing read from ``data``) when it
        is an iterator, and when a pass has fewer than ``ASIDE_SHARE`` batches or gave
        fewer than the batches to hold aside. A pass of unknown length is read on (no
        training) until it is known to be ``ASIDE_SHARE`` times as long as the batches
        held, or to end sooner, when a fifth of it is held.
    """
    try:
        per_pass: int | None = len(data)  # type: ignore[arg-type]
    except TypeError:
        per_pass = None
    with reading():
        iterator = iter(data)
        if iterator is data:  # nothing read: an iterator has no second pass to give
            return HeldAside([], data, ITERATOR_NOTE)
        first = next(iterator, _END)
        if first is _END:  # no batch: the runner's own check names it
            return HeldAside([], data, "none held aside: data yielded no batch")
        k = aside_count(leading_size(first), per_pass)
        held = [first, *itertools.islice(iterator, max(k - 1, 0))]
        if per_pass is None and len(held) == k:
            # A pass of unknown length (a loader without len()): read on, without
            # training, until it is known to hold ASIDE_SHARE * k batches, so a short
            # pass gives a fifth at most too.
            more = itertools.islice(iterator, (ASIDE_SHARE - 1) * k)
            seen = k + sum(1 for _ in more)
            if seen < ASIDE_SHARE * k:
                per_pass = seen
                k = aside_count(leading_size(first), per_pass)
                held = held[:k]
    if k < 1 or len(held) < k:
        reason = (
            f"a pass has {per_pass} batches, fewer than {ASIDE_SHARE}"
            if k < 1
            else f"data gave {len(held)} batches, fewer than the {k} to hold aside"
        )
        return HeldAside([], data, f"none held aside: {reason}")
    examples = sum(max(leading_size(b) or 0, 0) for b in held)
    counted = f" ({examples} examples)" if examples else ""
    note = f"auto: the first {k} batches{counted} held aside"
    return HeldAside(held, AfterFirst(data, k, reading), note)
