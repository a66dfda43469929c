"""One schedule of each kind, 20,000 steps, through every framework: the same numbers.

The float64 reference is the schedule called on a NumPy array. PyTorch's
``cyclr.torch.Scheduler`` computes in float64 and must match it to the last bit or so;
the float32 frameworks (PyTorch tensors, Keras on each backend, optax) evaluate the same
formula through double-float ops and must stay within a few float32 ulps, compiled or
not. ``python tests/test_numbers_agree.py`` prints the measured table.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from tests.keras import keras_probe as probe

MAX_ULPS_32 = 4.0
"""Float32 frameworks: max distance from the float64 value, in float32 ulps."""
MAX_REL_64 = 6e-16
"""float64 torch scheduler: max relative distance (a few float64 ulps: ``math`` and NumPy
may round ``exp`` and ``cos`` differently)."""

STEPS = np.arange(probe.NUM_STEPS)
KINDS: dict[str, Any] = probe.kinds()


def reference() -> dict[str, np.ndarray]:
    return {name: schedule(STEPS) for name, schedule in KINDS.items()}


def torch_float32_ops() -> tuple[Any, Any]:
    """Double-float ops over float32 torch tensors, as a torch training loop could use."""
    import torch

    from cyclr.schedules.twofloat import Float32Backend, two_float_ops

    def truncate(x: Any) -> Any:
        return (x.to(torch.float32).contiguous().view(torch.int32) & -4096).view(torch.float32)

    backend = Float32Backend(
        name="torch",
        asarray=lambda v: torch.tensor(v, dtype=torch.float32),
        floor=torch.floor,
        where=torch.where,
        exp=torch.exp,
        log=torch.log,
        cos=torch.cos,
        sin=torch.sin,
        power=torch.pow,
        truncate=truncate,
    )
    return backend, two_float_ops(backend)


def torch_float32() -> dict[str, np.ndarray]:
    import torch

    from cyclr.schedules.twofloat import TwoFloat

    backend, ops = torch_float32_ops()
    steps = torch.arange(probe.NUM_STEPS, dtype=torch.int64)
    hi = steps.to(torch.float32)
    lo = (steps - hi.to(torch.int64)).to(torch.float32)
    out = {}
    for name, schedule in KINDS.items():
        value = schedule.evaluate(TwoFloat(hi, lo, backend), ops)
        out[name] = value.value().numpy().astype(np.float64)
    return out


def torch_float32_naive() -> dict[str, np.ndarray]:
    """The same formulas on plain float32 tensors: what the double-float ops avoid."""
    import torch

    from cyclr.schedules.ops import Ops

    ops = Ops(
        name="torch-naive",
        floor=torch.floor,
        abs=torch.abs,
        minimum=lambda a, b: torch.minimum(torch.as_tensor(a), torch.as_tensor(b)),
        maximum=lambda a, b: torch.maximum(torch.as_tensor(a), torch.as_tensor(b)),
        where=lambda c, a, b: torch.where(c, torch.as_tensor(a), torch.as_tensor(b)),
        cos=torch.cos,
        exp=torch.exp,
        power=lambda a, b: torch.pow(torch.as_tensor(a, dtype=torch.float32), b),
        log=torch.log,
    )
    steps = torch.arange(probe.NUM_STEPS, dtype=torch.float32)
    return {
        name: torch.as_tensor(schedule.evaluate(steps, ops)).numpy().astype(np.float64)
        for name, schedule in KINDS.items()
    }


def torch_scheduler() -> dict[str, np.ndarray]:
    """``cyclr.torch.Scheduler`` driving SGD: each group's LR (and momentum) per step."""
    import torch

    from cyclr import Momentum
    from cyclr.torch import Scheduler

    lr_kinds = {n: s for n, s in KINDS.items() if not isinstance(s, Momentum)}
    momentum_of = {n: s.schedule for n, s in KINDS.items() if isinstance(s, Momentum)}
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lr_kinds]
    optimizer = torch.optim.SGD([{"params": [p]} for p in params], lr=0.1, momentum=0.9)
    momenta = [s.momentum(0.85, 0.95) for s in lr_kinds.values()]
    scheduler = Scheduler(optimizer, list(lr_kinds.values()), momentum=momenta)
    lrs = np.empty((probe.NUM_STEPS, len(params)))
    moms = np.empty((probe.NUM_STEPS, len(params)))
    for step in range(probe.NUM_STEPS):
        for g, group in enumerate(optimizer.param_groups):
            lrs[step, g], moms[step, g] = group["lr"], group["momentum"]
        optimizer.step()
        scheduler.step()
    out = {name: lrs[:, g] for g, name in enumerate(lr_kinds)}
    names = list(lr_kinds)
    for name, base in momentum_of.items():
        out[name] = moms[:, names.index(next(n for n in names if lr_kinds[n] == base))]
    return out


