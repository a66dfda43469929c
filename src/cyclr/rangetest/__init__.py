"""The framework-free LR range test: a sweep, a stop rule, a result and its reading.

:class:`RangeTest` is the state machine a training loop drives; :class:`RangeTestResult`
holds the curve; :meth:`RangeTestResult.suggest` and :meth:`RangeTestResult.clr_bounds`
read it (the rules live in :mod:`cyclr.rangetest.rules`; :mod:`cyclr.rangetest.suggest`
reads plain arrays). Framework adapters (``cyclr.torch``, ...) run the loop for you.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from .result import RangeTestResult, StopReason
from .rules import DEFAULT_METHOD, METHODS, Suggestion
from .sweep import Sweep
from .tracker import RangeTest

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "RangeTest",
    "RangeTestResult",
    "StopReason",
    "Suggestion",
    "Sweep",
]
