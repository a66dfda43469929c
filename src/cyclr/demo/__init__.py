"""``cyclr demo``: the LR range test and cyclical schedules on real, embedded data.

The demo trains a tiny 1-D CNN on MNIST-1D (generated locally) or scikit-learn's
digits: it runs the range test, reads the suggestion and the CLR bounds, then compares
a fixed LR, triangular2 and one-cycle at equal step budgets. It needs the ``cli`` extra
(``pip install 'cyclr[demo]'``: torch, matplotlib, tqdm, mnist1d, scikit-learn).
"""

from .data import TASKS, Task, load_digits, load_mnist1d, load_task
from .pipeline import DemoConfig, DemoResult, Run, run_demo
from .report import format_report, write_outputs

__all__ = [
    "TASKS",
    "DemoConfig",
    "DemoResult",
    "Run",
    "Task",
    "format_report",
    "load_digits",
    "load_mnist1d",
    "load_task",
    "run_demo",
    "write_outputs",
]