def optax_values() -> dict[str, np.ndarray]:
    """``to_optax`` under jit + vmap, and as optax itself steps it (inject_hyperparams)."""
    import jax
    import jax.numpy as jnp
    import optax

    from cyclr.jax import to_optax

    schedules = [to_optax(s) for s in KINDS.values()]
    steps = jnp.arange(probe.NUM_STEPS, dtype=jnp.int32)
    mapped = jax.jit(lambda s: [jax.vmap(f)(s) for f in schedules])(steps)
    optimizers = [optax.inject_hyperparams(optax.sgd)(learning_rate=f) for f in schedules]
    params = jnp.zeros(())

    def one_step(states: Any, _: Any) -> tuple[Any, Any]:
        # The hyper-parameters an update stores are the ones it used: schedule(count).
        new = [
            o.update(jnp.ones(()), s, params)[1] for o, s in zip(optimizers, states, strict=True)
        ]
        return new, [state.hyperparams["learning_rate"] for state in new]

    init = [o.init(params) for o in optimizers]
    _, stepped = jax.jit(lambda s: jax.lax.scan(one_step, s, None, length=probe.NUM_STEPS))(init)
    out = {}
    for (name, vector), by_optax in zip(zip(KINDS, mapped, strict=True), stepped, strict=True):
        a, b = np.asarray(vector, np.float64), np.asarray(by_optax, np.float64)
        out[name] = a
        out[name + "@inject_hyperparams"] = b
    return out


def keras_values(directory: Path) -> dict[str, dict[str, np.ndarray]]:
    """Keras' values per backend: this process's, and the other's in a fresh process."""
    import keras

    this = keras.backend.backend()
    other = "jax" if this == "torch" else "torch"
    results = {this: {"numbers": probe.schedule_numbers()}}
    results[other] = probe.probe_other_backend(other, directory)
    out: dict[str, dict[str, np.ndarray]] = {}
    for backend, result in results.items():
        for name, numbers in result["numbers"].items():
            out.setdefault(f"keras-{backend}", {})[name] = np.asarray(numbers["vector"])
            if "used" in numbers:
                out.setdefault(f"keras-{backend}-applied", {})[name] = np.asarray(numbers["used"])
    return out


def table(directory: Path) -> dict[str, dict[str, float]]:
    """Max error per framework and kind: float32 ulps, or float64 relative for torch64."""
    ref = reference()
    used = np.array(probe.USED_STEPS)
    columns: dict[str, dict[str, float]] = {}
    columns["torch-float64-scheduler"] = {
        n: float(np.max(np.abs(v - ref[n]) / np.abs(ref[n]))) for n, v in torch_scheduler().items()
    }
    columns["torch-float32"] = {n: probe.ulps(v, ref[n]) for n, v in torch_float32().items()}
    optax_numbers = optax_values()
    columns["optax-jit-vmap"] = {n: probe.ulps(optax_numbers[n], ref[n]) for n in KINDS}
    columns["optax-inject_hyperparams"] = {
        n: probe.ulps(optax_numbers[n + "@inject_hyperparams"], ref[n]) for n in KINDS
    }
    for column, values in keras_values(directory).items():
        columns[column] = {
            n: probe.ulps(v, ref[n][used] if column.endswith("applied") else ref[n])
            for n, v in values.items()
        }
    columns["naive-float32"] = {n: probe.ulps(v, ref[n]) for n, v in torch_float32_naive().items()}
    return columns


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    import torch

    torch.set_num_threads(1)
    return table(Path(tmp_path_factory.getbasetemp()))


def test_the_torch_float64_scheduler_matches_the_reference(measured: Any) -> None:
    errors = measured["torch-float64-scheduler"]
    assert set(errors) == set(KINDS)
    assert max(errors.values()) <= MAX_REL_64, errors


@pytest.mark.parametrize(
    "framework",
    [
        "torch-float32",
        "optax-jit-vmap",
        "optax-inject_hyperparams",
        "keras-torch",
        "keras-jax",
        "keras-torch-applied",
        "keras-jax-applied",
    ],
)
def test_float32_frameworks_stay_within_a_few_ulps(measured: Any, framework: str) -> None:
    errors = measured[framework]
    expected = set(probe.USED_KINDS) if framework.endswith("applied") else set(KINDS)
    assert set(errors) == expected
    assert max(errors.values()) <= MAX_ULPS_32, errors


def test_naive_float32_would_not(measured: Any) -> None:
    naive = measured["naive-float32"]
    assert naive["triangular"] > 10 * MAX_ULPS_32
    assert naive["onecycle"] > 10 * MAX_ULPS_32


def main() -> None:
    import tempfile

    import keras

    with tempfile.TemporaryDirectory() as directory:
        columns = table(Path(directory))
    names = list(columns)
    print(f"keras in-process backend: {keras.backend.backend()}; steps 0..{probe.NUM_STEPS - 1}")
    print("| kind | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for kind in KINDS:
        cells = []
        for column in names:
            value = columns[column].get(kind)
            if value is None:
                cells.append("")
            elif column == "torch-float64-scheduler":
                cells.append(f"{value:.1e}")
            else:
                cells.append(f"{value:.2f}")
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
