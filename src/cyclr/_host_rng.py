"""The random generators an input pipeline draws from on the host, captured and put back.

NumPy's and Python's global generators (a loader that shuffles or augments with
``np.random`` or ``random``), torch's when torch is loaded (a ``DataLoader`` draws a
seed from it when a pass starts) and the data's own shuffling generators and pass
counters (:class:`cyclr._batches.LoaderState`). The JAX runner has no other state to
keep: its parameters are copies. The Keras runner adds Keras' global ``SeedGenerator``
(:mod:`cyclr.keras._rng`). A range test puts them back when it ends, and every pass it
starts over the data runs under the states of the first (:func:`replaying`), so the
batches held aside are the ones every pass skips.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np

from ._batches import LoaderState

__all__ = ["host_rng_preserved", "host_states", "replaying", "set_host_states"]


def host_states(data: Any = None) -> dict[str, Any]:
    """The states :func:`set_host_states` writes back; with ``data``, its own too."""
    states: dict[str, Any] = {"numpy": np.random.get_state(), "python": random.getstate()}
    torch = sys.modules.get("torch")
    if torch is not None:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        states["torch"] = (torch.get_rng_state(), cuda)
    states["data"] = None if data is None else LoaderState.of(data)
    return states


def set_host_states(states: dict[str, Any]) -> None:
    """Write back what :func:`host_states` captured."""
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "torch" in states:
        import torch

        cpu, cuda = states["torch"]
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
    if states["data"] is not None:
        states["data"].restore()


@contextmanager
def host_rng_preserved(
    data: Any = None,
    capture: Callable[[Any], dict[str, Any]] = host_states,
    put_back: Callable[[dict[str, Any]], None] = set_host_states,
) -> Iterator[None]:
    """Put every generator of :func:`host_states` (``data``'s own too) back after the block.

    Worker iterators the block started are shut down
    (:meth:`~cyclr._batches.LoaderState.release`). ``capture`` and ``put_back`` are the
    states kept (a framework adds its own generators to :func:`host_states`).
    """
    states = capture(data)
    try:
        yield
    finally:
        put_back(states)
        if states["data"] is not None:
            states["data"].release()


def replaying(
    data: Any = None,
    capture: Callable[[Any], dict[str, Any]] = host_states,
    put_back: Callable[[dict[str, Any]], None] = set_host_states,
) -> Callable[[], AbstractContextManager[None]]:
    """A context factory: each block runs under the states of now, then they go back.

    Every pass over the data started in such a block draws what the first did, so the
    batches a pass skips are the ones held aside. ``capture`` and ``put_back`` are the
    states kept (a framework adds its own generators to :func:`host_states`).
    """
    captured = capture(data)

    @contextmanager
    def replay() -> Iterator[None]:
        current = capture(data)
        put_back(captured)
        try:
            yield
        finally:
            put_back(current)

    return replay
