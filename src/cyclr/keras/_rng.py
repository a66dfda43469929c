"""Every random-number generator a Keras training step or input pipeline can draw from.

NumPy's and Python's global generators (a ``PyDataset`` that augments draws from them),
Keras' global ``SeedGenerator`` (unseeded ``keras.random`` calls draw from it) and, on
the torch backend or when torch is loaded (a ``DataLoader`` as ``data`` draws a seed
from it when a pass starts), torch's, and the data's own shuffling generators
(``DataLoader(generator=g)``) and pass counters (:class:`cyclr._batches.LoaderState`).
The range test and the confirmation put them back when they end, and the batches held
aside are read again under the states of the first pass (:func:`replaying`), as the
PyTorch runner does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from keras import ops
from keras.src.backend.common import global_state
from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR

from .. import _host_rng

__all__ = ["replaying", "rng_preserved", "rng_states", "set_rng_states"]


def rng_states(data: Any = None) -> dict[str, Any]:
    """The states :func:`set_rng_states` writes back (copies, not references).

    :func:`cyclr._host_rng.host_states` (NumPy, Python, torch when loaded, ``data``'s
    own) and Keras' global ``SeedGenerator``.
    """
    generator = global_state.get_global_attribute(GLOBAL_SEED_GENERATOR)
    states = _host_rng.host_states(data)
    states["keras"] = (
        None
        if generator is None
        else (generator, np.array(ops.convert_to_numpy(generator.state.value), copy=True))
    )
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Write back what :func:`rng_states` captured.

    Keras' global ``SeedGenerator`` is put back as it was: with its state, or absent when
    it did not exist yet (the next unseeded call then makes it as it would have).
    """
    keras_state = states["keras"]
    if keras_state is None:
        global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)
    else:
        generator, value = keras_state
        global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, generator)
        generator.state.assign(value)
    _host_rng.set_host_states(states)


def rng_preserved(data: Any = None) -> AbstractContextManager[None]:
    """Put every generator of :func:`rng_states` (``data``'s own too) back after the block.

    Worker iterators the block started are shut down, as
    :func:`cyclr._host_rng.host_rng_preserved` does.
    """
    return _host_rng.host_rng_preserved(data, rng_states, set_rng_states)


def replaying(data: Any = None) -> Callable[[], AbstractContextManager[None]]:
    """:func:`cyclr._host_rng.replaying` with Keras' generator among the states replayed.

    Every pass over the data started in such a block draws what the first did (a
    ``PyDataset`` augmenting with NumPy's generator, a shuffling torch ``DataLoader``),
    so the batches a pass skips are the ones held aside.
    """
    return _host_rng.replaying(data, rng_states, set_rng_states)
