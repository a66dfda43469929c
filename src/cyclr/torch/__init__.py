"""PyTorch adapter: the scheduler, the range-test runner and the confirmation stage.

Import it explicitly (``import cyclr.torch``); ``import cyclr`` never loads torch.
"""

from ..errors import require

require("torch", "torch")

from .confirm import confirm  # noqa: E402
from .distributed import RangeTestAbortedError  # noqa: E402
from .rangetest import range_test  # noqa: E402
from .scheduler import Scheduler  # noqa: E402

__all__ = ["RangeTestAbortedError", "Scheduler", "confirm", "range_test"]
