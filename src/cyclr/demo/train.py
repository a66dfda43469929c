"""The demo's model and training loop: a tiny 1-D CNN trained by SGD with momentum.

Everything here is ordinary PyTorch; the only cyclr pieces are
:func:`cyclr.torch.range_test` and :class:`cyclr.torch.Scheduler`, used exactly as in
a user's own script.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from .._progress import progress_bar
from .._validate import check_int
from ..schedules import Schedule
from ..torch import Scheduler
from .data import Task

__all__ = [
    "FINAL_EVALS",
    "Batches",
    "Curve",
    "accuracy",
    "batches",
    "make_optimizer",
    "tiny_cnn",
    "train",
]

FINAL_EVALS = 5
"""A run's final accuracy is the mean of its last this many evaluations."""


def tiny_cnn(length: int, num_classes: int, width: int = 32) -> nn.Sequential:
    """Build a three-layer 1-D CNN for sequences of shape ``(1, length)``.

    ``conv5 - ReLU - conv3/2 - ReLU - conv3/2 - ReLU - linear``: about 8,000 weights plus
    the classifier at ``width=32``. Seed torch before calling it for a reproducible
    initialization.

    Args:
        length: Length of an input sequence.
        num_classes: Number of output classes.
        width: Channels of every convolution.

    Returns:
        The model, mapping ``(batch, 1, length)`` to ``(batch, num_classes)`` logits.

    Example:
        >>> model = tiny_cnn(40, 10)
        >>> tuple(model(torch.zeros(2, 1, 40)).shape)
        (2, 10)
    """
    length = check_int("length", length)
    reduced = math.ceil(math.ceil(length / 2) / 2)
    return nn.Sequential(
        nn.Conv1d(1, width, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(width * reduced, num_classes),
    )


def make_optimizer(
    model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4
) -> torch.optim.SGD:
    """SGD with momentum and weight decay, the setting of Smith's CIFAR-10 experiments.

    Example:
        >>> make_optimizer(tiny_cnn(40, 10), lr=0.01).param_groups[0]["momentum"]
        0.9
    """
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield shuffled mini-batches forever, epoch after epoch, dropping the last partial one.

    The same ``seed`` gives the same sequence of batches, so runs that differ only in
    their schedule see identical data.

    Args:
        x: Inputs, first axis the samples.
        y: Labels.
        batch_size: Samples per batch, at most ``len(x)``.
        seed: Seed of the shuffling generator.

    Yields:
        ``(inputs, labels)`` pairs.

    Example:
        >>> it = batches(torch.arange(10.0), torch.arange(10), batch_size=4, seed=0)
        >>> [len(next(it)[0]) for _ in range(3)]
        [4, 4, 4]
    """
    batch_size = check_int("batch_size", batch_size)
    if batch_size > len(x):
        raise ValueError(
            f"batch_size must be at most the number of samples {len(x)} "
            f"(got batch_size={batch_size})"
        )
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield x[index], y[index]


class Batches:
    """:func:`batches` as a re-iterable: every ``iter()`` starts the same stream again.

    What the range test is given: a generator would serve one pass only, so nothing could
    be held aside from it for the confirmation (``cyclr demo --confirm``); this gives the
    sweep the same batches as the generator, and every candidate the same ones after the
    batches held aside.

    Example:
        >>> data = Batches(torch.arange(10.0), torch.arange(10), batch_size=4, seed=0)
        >>> first, again = next(iter(data)), next(iter(data))
        >>> bool(torch.equal(first[0], again[0]))
        True
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return batches(self.x, self.y, self.batch_size, self.seed)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``model`` classifies correctly, in eval mode.

    The model's train/eval mode is restored afterwards.

    Example:
        >>> model = tiny_cnn(40, 10)
        >>> 0.0 <= accuracy(model, torch.zeros(4, 1, 40), torch.zeros(4, dtype=torch.long)) <= 1.0
        True
    """
    was_training = model.training
    model.eval()
    try:
        correct = (model(x).argmax(dim=1) == y).sum().item()
    finally:
        model.train(was_training)
    return float(correct) / len(y)


@dataclasses.dataclass(frozen=True)
class Curve:
    """Held-out accuracy of one training run, measured every few steps.

    Attributes:
        steps: Optimizer steps completed at each evaluation (1-based counts).
        accuracy: Held-out accuracy after those steps.
        lrs: The learning rate used at every step ``0..total_steps-1``.
        seconds: Wall-clock time of the run, evaluations included.
    """

    steps: npt.NDArray[np.int64]
    accuracy: npt.NDArray[np.float64]
    lrs: npt.NDArray[np.float64]
    seconds: float

    @property
    def final_accuracy(self) -> float:
        """Mean accuracy of the last :data:`FINAL_EVALS` evaluations.

        Averaging keeps one lucky or unlucky evaluation at the end of a noisy run (a
        fixed LR never settles) from deciding the comparison.

        Example:
            >>> acc = np.array([0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
            >>> round(Curve(np.arange(1, 8), acc, np.zeros(7), 1.0).final_accuracy, 6)
            0.8
        """
        return float(np.mean(self.accuracy[-FINAL_EVALS:]))

    def steps_to_reach(self, target: float) -> int | None:
        """First evaluated step at which the accuracy is at least ``target``, or ``None``.

        Example:
            >>> c = Curve(np.array([10, 20, 30]), np.array([0.5, 0.8, 0.7]), np.zeros(30), 1.0)
            >>> c.steps_to_reach(0.7), c.steps_to_reach(0.9)
            (20, None)
        """
        reached = np.flatnonzero(self.accuracy >= target)
        return int(self.steps[reached[0]]) if reached.size else None


def train(
    task: Task,
    schedule: Schedule,
    total_steps: int,
    *,
    batch_size: int,
    seed: int,
    eval_every: int,
    width: int = 32,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    progress: bool | None = None,
    desc: str = "train",
) -> Curve:
    """Train a fresh :func:`tiny_cnn` on ``task`` for ``total_steps`` under ``schedule``.

    The initialization and the batch order depend on ``seed`` alone, so two calls that
    differ only in ``schedule`` are a controlled comparison. The LR is set by
    :class:`cyclr.torch.Scheduler`, stepped once after every optimizer step.

    Args:
        task: The data.
        schedule: The learning-rate schedule, a function of the 0-based step.
        total_steps: Optimizer steps to take.
        batch_size: Samples per step.
        seed: Seed of the initialization and the batch order.
        eval_every: Evaluate the held-out accuracy every this many steps (and at the end).
        width: Channels of the CNN.
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        progress: Show a progress bar (``None``: only on an interactive terminal).
        desc: Label of the progress bar.

    Returns:
        The held-out accuracy curve.
    """
    total_steps = check_int("total_steps", total_steps)
    eval_every = check_int("eval_every", eval_every)
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = tiny_cnn(task.length, task.num_classes, width)
    optimizer = make_optimizer(model, schedule(0), momentum, weight_decay)
    scheduler = Scheduler(optimizer, schedule)
    x_train, y_train = torch.from_numpy(task.x_train), torch.from_numpy(task.y_train)
    x_test, y_test = torch.from_numpy(task.x_test), torch.from_numpy(task.y_test)
    stream = batches(x_train, y_train, batch_size, seed)
    loss_fn = nn.CrossEntropyLoss()
    steps: list[int] = []
    accuracies: list[float] = []
    lrs = np.empty(total_steps, dtype=np.float64)
    bar = progress_bar(total_steps, enabled=progress, desc=desc)
    try:
        for step in range(total_steps):
            lrs[step] = optimizer.param_groups[0]["lr"]
            inputs, labels = next(stream)
            loss = loss_fn(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            done = step + 1
            if done % eval_every == 0 or done == total_steps:
                steps.append(done)
                accuracies.append(accuracy(model, x_test, y_test))
                bar.set_postfix(acc=f"{accuracies[-1]:.3f}")
            bar.update(1)
    finally:
        bar.close()
    return Curve(
        steps=np.asarray(steps, dtype=np.int64),
        accuracy=np.asarray(accuracies, dtype=np.float64),
        lrs=lrs,
        seconds=time.perf_counter() - started,
    )
