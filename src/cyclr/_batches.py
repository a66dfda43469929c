"""Batches for the framework range-test runners: restart a re-iterable, refuse a spent iterator.

Shared by the PyTorch, Keras and JAX runners: a list or a data loader is started again
when it runs out; an iterator (a generator) that runs out raises ``ValueError`` naming
how many batches it gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._validate import describe

__all__ = [
    "PASS_COUNTERS",
    "BatchStream",
    "LoaderState",
    "batch_weights",
    "check_batches",
    "leading_size",
    "loader_parts",
    "own_generators",
    "steps_worth",
]


_CONFLICT = -1
""":func:`leading_size` of a batch whose arrays disagree on their leading dimension."""


def leading_size(batch: Any) -> int | None:
    """The number of examples in ``batch``: the leading dimension its arrays agree on.

    Tuples, lists and mappings are walked; their arrays (at any depth) must agree, else
    the batch has no size that can be trusted (:data:`_CONFLICT`): sequence-first inputs
    with batch-first targets, or a list of per-example tensors of different lengths.
    ``None`` when the batch holds no array.
    """
    try:
        shape = getattr(batch, "shape", None)
        if shape is not None and not isinstance(batch, type):
            return int(shape[0]) if len(shape) >= 1 else None
    except Exception:  # an unknown or ragged size (a strided nested tensor has no sizes)
        return _CONFLICT
    if isinstance(batch, Mapping):
        items: Iterable[Any] = batch.values()
    elif isinstance(batch, (tuple, list)):
        items = batch
    else:
        return None
    sizes = {size for size in map(leading_size, items) if size is not None}
    if not sizes:
        return None
    return sizes.pop() if len(sizes) == 1 else _CONFLICT


def batch_weights(batches: list[Any]) -> list[float]:
    """Weights that turn per-batch mean losses into the mean over the batches' examples.

    Each batch weighs its number of examples, the leading dimension that all its arrays
    (in tuples, lists and dicts, at any depth) agree on, so a short last batch of a
    validation loader counts for what it holds. If any batch has no array, or arrays
    that disagree (sequence-first inputs with batch-first targets, per-example tensors
    of different lengths), every batch weighs the same.

    Example:
        >>> import numpy as np
        >>> batch_weights([(np.zeros((32, 4)), np.zeros(32)), (np.zeros((4, 4)), np.zeros(4))])
        [0.8888888888888888, 0.1111111111111111]
        >>> batch_weights([{"ids": [1, 2]}, {"ids": [3]}])  # no array: equal weights
        [0.5, 0.5]
    """
    sizes = [leading_size(b) for b in batches]
    if not batches:
        return []
    if any(size is None or size <= 0 for size in sizes):  # no size, or _CONFLICT
        return [1.0 / len(batches)] * len(batches)
    total = float(sum(s for s in sizes if s is not None))
    return [s / total for s in sizes if s is not None]


def loader_parts(data: Any) -> list[Any]:
    """``data``, the loaders it names and their samplers: where order and randomness live.

    A wrapper's ``loaders`` attribute (a list or tuple, as the Lightning callback's train
    batches have) is looked through, then ``sampler`` and ``batch_sampler`` attributes
    three levels deep, as a ``DataLoader``'s are. Each object once.
    """
    loaders = getattr(data, "loaders", None)
    level = [data, *loaders] if isinstance(loaders, (list, tuple)) else [data]
    found: list[Any] = []
    for _ in range(4):  # the loaders, their samplers, theirs, and theirs
        for owner in level:
            if all(owner is not seen for seen in found):
                found.append(owner)
        level = [
            inner
            for owner in level
            for name in ("sampler", "batch_sampler")
            if (inner := getattr(owner, name, None)) is not None
        ]
    return found


def own_generators(data: Any) -> list[Any]:
    """The random generators ``data`` shuffles with itself, each once.

    The ``generator`` attributes of :func:`loader_parts` that can be saved and put back
    (``get_state``/``set_state``: a ``torch.Generator``; ``DataLoader(generator=...)``,
    ``RandomSampler(ds, generator=g)``).
    """
    found: list[Any] = []
    for part in loader_parts(data):
        generator = getattr(part, "generator", None)
        savable = hasattr(generator, "get_state") and hasattr(generator, "set_state")
        if savable and all(generator is not g for g in found):
            found.append(generator)
    return found


PASS_COUNTERS = ("epoch", "iteration")
"""Integer attributes by which a loader or sampler orders its next pass: a
``DistributedSampler``'s and accelerate's ``SeedableRandomSampler``'s ``epoch`` (the
shuffle's seed is the seed plus it), accelerate's ``DataLoaderShard.iteration`` (which
sets that epoch when a pass starts and counts up when one ends)."""


@dataclass(frozen=True)
class LoaderState:
    """What orders ``data``'s next pass, captured to be put back.

    The states of its own shuffling generators (:func:`own_generators`) and the values of
    its :data:`PASS_COUNTERS` where :func:`loader_parts` finds them: a range test's
    passes must leave the user's next epoch ordered as it would have been, and every
    pass that replays them begins as the first did.

    Example:
        >>> class Sampler:
        ...     epoch = 3
        >>> class Loader:
        ...     sampler = Sampler()
        >>> loader = Loader()
        >>> state = LoaderState.of(loader)
        >>> loader.sampler.epoch = 5
        >>> state.restore()
        >>> loader.sampler.epoch
        3
    """

    generators: tuple[tuple[Any, Any], ...]
    counters: tuple[tuple[Any, str, int], ...]
    unstarted: tuple[Any, ...] = ()

    @classmethod
    def of(cls, data: Any) -> LoaderState:
        """``data``'s generators' states and pass counters as they are now."""
        parts = loader_parts(data)
        counters = tuple(
            (part, name, value)
            for part in parts
            for name in PASS_COUNTERS
            if isinstance(value := getattr(part, name, None), int) and not isinstance(value, bool)
        )
        unstarted = tuple(
            part
            for part in parts
            if getattr(part, "persistent_workers", False) is True
            and hasattr(part, "_iterator")
            and part._iterator is None
        )
        return cls(tuple((g, g.get_state()) for g in own_generators(data)), counters, unstarted)

    def restore(self) -> None:
        """Write the captured states and counters back."""
        for generator, state in self.generators:
            generator.set_state(state)
        for owner, name, value in self.counters:
            setattr(owner, name, value)

    def release(self) -> None:
        """:meth:`restore`, and drop the worker iterators started since the capture.

        For the end of a range test, not between its passes. A loader with
        ``persistent_workers=True`` that had not started a pass when captured gets no
        iterator either: the one a pass created since keeps its workers and the seed it
        drew from the loader's generator, and a ``DataLoader`` reuses it for every later
        pass, so the user's next epoch would not draw that seed where it would have
        (its workers are shut down).
        """
        self.restore()
        for loader in self.unstarted:
            started, loader._iterator = loader._iterator, None
            shutdown = getattr(started, "_shutdown_workers", None)
            if callable(shutdown):
                shutdown()


def steps_worth(held: list[Any], step: list[Any]) -> float | None:
    """How many optimizer steps' worth of examples ``held`` holds: its examples over ``step``'s.

    ``step`` is the batches of one optimizer step (one, or ``accumulation_steps`` of
    them). ``None`` when a batch has no countable size (:func:`leading_size`).

    Example:
        >>> import numpy as np
        >>> steps_worth([np.zeros((100, 3)), np.zeros((28, 3))], [np.zeros((32, 3))])
        4.0
        >>> steps_worth([{"ids": [1, 2]}], [np.zeros((32, 3))]) is None
        True
    """
    held_sizes = [leading_size(b) for b in held]
    step_sizes = [leading_size(b) for b in step]
    sizes = held_sizes + step_sizes
    if not held or not step or any(s is None or s <= 0 for s in sizes):
        return None
    return float(sum(held_sizes)) / float(sum(step_sizes))  # type: ignore[arg-type]


def check_batches(data: Any, refuse: tuple[type, ...] = (), name: str = "data") -> None:
    """Raise ``TypeError`` unless ``data`` is an iterable that can hold batches.

    Strings, bytes and mappings are refused: iterating them yields characters or keys,
    never batches. So are an array (anything with a ``shape``: its rows are not batches)
    and a tuple of two or three arrays, ``fit(x, y[, sample_weight])``'s habit (it would
    read ``x`` as one batch and ``y`` as the next).

    Args:
        data: The runner's ``data`` argument.
        refuse: More types that iterate but are not batches (a runner's tensor type).
        name: The argument's name in the message.

    Example:
        >>> check_batches([(1, 2)])
        >>> check_batches("abc")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: data must be an iterable of batches ... (got data='abc'); wrap ...
        >>> import numpy as np
        >>> check_batches((np.zeros((100, 4)), np.zeros(100)))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: data must be an iterable of batches, not a tuple of arrays ...
    """
    arrays = (
        isinstance(data, tuple) and len(data) in (2, 3) and all(hasattr(d, "shape") for d in data)
    )
    if arrays:
        shapes = ", ".join(str(tuple(d.shape)) for d in data)
        raise TypeError(
            f"{name} must be an iterable of batches, not a tuple of arrays (got a tuple of "
            f"{len(data)} arrays of shapes {shapes}: each would be read as one batch); "
            f"split them into batches: [(x[i:i+b], y[i:i+b]) for i in range(0, len(x), b)], "
            "or pass a data loader"
        )
    if hasattr(data, "shape") and not isinstance(data, type):
        raise TypeError(
            f"{name} must be an iterable of batches such as a list, a generator or a data "
            f"loader (got {name}={type(data).__name__} of shape {tuple(data.shape)}: its rows "
            "are not batches); wrap a single batch in a list, or split the array into batches"
        )
    if isinstance(data, (str, bytes, Mapping, *refuse)) or not (
        hasattr(data, "__iter__") or hasattr(data, "__getitem__")
    ):
        raise TypeError(
            f"{name} must be an iterable of batches such as a list, a generator or a data "
            f"loader (got {name}={describe(data)}); wrap a single batch in a list"
        )


class BatchStream:
    """Draw batches from ``data`` one at a time, restarting a re-iterable when it runs out.

    Args:
        data: An iterable of batches.
        fewer: What to ask for fewer of when a spent iterator cannot give enough.
        name: The parameter ``data`` was passed as, for the messages (``batches`` in JAX).

    Attributes:
        total: Batches drawn so far.
        restarts: Times a re-iterable was started again.

    Example:
        >>> stream = BatchStream([1, 2])
        >>> [stream.next() for _ in range(5)], stream.restarts
        ([1, 2, 1, 2, 1], 2)
    """

    def __init__(self, data: Iterable[Any], fewer: str = "num_steps", name: str = "data") -> None:
        self._data = data
        self._fewer = fewer
        self._name = name
        self._iterator: Iterator[Any] = iter(data)
        self._one_shot = self._iterator is data
        self._in_pass = 0
        self.total = 0
        self.restarts = 0

    def next(self) -> Any:
        """Return the next batch.

        Raises:
            ValueError: If ``data`` yields no batch, or is an exhausted iterator.
        """
        try:
            batch = next(self._iterator)
        except StopIteration:
            batch = self._restart()
        self._in_pass += 1
        self.total += 1
        return batch

    def _restart(self) -> Any:
        kind = type(self._data).__name__
        if self._in_pass == 0:
            what = "the first time" if self.restarts == 0 else "after being restarted"
            raise ValueError(
                f"{self._name} must yield at least one batch (got {self._name} of type {kind} "
                f"that yielded none {what})"
            ) from None
        if self._one_shot:
            raise ValueError(
                f"{self._name} was exhausted after {self.total} batches and cannot be "
                f"restarted: it is an iterator ({kind}), not a re-iterable such as a list or "
                f"a data loader; pass a re-iterable or fewer {self._fewer}"
            ) from None
        self._iterator = iter(self._data)
        self._in_pass = 0
        self.restarts += 1
        try:
            return next(self._iterator)
        except StopIteration:
            raise ValueError(
                f"{self._name} must yield at least one batch (got {self._name} of type {kind} "
                "that yielded none after being restarted)"
            ) from None

    def close(self) -> None:
        """Drop the current iterator (a data loader's worker processes stop with it)."""
        self._iterator = iter(())
