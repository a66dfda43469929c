"""Real, download-free classification tasks for the demo: MNIST-1D and scikit-learn's digits.

Both are generated or read locally, so ``cyclr demo`` runs offline:

* ``mnist1d``: MNIST-1D, ten 1-D digit templates padded, sheared, translated, scaled and
  noised into length-40 sequences (Greydanus, 2020). :func:`load_mnist1d` calls the
  ``mnist1d`` package's ``make_dataset`` with its standard arguments, which reproduces
  the published 4,000 / 1,000 split without touching the network.
* ``digits``: the 1,797 8x8 handwritten digits bundled with scikit-learn (UCI optical
  recognition of handwritten digits), read row by row as length-64 sequences.

Every array is ``float32`` inputs of shape ``(n, 1, length)`` and ``int64`` labels.

References:
    S. Greydanus, "Scaling down Deep Learning", 2020, https://arxiv.org/abs/2011.14439

    E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine
    Learning Repository, 1998, https://doi.org/10.24432/C50P49
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from .._validate import check_choice, check_int
from ..errors import require

__all__ = ["TASKS", "Task", "load_digits", "load_mnist1d", "load_task"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True)
class Task:
    """A small supervised classification task held in memory.

    Attributes:
        name: Short name, as given to ``cyclr demo --task``.
        title: One line describing the data and the split.
        x_train: Training inputs, shape ``(n_train, 1, length)``, standardized.
        y_train: Training labels in ``[0, num_classes)``.
        x_test: Held-out inputs, standardized with the training statistics.
        y_test: Held-out labels.
        num_classes: Number of classes.
    """

    name: str
    title: str
    x_train: FloatArray
    y_train: IntArray
    x_test: FloatArray
    y_test: IntArray
    num_classes: int

    @property
    def length(self) -> int:
        """Length of one input sequence."""
        return int(self.x_train.shape[-1])


def _standardize(train: npt.NDArray[Any], test: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
    """Scale both splits by the training mean and standard deviation; add a channel axis."""
    mean, std = float(train.mean()), float(train.std())
    scale = std if std > 0 else 1.0

    def prepare(x: npt.NDArray[Any]) -> FloatArray:
        return ((x - mean) / scale).astype(np.float32)[:, None, :]

    return prepare(train), prepare(test)


def load_mnist1d(num_samples: int = 5000) -> Task:
    """Generate MNIST-1D with the ``mnist1d`` package's standard arguments.

    ``num_samples=5000`` gives the published dataset: 4,000 training and 1,000 test
    sequences of length 40 (the generator's 80/20 split). The generator seeds Python's
    and NumPy's global random state; both are restored afterwards.

    Args:
        num_samples: Number of sequences to generate, split 80/20; at least 100.

    Returns:
        The task, named ``"mnist1d"``.

    Raises:
        TypeError: If ``num_samples`` is not an integer.
        ValueError: If ``num_samples < 100``.
        cyclr.MissingExtraError: If the ``mnist1d`` package is not installed.

    Example:
        >>> task = load_mnist1d(num_samples=200)
        >>> task.x_train.shape, task.x_test.shape, task.num_classes
        ((160, 1, 40), (40, 1, 40), 10)

    References:
        S. Greydanus, "Scaling down Deep Learning", 2020, https://arxiv.org/abs/2011.14439
    """
    num_samples = check_int("num_samples", num_samples, minimum=100)
    data_module = require("mnist1d.data", "demo")
    args = data_module.get_dataset_args()
    args.num_samples = num_samples
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = data_module.make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    x_train, x_test = _standardize(np.asarray(data["x"]), np.asarray(data["x_test"]))
    n_train, n_test = len(x_train), len(x_test)
    return Task(
        name="mnist1d",
        title=(
            f"MNIST-1D ({n_train:,} train / {n_test:,} test sequences of length "
            f"{x_train.shape[-1]}, 10 classes)"
        ),
        x_train=x_train,
        y_train=np.asarray(data["y"], dtype=np.int64),
        x_test=x_test,
        y_test=np.asarray(data["y_test"], dtype=np.int64),
        num_classes=10,
    )


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Task:
    """Load scikit-learn's bundled 8x8 digits as length-64 sequences.

    Args:
        test_fraction: Fraction of the 1,797 images held out, in ``(0, 1)``.
        seed: Seed of the permutation that makes the split.

    Returns:
        The task, named ``"digits"``.

    Raises:
        ValueError: If ``test_fraction`` is not in ``(0, 1)``.
        cyclr.MissingExtraError: If scikit-learn is not installed.

    Example:
        >>> task = load_digits()
        >>> task.x_train.shape, task.x_test.shape, task.num_classes
        ((1438, 1, 64), (359, 1, 64), 10)
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1) (got test_fraction={test_fraction!r})")
    datasets = require("sklearn.datasets", "demo")
    bunch = datasets.load_digits()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    x_train, x_test = _standardize(x[train], x[test])
    return Task(
        name="digits",
        title=(
            f"scikit-learn digits ({len(train):,} train / {n_test:,} test 8x8 images read "
            "as sequences of length 64, 10 classes)"
        ),
        x_train=x_train,
        y_train=y[train],
        x_test=x_test,
        y_test=y[test],
        num_classes=10,
    )


TASKS: dict[str, Callable[[], Task]] = {"mnist1d": load_mnist1d, "digits": load_digits}
"""The demo's tasks by name, each a loader taking no argument."""


def load_task(name: str) -> Task:
    """Load a task by name with its standard settings.

    Args:
        name: One of the keys of :data:`TASKS`.

    Returns:
        The task.

    Raises:
        ValueError: If ``name`` is unknown.

    Example:
        >>> load_task("digits").name
        'digits'
    """
    check_choice("task", name, TASKS)
    return TASKS[name]()
