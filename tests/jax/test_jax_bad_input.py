"""Bad steps for the JAX adapter: concrete steps are checked, traced ones pass."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclr import OneCycle, Triangular
from cyclr.jax import evaluate, to_optax

TRI = Triangular(0.001, 0.006, 10)

CASES = {
    "python-negative": (-1, ValueError, "step=-1"),
    "python-fraction": (2.5, ValueError, "step=2.5"),
    "python-nan": (float("nan"), ValueError, "step=nan"),
    "python-past-int32": (2**31, ValueError, "step=2147483648"),
    "python-huge": (10**400, ValueError, "step=1000...0 (401 digits)"),
    "python-minus-huge": (-(10**400), ValueError, "step=-1000...0 (401 digits)"),
    "numpy-negative": (np.array([3, -1]), ValueError, "step=array([ 3, -1])"),
    "numpy-past-int32": (np.array([2**40]), ValueError, "step=array([1099511627776])"),
    "numpy-fraction": (np.array([0.5]), ValueError, "step=array([0.5])"),
    "jax-negative": (jnp.asarray(-3), ValueError, "step=Array(-3"),
    "jax-fraction": (jnp.asarray(1.5), ValueError, "step=Array(1.5"),
    "string": ("3", TypeError, "step='3'"),
    "bool": (True, TypeError, "step=True"),
    "bool-array": (np.array([True]), TypeError, "step=array([ True])"),
}


@pytest.mark.parametrize("step, error, needle", list(CASES.values()), ids=list(CASES))
@pytest.mark.parametrize("door", ["evaluate", "to_optax"])
def test_concrete_bad_steps_are_refused(step: Any, error: type, needle: str, door: str) -> None:
    call = (lambda s: evaluate(TRI, s)) if door == "evaluate" else to_optax(TRI)
    with pytest.raises(error) as info:
        call(step)
    assert needle in str(info.value), str(info.value)


def test_traced_steps_are_not_read() -> None:
    schedule = to_optax(OneCycle(0.1, 100))
    values = jax.jit(jax.vmap(schedule))(jnp.arange(5))
    assert values.shape == (5,)
    assert float(jax.jit(schedule)(jnp.asarray(2**31 - 1))) > 0
