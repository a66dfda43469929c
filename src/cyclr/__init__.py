"""cyclr: the LR range test and cyclical learning-rate schedules, exact and framework-neutral.

The core (this package without its ``torch``, ``keras`` and ``jax`` adapters) imports
only NumPy and the standard library.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from .errors import CyclrError, MissingExtraError, NoReliableSuggestionError
from .rangetest import RangeTest, RangeTestResult, Suggestion
from .schedules import (
    Constant,
    Cyclic,
    ExpRange,
    Join,
    Linear,
    Momentum,
    OneCycle,
    Schedule,
    Triangular,
    Triangular2,
    join,
    register_scale_fn,
    schedule_from_dict,
    warmup,
)

__version__ = "0.1.0"

__all__ = [
    "Constant",
    "Cyclic",
    "CyclrError",
    "ExpRange",
    "Join",
    "Linear",
    "MissingExtraError",
    "Momentum",
    "NoReliableSuggestionError",
    "OneCycle",
    "RangeTest",
    "RangeTestResult",
    "Schedule",
    "Suggestion",
    "Triangular",
    "Triangular2",
    "__version__",
    "join",
    "register_scale_fn",
    "schedule_from_dict",
    "warmup",
]
