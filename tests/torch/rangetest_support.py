"""Shared pieces of the range-test runner tests: a tiny real model, data, exact state checks."""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import torch

torch.set_num_threads(1)

N_FEATURES = 16
N_CLASSES = 4


def make_model(seed: int = 0) -> torch.nn.Module:
    """An MLP with BatchNorm (buffers) and Dropout (RNG): every kind of state."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 32),
        torch.nn.BatchNorm1d(32),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(32, N_CLASSES),
    )


def make_tensors(n: int = 256, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random but fixed inputs and learnable labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEATURES, generator=g)
    w = torch.randn(N_FEATURES, N_CLASSES, generator=g)
    y = (x @ w).argmax(dim=1)
    return x, y


def make_batches(n: int = 256, batch: int = 32, seed: int = 1) -> list[tuple[torch.Tensor, ...]]:
    x, y = make_tensors(n, seed)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def make_held_out(n: int = 64, batch: int = 32) -> list[tuple[torch.Tensor, ...]]:
    """Batches labelled by the same rule as :func:`make_batches`' (seed 1), on new inputs.

    Validation data for a range test on :func:`make_batches`: a model that learns the
    training batches lowers its loss on these too.
    """
    g = torch.Generator().manual_seed(1)
    torch.randn(256, N_FEATURES, generator=g)  # the training inputs, skipped
    w = torch.randn(N_FEATURES, N_CLASSES, generator=g)
    x = torch.randn(n, N_FEATURES, generator=torch.Generator().manual_seed(7))
    y = (x @ w).argmax(dim=1)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def make_loader(
    n: int = 256, batch: int = 32, seed: int = 1, shuffle: bool = True
) -> torch.utils.data.DataLoader[Any]:
    x, y = make_tensors(n, seed)
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=shuffle
    )


def loss_fn(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(output, target)


def train_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Any,
    k: int,
    scaler: torch.amp.GradScaler | None = None,
) -> list[float]:
    """Plain training: also draws from numpy and random, so their state matters."""
    losses = []
    model.train()
    for _ in range(k):
        x, y = next(batches)
        x = x + 1e-3 * float(np.random.rand()) + 1e-3 * random.random()
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        losses.append(loss.item())
    return losses


def capture(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, Any]:
    """An independent deep copy of every piece of training state, for comparison."""
    state: dict[str, Any] = {
        "params": [p.detach().clone() for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
        "modes": [m.training for m in model.modules()],
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": copy.deepcopy(np.random.get_state()),
        "python_rng": random.getstate(),
    }
    if optimizer is not None:
        state["opt_state"] = copy.deepcopy(optimizer.state_dict()["state"])
        state["opt_groups"] = [
            {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            for g in optimizer.param_groups
        ]
        state["opt_params"] = [[id(p) for p in g["params"]] for g in optimizer.param_groups]
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
        state["scaler_lazy"] = getattr(scaler, "_scale", None) is None
    return state


def assert_same(a: Any, b: Any, path: str = "state") -> None:
    """Bit-exact equality of nested tensors / arrays / containers."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), f"{path}: tensor vs {type(b)}"
        assert a.dtype == b.dtype and a.shape == b.shape, (
            f"{path}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        )
        assert torch.equal(a, b), f"{path}: values differ"
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), f"{path}: arrays differ"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (
            f"{path}: keys {a.keys()} vs {b.keys()}"
        )
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
