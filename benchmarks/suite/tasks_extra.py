"""The suite's second set of tasks: regression, batch norm, plain SGD, large batches.

Each runs in about a second on one CPU thread. They are merged into
:data:`benchmarks.suite.tasks.TASKS`.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from . import data as datasets
from .models import MLP, CausalBlock
from .tasks import (
    Split,
    Task,
    _fashion14,
    _half_decades,
    _mnist1d,
    _to_split,
    sequence_cross_entropy,
)


class BNMLP(nn.Module):
    """Two hidden layers, each Linear -> BatchNorm1d -> ReLU."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, n_hidden),
            nn.BatchNorm1d(n_hidden),
            nn.ReLU(),
            nn.Linear(n_hidden, n_hidden),
            nn.BatchNorm1d(n_hidden),
            nn.ReLU(),
            nn.Linear(n_hidden, n_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two 3x3 convolutions (8, 16 channels) with max pooling and a linear head (14x14)."""

    def __init__(self, n_out: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(16 * 3 * 3, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class TinyTransformer(nn.Module):
    """One causal transformer block over characters, d=32, 2 heads."""

    def __init__(self, vocab: int, context: int, dim: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(context, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.block = CausalBlock(dim, heads)
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos[: x.shape[1]]
        return self.head(self.ln(self.block(h)))


def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error."""
    return F.mse_loss(out, y)


@cache
def _diabetes() -> Split:
    return _to_split(datasets.load_diabetes_reg(), n_classes=0)


@cache
def _friedman1() -> Split:
    return _to_split(datasets.load_friedman(1), n_classes=0)


@cache
def _friedman3() -> Split:
    return _to_split(datasets.load_friedman(3), n_classes=0)


@cache
def _digits() -> Split:
    return _to_split(datasets.load_digits())


WORDS_CONTEXT = 32


def _words() -> Split:
    t = datasets.load_words()

    def windows(ids: np.ndarray, stride: int) -> torch.Tensor:
        starts = np.arange(0, len(ids) - WORDS_CONTEXT - 1, stride)
        idx = starts[:, None] + np.arange(WORDS_CONTEXT + 1)[None, :]
        return torch.from_numpy(ids[idx])

    train = windows(t.train, WORDS_CONTEXT // 2)
    test = windows(t.test, WORDS_CONTEXT)[:500]
    return Split(train[:, :-1], train[:, 1:], test[:, :-1], test[:, 1:], len(t.vocab))


EXTRA_TASKS = [
    Task(
        name="diabetes-mlp-adam",
        data="sklearn diabetes, bundled (342 train / 100 test, 10 features, standardised)",
        model="MLP 10-64-64-1",
        optimizer="adam",
        batch_size=32,
        steps=300,
        metric="mse",
        tail_evals=4,
        grid=_half_decades(-9, -3),
        load=_diabetes,
        build=lambda s: MLP(10, 64, 1),
        loss=mse,
        notes="tiny data set: overfits at large LRs",
    ),
    Task(
        name="friedman1-mlp-sgd0",
        data="sklearn make_friedman1, noise 1 (3,000 / 1,000, standardised)",
        model="MLP 10-128-128-1",
        optimizer="sgd",
        momentum=0.0,
        batch_size=64,
        steps=500,
        metric="mse",
        tail_evals=4,
        grid=_half_decades(-7, -1),
        load=_friedman1,
        build=lambda s: MLP(10, 128, 1),
        loss=mse,
        notes="plain SGD (no momentum)",
    ),
    Task(
        name="friedman3-bnmlp-adamw",
        data="sklearn make_friedman3, noise 0.1 (3,000 / 1,000, standardised)",
        model="MLP 4-128-128-1 with batch norm",
        optimizer="adamw",
        weight_decay=0.01,
        batch_size=256,
        steps=200,
        metric="mse",
        tail_evals=4,
        grid=_half_decades(-8, -2),
        load=_friedman3,
        build=lambda s: BNMLP(4, 128, 1),
        loss=mse,
        notes="large batch, short budget",
    ),
    Task(
        name="digits-bnmlp-sgd0",
        data="sklearn digits 8x8 (1,437 train / 360 test)",
        model="MLP 64-128-128-10 with batch norm",
        optimizer="sgd",
        momentum=0.0,
        batch_size=32,
        steps=300,
        metric="accuracy",
        grid=_half_decades(-6, 0),
        load=_digits,
        build=lambda s: BNMLP(64, 128, 10),
        notes="plain SGD, batch norm",
    ),
    Task(
        name="fashion-cnn-sgd-wd",
        data="Fashion-MNIST, Debian dataset-fashion-mnist (12,000 / 2,000, pooled to 14x14)",
        model="CNN 2 conv (8-16 ch, 3x3) + max pooling + linear head",
        optimizer="sgd",
        weight_decay=5e-4,
        batch_size=128,
        steps=250,
        metric="accuracy",
        grid=_half_decades(-6, 0),
        load=_fashion14,
        build=lambda s: SmallCNN(),
        notes="SGD momentum 0.9 + weight decay",
    ),
    Task(
        name="mnist1d-mlp-adam-b512",
        data="MNIST-1D make_dataset (4,000 train / 1,000 test, length 40)",
        model="MLP 40-128-128-10",
        optimizer="adam",
        batch_size=512,
        steps=600,
        metric="accuracy",
        grid=_half_decades(-9, -3),
        load=_mnist1d,
        build=lambda s: MLP(40, 128, 10),
        notes="batch 512, long budget (77 epochs)",
    ),
    Task(
        name="words-transformer-adam",
        data="Debian wamerican word list, characters (context 32; 500 test windows)",
        model="causal transformer, 1 block, d=32, 2 heads",
        optimizer="adam",
        batch_size=32,
        steps=250,
        metric="loss",
        grid=_half_decades(-8, -2),
        load=_words,
        build=lambda s: TinyTransformer(s.n_classes, WORDS_CONTEXT),
        loss=sequence_cross_entropy,
    ),
]
