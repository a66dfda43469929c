"""Every random-number generator a training step can draw from, captured and put back."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np
import torch

from .. import _host_rng
from .._batches import LoaderState, own_generators

__all__ = [
    "loader_generators",
    "loader_rng_preserved",
    "replaying",
    "rng_preserved",
    "rng_states",
    "set_rng_states",
]


@contextmanager
def rng_preserved() -> Iterator[None]:
    """Put the torch (CPU, CUDA, MPS), NumPy and Python RNG states back after the block.

    Starting a ``DataLoader`` iterator draws a seed from torch's generator; reading
    held-out batches must not shift what training draws afterwards.
    """
    states = rng_states()
    try:
        yield
    finally:
        set_rng_states(states)


def rng_states() -> dict[str, Any]:
    """Every RNG state a snapshot restores: torch (CPU, CUDA, MPS), NumPy, Python."""
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        states["cuda"] = torch.cuda.get_rng_state_all()
    mps = getattr(torch, "mps", None)
    mps_backend = getattr(torch.backends, "mps", None)
    if mps is not None and mps_backend is not None and mps_backend.is_available():
        states["mps"] = mps.get_rng_state()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Write back what :func:`rng_states` captured."""
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])
    if "mps" in states:
        torch.mps.set_rng_state(states["mps"])


def loader_generators(data: Any) -> list[torch.Generator]:
    """The ``torch.Generator`` objects a data loader shuffles with, if it has its own.

    ``DataLoader(generator=...)`` and any sampler's ``generator``
    (``RandomSampler(ds, generator=g)``), each once, where
    :func:`cyclr._batches.loader_parts` finds them (samplers three levels deep, the
    loaders a wrapper names in a ``loaders`` attribute).
    """
    return [g for g in own_generators(data) if isinstance(g, torch.Generator)]


@contextmanager
def loader_rng_preserved(data: Any) -> Iterator[None]:
    """Put ``data``'s own shuffling generators (:func:`loader_generators`) back after the block.

    A ``DataLoader(generator=g)`` draws from ``g`` when a pass starts and again when its
    sampler runs out (``RandomSampler`` draws the permutation of a pass it will never
    serve); the user's next epoch must start where it would have without the range test.
    So must its pass counters (an accelerate loader counts its passes and seeds each
    one's shuffle with the count): both are a :class:`cyclr._batches.LoaderState`, and a
    persistent-worker iterator the block started is shut down
    (:meth:`~cyclr._batches.LoaderState.release`).
    """
    state = LoaderState.of(data)
    try:
        yield
    finally:
        state.release()


def replaying(data: Any) -> Callable[[], AbstractContextManager[None]]:
    """A context factory: each block runs under the RNG states of now, then they go back.

    The states are the global ones (:func:`rng_states`) and ``data``'s own shuffling
    generators and pass counters (:class:`cyclr._batches.LoaderState`), captured when
    ``replaying`` is called (:func:`cyclr._host_rng.replaying` with torch's states). Every
    pass over a shuffling data loader started (and its first batch drawn) in such a block
    gives the same order: the batches held aside from the first are the ones every pass
    skips, and no pass trains on them.
    """
    return _host_rng.replaying(data, _states_with_data, _set_states)


def _states_with_data(data: Any) -> dict[str, Any]:
    return {**rng_states(), "data": LoaderState.of(data)}


def _set_states(states: dict[str, Any]) -> None:
    set_rng_states(states)
    states["data"].restore()
