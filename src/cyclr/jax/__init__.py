"""JAX / optax adapter: optax schedules, a functional range test, its confirmation stage.

Import it explicitly (``import cyclr.jax``); ``import cyclr`` never loads JAX.
"""

from ..errors import require

require("jax", "jax")

from .confirm import confirm  # noqa: E402
from .rangetest import range_test  # noqa: E402
from .schedule import OptaxSchedule, evaluate, to_optax  # noqa: E402

__all__ = ["OptaxSchedule", "confirm", "evaluate", "range_test", "to_optax"]
