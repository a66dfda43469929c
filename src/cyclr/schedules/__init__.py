"""Pure learning-rate schedules: ``lr = schedule(step)``, framework-free."""

from .base import Momentum, Schedule, schedule_from_dict
from .compose import Constant, Join, Linear, join, warmup
from .cyclic import (
    Cyclic,
    ExpRange,
    Triangular,
    Triangular2,
    register_scale_fn,
    registered_scale_fns,
)
from .onecycle import OneCycle
from .ops import NUMPY_OPS, SCALAR_OPS, Ops

__all__ = [
    "NUMPY_OPS",
    "SCALAR_OPS",
    "Constant",
    "Cyclic",
    "ExpRange",
    "Join",
    "Linear",
    "Momentum",
    "OneCycle",
    "Ops",
    "Schedule",
    "Triangular",
    "Triangular2",
    "join",
    "register_scale_fn",
    "registered_scale_fns",
    "schedule_from_dict",
    "warmup",
]
