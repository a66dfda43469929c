"""PyTorch adapter: a scheduler driven by a pure cyclr schedule, and the range-test runner.

Import it explicitly (``import cyclr.torch``); ``import cyclr`` never loads torch.
"""

from ..errors import require

require("torch", "torch")

from .distributed import RangeTestAbortedError  # noqa: E402
from .rangetest import range_test  # noqa: E402
from .scheduler import Scheduler  # noqa: E402

__all__ = ["RangeTestAbortedError", "Scheduler", "range_test"]
