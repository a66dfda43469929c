"""What the JAX range test and confirmation share: the step's type, copies, its outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["EvalLoss", "TrainStep", "copy_tree", "step_outputs"]

TrainStep = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any]]
"""``train_step(params, opt_state, batch, lr) -> (params, opt_state, loss)``."""

EvalLoss = Callable[[Any, Any], Any]
"""``eval_loss(params, batch) -> scalar``: the mean loss of one held-out batch."""


def _copy_leaf(leaf: Any) -> Any:
    if isinstance(leaf, jax.Array):
        return jnp.array(leaf, copy=True)
    if isinstance(leaf, np.ndarray):
        return leaf.copy()
    return leaf


def copy_tree(tree: Any) -> Any:
    """A fresh copy of every array leaf, in new containers."""
    return jax.tree_util.tree_map(_copy_leaf, tree)


def step_outputs(out: Any, *, first: bool) -> tuple[Any, Any, Any]:
    """``(params, opt_state, loss)`` from what ``train_step`` returned, the loss as a scalar.

    The loss's shape is checked on the ``first`` step only (no per-step work after it).

    Raises:
        TypeError: If ``out`` is not a 3-tuple.
        ValueError: If the first step's loss is not a scalar.
    """
    if not isinstance(out, tuple) or len(out) != 3:
        raise TypeError(
            "train_step must return a tuple (params, opt_state, loss) (got "
            + (f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__)
            + ")"
        )
    params, opt_state, loss = out
    if first and jnp.shape(loss) not in ((), (1,)):
        raise ValueError(
            f"train_step must return a scalar loss (got loss of shape {jnp.shape(loss)})"
        )
    return params, opt_state, jnp.reshape(loss, ())
