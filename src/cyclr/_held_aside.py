"""``held_out="auto"``: hold the first batches of the training data aside to confirm on.

The confirmation scores each candidate on batches it does not train on. Without a
validation split, the runners take them from the training data itself: the first
:func:`aside_count` batches of the first pass are read once and kept, and every pass the
sweep and the candidates make over the data starts after them (:class:`AfterFirst`). A
data loader that shuffles gives the same order again when the random state it draws from
is the same: the PyTorch runner starts every pass under the random state of the first
(the global generators and the loader's own), so no pass trains on a batch held aside.

That is checked, not assumed (:func:`same_batches`): before the sweep a second pass's
first batches must equal the ones held aside (when they do not, a third pass's must
equal the second's, which are then held: a loader with persistent workers orders its
first pass unlike the later ones), and every pass the sweep and the candidates make
skips batches that must equal them too. Data whose passes differ (a ``tf.data``
pipeline that reshuffles each iteration, random augmentation outside the runner's
random state) holds nothing aside; a pass that differs later leaves the result the
curve's alone, with a warning (:func:`finish`). A sampler that draws with replacement
(``RandomSampler(replacement=True)``, ``WeightedRandomSampler``) repeats examples
within a pass: nothing is held aside from it. An iterator (a generator) is not
re-iterable: nothing is held aside from it either, and the range test reads its curve
alone, as it did before the confirmation became the default (a finite generator that
served the sweep would run out during the candidates).

Shared by the PyTorch, Keras and JAX runners.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from ._batches import leading_size, loader_parts
from ._validate import describe
from ._warn import warn_caller

__all__ = [
    "AUTO",
    "AfterFirst",
    "HeldAside",
    "aside_count",
    "check_held_out_choice",
    "draws_with_replacement",
    "finish",
    "hold_aside",
    "is_auto",
    "same_batches",
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
REPLACEMENT_NOTE = (
    "none held aside: data's sampler draws with replacement, so a pass repeats examples "
    "and any batch held aside may come back in training; pass validation batches as "
    "held_out= to confirm"
)
ORDER_NOTE = (
    "none held aside: the first batches of a pass differ from pass to pass (a loader that "
    "reshuffles each pass, or random augmentation), so batches held aside from one pass "
    "may be trained on in the next; pass validation batches as held_out= to confirm"
)
CHANGED_NOTE = (
    "held aside, then not used: a pass began with other batches (the loader's order "
    "changed between passes)"
)
CHANGED_WARNING = (
    "held_out='auto': a pass over data began with batches other than those held aside "
    "(the loader's order changed between passes), so some of them may have been trained "
    "on; the result is the curve's alone. Pass validation batches as held_out="
)


def same_batches(first: list[Any], second: list[Any]) -> bool | None:
    """Whether two lists of batches hold the same values; ``None``: cannot tell.

    Arrays (anything with a ``shape``: NumPy, torch, JAX, TensorFlow) compare element by
    element (NaN equal to NaN), tuples, lists and mappings item by item, an object
    without an equality of its own (a ``collate_fn``'s batch class) field by field,
    anything else with ``==``. ``None`` when a value has no comparison that gives a
    truth value.

    Example:
        >>> import numpy as np
        >>> a = [(np.arange(3.0), np.array([1]))]
        >>> b = [(np.ones(3), np.array([1]))]
        >>> same_batches(a, [(np.arange(3.0), np.array([1]))]), same_batches(a, b)
        (True, False)
        >>> same_batches([{"ids": [1, 2]}], [{"ids": [1, 2]}])
        True
    """
    return _same(list(first), list(second))


def _same(a: Any, b: Any) -> bool | None:
    """:func:`same_batches` for one pair of values."""
    if hasattr(a, "shape") and not isinstance(a, type):
        try:
            if not hasattr(b, "shape") or tuple(a.shape) != tuple(b.shape):
                return False
            equal = (a == b) | ((a != a) & (b != b))  # NaN counts as equal to NaN
            return bool(equal.all())
        except Exception:  # arrays on different devices, ragged tensors, ...
            return None
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or list(a) != list(b):
            return False
        return _all_same([_same(a[key], b[key]) for key in a])
    if isinstance(a, (tuple, list)):
        if not isinstance(b, (tuple, list)) or len(a) != len(b):
            return False
        return _all_same([_same(x, y) for x, y in zip(a, b, strict=True)])
    if type(a).__eq__ is object.__eq__:  # type: ignore[comparison-overlap]  # no equality of its own
        fields = getattr(a, "__dict__", None)
        if fields is None or type(b) is not type(a):
            return None
        return _same(fields, b.__dict__)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN
    try:
        verdict = a == b
    except Exception:
        return None
    return verdict if isinstance(verdict, bool) else None


def _all_same(verdicts: list[bool | None]) -> bool | None:
    if False in verdicts:
        return False
    return None if None in verdicts else True


def draws_with_replacement(data: Any) -> bool:
    """Whether ``data``'s sampler draws with replacement (``replacement=True``).

    Looked for in :func:`~cyclr._batches.loader_parts` (``RandomSampler(replacement=True)``,
    ``WeightedRandomSampler``, a batch sampler over one, the loaders a wrapper names).
    """
    return any(getattr(part, "replacement", False) is True for part in loader_parts(data))


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
        held: The batches held aside, which the skipped ones must equal
            (:func:`same_batches`; :attr:`differed` says when a pass's did not);
            ``None``: not checked.

    Example:
        >>> rest = AfterFirst([1, 2, 3, 4, 5], 2, held=[1, 2])
        >>> list(rest), list(rest), len(rest), rest.differed
        ([3, 4, 5], [3, 4, 5], 3, False)
    """

    def __init__(
        self,
        data: Iterable[Any],
        skip: int,
        starting: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
        held: list[Any] | None = None,
    ) -> None:
        self.data = data
        self.skip = skip
        self.starting = starting
        self.held = held
        self.differed = False
        self.batch_size = getattr(data, "batch_size", None)

    def __iter__(self) -> Iterator[Any]:
        with self.starting():
            iterator = iter(self.data)
            skipped = list(itertools.islice(iterator, self.skip))
            first = next(iterator, _END)
        if self.held is not None and same_batches(skipped, self.held) is False:
            self.differed = True
        return iter(()) if first is _END else itertools.chain([first], iterator)

    def __len__(self) -> int:
        return max(0, len(self.data) - self.skip)  # type: ignore[arg-type]


_END = object()
_Result = TypeVar("_Result")
"""A range test's result (the runners' :class:`~cyclr.rangetest.RangeTestResult`)."""


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

    @property
    def intact(self) -> bool:
        """Whether every pass so far skipped exactly the batches held aside."""
        return not (isinstance(self.data, AfterFirst) and self.data.differed)

    def annotate(self, result: _Result, *, confirmed: bool, total_steps: int | None) -> _Result:
        """``result`` with ``settings["held_out"] = note``, after the sweep.

        :attr:`warning` (:meth:`scorable`'s) is given as a ``RuntimeWarning``. When
        nothing could be held aside and ``total_steps`` was given, a ``RuntimeWarning``
        (that one, when there is one) says that the run's length goes unused (it fits
        the confirmed LR, and there is none).
        """
        if self.warning is not None:
            unused = (
                ""
                if confirmed or total_steps is None
                else f"; total_steps={total_steps!r} is not used (it fits a confirmed LR)"
            )
            warn_caller(self.warning + unused)
        elif not confirmed and total_steps is not None:
            warn_caller(
                f"held_out='auto': {self.note}, so the suggestion is not confirmed and "
                f"total_steps={total_steps!r} is not used; pass validation batches as "
                "held_out="
            )
        settings = {**result.settings, "held_out": self.note}  # type: ignore[attr-defined]
        return dataclasses.replace(result, settings=settings)  # type: ignore[type-var]


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
        is an iterator, when its sampler draws with replacement
        (:func:`draws_with_replacement`), when a pass has fewer than ``ASIDE_SHARE``
        batches or gave fewer than the batches to hold aside, and when its passes
        begin differently (:func:`same_batches`; a second pass is read to check, and a
        third when the second differs from the first: then the second's are held). A
        pass of unknown length is read on (no training) until it is known to be
        ``ASIDE_SHARE`` times as long as the batches held, or to end sooner, when a
        fifth of it is held.
    """
    if draws_with_replacement(data):
        return HeldAside([], data, REPLACEMENT_NOTE)
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
        if per_pass is None and len(held) >= k:
            # A pass of unknown length (a loader without len()): read on, without
            # training, until it is known to hold ASIDE_SHARE * k batches, so a short
            # pass gives a fifth at most too.
            more = itertools.islice(iterator, (ASIDE_SHARE - 1) * k)
            per_pass = len(held) + sum(1 for _ in more)
            per_pass = None if per_pass >= ASIDE_SHARE * k else per_pass
        elif per_pass is None:  # the pass ended before k batches
            per_pass = len(held)
        if per_pass is not None:
            k = aside_count(leading_size(first), per_pass)
            held = held[: max(k, 0)]
    if k < 1 or len(held) < k:
        reason = (
            f"a pass has {per_pass} batches, fewer than {ASIDE_SHARE}"
            if k < 1
            else f"data gave {len(held)} batches, fewer than the {k} to hold aside"
        )
        return HeldAside([], data, f"none held aside: {reason}")
    repeated = _repeated(data, held, reading)
    if repeated is None:
        return HeldAside([], data, ORDER_NOTE)
    held = repeated
    examples = sum(max(leading_size(b) or 0, 0) for b in held)
    counted = f" ({examples} examples)" if examples else ""
    first = "the first batch" if k == 1 else f"the first {k} batches"
    note = f"auto: {first}{counted} held aside"
    return HeldAside(held, AfterFirst(data, k, reading, held), note)


def _repeated(
    data: Iterable[Any], held: list[Any], reading: Callable[[], AbstractContextManager[Any]]
) -> list[Any] | None:
    """``held``, or the next pass's first batches, whichever the passes repeat; ``None``: neither.

    A second pass's first ``len(held)`` batches must equal ``held``; if they differ, a
    third pass's must equal the second's (a loader with persistent workers orders its
    first pass unlike the later ones), and the second's are returned. When the batches
    cannot be compared (:func:`same_batches` gives ``None``), ``held`` is kept.
    """
    candidate = held
    for _ in range(2):
        with reading():
            again = list(itertools.islice(iter(data), len(candidate)))
        if same_batches(candidate, again) is not False:
            return candidate
        candidate = again
    return None


def finish(
    aside: HeldAside | None,
    result: _Result,
    confirm: Callable[[_Result], _Result] | None,
    total_steps: int | None,
) -> _Result:
    """What a runner does after its sweep: note what was held aside, then confirm.

    Args:
        aside: ``held_out="auto"``'s :class:`HeldAside`, or ``None`` (validation
            batches given, or ``held_out=None``).
        result: The sweep's result.
        confirm: ``confirm(result) -> result`` confirming on the held-out batches, or
            ``None`` when there are none to confirm on.
        total_steps: The ``range_test``'s ``total_steps``, checked (for :meth:`HeldAside.annotate`).

    Returns:
        The confirmed result; the sweep's alone (with one ``RuntimeWarning``, and none of
        the confirmation's) when a pass over the data, in the sweep or in the candidates,
        began with batches other than those held aside: some of them may have been
        trained on.
    """
    if aside is None:
        return result if confirm is None else confirm(result)
    if confirm is not None and aside.intact:
        with warnings.catch_warnings(record=True) as said:  # held until the check below
            confirmed = confirm(aside.annotate(result, confirmed=True, total_steps=total_steps))
        if aside.intact:
            for w in said:  # the confirmation's own warnings, where they pointed
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return confirmed
    if not aside.intact:  # its warnings were about a confirmation that is not kept
        aside = dataclasses.replace(aside, note=CHANGED_NOTE, warning=CHANGED_WARNING)
    return aside.annotate(result, confirmed=False, total_steps=total_steps)
