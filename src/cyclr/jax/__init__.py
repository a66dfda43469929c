"""JAX / optax adapter: cyclr schedules as optax schedules, and a functional range test.

Import it explicitly (``import cyclr.jax``); ``import cyclr`` never loads JAX.
"""

from ..errors import require

require("jax", "jax")

from .rangetest import range_test  # noqa: E402
from .schedule import OptaxSchedule, evaluate, to_optax  # noqa: E402

__all__ = ["OptaxSchedule", "evaluate", "range_test", "to_optax"]
