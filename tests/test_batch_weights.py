"""``batch_weights``: per-batch mean losses turned into the mean over examples, for every
framework's batch shapes."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import math
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cyclr._batches import batch_weights


@pytest.mark.parametrize(
    "make",
    [
        lambda n: (torch.zeros(n, 3), torch.zeros(n)),  # torch (inputs, targets)
        lambda n: {"input_ids": torch.zeros(n, 5), "labels": torch.zeros(n)},  # a dict batch
        lambda n: (np.zeros((n, 3)), np.zeros(n), None),  # Keras (x, y, sample_weight)
        lambda n: (jnp.zeros((n, 3)), jnp.zeros(n)),  # JAX
        lambda n: ((torch.zeros(n, 3), torch.zeros(n)), n),  # Lightning (batch, batch_idx)
    ],
    ids=["torch", "dict", "keras", "jax", "lightning"],
)
def test_each_batch_weighs_its_examples(make: Any) -> None:
    assert batch_weights([make(32), make(32), make(4)]) == pytest.approx([32 / 68, 32 / 68, 4 / 68])


@given(sizes=st.lists(st.integers(1, 64), min_size=1, max_size=10))
def test_weighted_batch_means_are_the_example_mean(sizes: list[int]) -> None:
    rng = np.random.default_rng(len(sizes))
    values = [rng.normal(size=n) for n in sizes]
    weights = batch_weights([(v,) for v in values])
    assert math.fsum(weights) == pytest.approx(1.0)
    got = sum(w * v.mean() for w, v in zip(weights, values, strict=True))
    assert got == pytest.approx(np.concatenate(values).mean(), abs=1e-12)


def test_batches_without_an_array_weigh_the_same() -> None:
    assert batch_weights([[1, 2, 3], "text", (torch.zeros(()),)]) == [1 / 3] * 3
    assert batch_weights([]) == []


@pytest.mark.parametrize(
    "batches",
    [
        # sequence-first inputs (T, B, F) with batch-first targets (B,): no size to trust
        [(torch.zeros(50, 32, 3), torch.zeros(32)), (torch.zeros(50, 4, 3), torch.zeros(4))],
        # a list of per-example tensors of different lengths
        [{"seqs": [torch.zeros(7), torch.zeros(50)]}, {"seqs": [torch.zeros(100)]}],
    ],
    ids=["sequence-first", "per-example-list"],
)
def test_batches_whose_arrays_disagree_weigh_the_same(batches: list[Any]) -> None:
    assert batch_weights(batches) == [0.5, 0.5]


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype")
def test_a_ragged_nested_tensor_weighs_the_same() -> None:
    ragged = torch.nested.nested_tensor([torch.zeros(3), torch.zeros(5)])
    assert batch_weights([(ragged,), (torch.zeros(2, 4),)]) == [0.5, 0.5]
