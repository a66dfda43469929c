"""What the Keras range test and confirmation share: the LR table, the snapshot, batches."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
from keras import ops

from .._batches import BatchStream
from .._validate import check_type
from ._rng import rng_states, set_rng_states

__all__ = ["Snapshot", "SweepLR", "compiled", "next_batch", "unpack"]


class SweepLR(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """The range test's LRs as a schedule: ``table[step - first_step]``, held at the ends.

    Read inside the (possibly compiled) train step from the optimizer's own counter, so
    no variable has to be added to the optimizer and nothing is baked in at tracing.
    """

    def __init__(self, lrs: np.ndarray[Any, Any], first_step: int) -> None:
        self.lrs = np.asarray(lrs, dtype=np.float32)
        self.first_step = int(first_step)

    def __call__(self, step: Any) -> Any:
        table = ops.convert_to_tensor(self.lrs, "float32")
        index = ops.cast(step, "int32") - self.first_step
        index = ops.clip(index, 0, self.lrs.shape[0] - 1)
        return ops.take(table, index)

    def get_config(self) -> dict[str, Any]:
        return {"lrs": self.lrs.tolist(), "first_step": self.first_step}


class Snapshot:
    """Copies of a model's, its optimizer's and its metrics' variables, restored exactly.

    With every random generator a step draws from (:func:`~cyclr.keras._rng.rng_states`:
    NumPy, Python, Keras' global ``SeedGenerator``, torch's where loaded), so every
    candidate draws the same dropout masks and the state after the call is the one
    before.
    """

    def __init__(self, model: Any, optimizer: Any) -> None:
        self.model = model
        self.variables = list(model.variables) + [
            v for v in optimizer.variables if all(v is not w for w in model.variables)
        ]
        self.values = [np.array(ops.convert_to_numpy(v.value), copy=True) for v in self.variables]
        self.metric_variables = list(model.metrics_variables)
        self.metric_values = [
            np.array(ops.convert_to_numpy(v.value), copy=True) for v in self.metric_variables
        ]
        self.rng = rng_states()

    def restore(self) -> None:
        for variable, value in zip(self.variables, self.values, strict=True):
            variable.assign(value)
        self.model.reset_metrics()
        for variable, value in zip(self.metric_variables, self.metric_values, strict=True):
            variable.assign(value)
        set_rng_states(self.rng)


def _inner(optimizer: Any) -> Any:
    """The optimizer whose ``_learning_rate`` the update reads (unwraps loss scaling)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


@contextlib.contextmanager
def compile_state_preserved(model: Any) -> Iterator[None]:
    """Leave the model's compiled loss and metrics unbuilt after the block if they were.

    ``model.fit`` builds them on its first call by reading one batch of its own data
    before training (``Trainer._symbolic_build``), which draws from the shuffle: a
    range test that built them would change the path of the next ``fit``. They are
    built again the same way when needed.
    """
    parts = [
        part
        for part in (
            getattr(model, "_compile_loss", None),
            getattr(model, "_compile_metrics", None),
        )
        if part is not None and getattr(part, "built", True) is False
    ]
    try:
        yield
    finally:
        for part in parts:
            part.built = False


def compiled(model: Any, before: str) -> tuple[Any, Any]:
    """``(optimizer, inner optimizer)`` of a compiled ``keras.Model``; refused otherwise."""
    check_type("model", model, keras.Model, "a keras.Model")
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None:
        raise ValueError(
            f"model must be compiled with an optimizer and a loss before {before} "
            "(call model.compile(optimizer=..., loss=...))"
        )
    inner = _inner(optimizer)
    if not hasattr(inner, "_learning_rate"):
        raise TypeError(f"optimizer {type(inner).__name__} keeps no Keras learning rate to set")
    return optimizer, inner


def next_batch(stream: BatchStream) -> tuple[Any, Any, Any]:
    return unpack(stream.next())


def unpack(batch: Any) -> tuple[Any, Any, Any]:
    """``(x, y, sample_weight)`` of a batch, as ``fit`` reads it."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
        tuple(batch) if isinstance(batch, list) else batch
    )
    return x, y, sample_weight
