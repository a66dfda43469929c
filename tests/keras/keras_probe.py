"""Keras checks that run under one backend: in the test process, or in a fresh process.

The Keras backend is fixed when keras is first imported (``KERAS_BACKEND``; the tests
default it to torch, tensorflow is not installed), so the tests run the checks for the
test process's backend directly and for the other backend through this file as a script
(``KERAS_BACKEND=jax python keras_probe.py OUT_DIR``), once per test session:
:func:`probe_other_backend` caches the result under pytest's session temp directory, so
``tests/test_numbers_agree.py`` and the modules of ``tests/keras`` share one subprocess.
The fixtures ``probe`` and ``other_probe`` live here too, imported by the test
modules that use them. (No ``conftest.py`` here: a second non-package ``conftest``
module clashes with the others under ``--doctest-modules``, and a package named
``keras`` would shadow Keras.)
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

if os.environ.get("KERAS_BACKEND", "torch") == "torch":
    import torch

    torch.set_num_threads(1)  # small matrices on shared cores: threads only contend

BACKENDS = ("torch", "jax")
NUM_STEPS = 20_000
USED_STEPS = (*range(0, NUM_STEPS, 1333), NUM_STEPS - 2, NUM_STEPS - 1)
"""Steps at which the LR applied by a compiled Keras update is read back."""
USED_KINDS = ("triangular", "onecycle", "join_warmup")
"""Kinds whose LR is read back from a compiled update (one compiled model each)."""
SCALE_FN = "agree_decay"


def agree_decay(x: Any, ops: Any) -> Any:
    """A custom cyclic amplitude: decays by e every 8 cycles."""
    return ops.exp((1.0 - x) / 8.0)


def kinds() -> dict[str, Any]:
    """One schedule of each kind, over ``NUM_STEPS`` steps."""
    from cyclr import (
        Constant,
        Cyclic,
        ExpRange,
        Linear,
        OneCycle,
        Triangular,
        Triangular2,
        register_scale_fn,
        warmup,
    )
    from cyclr.schedules import registered_scale_fns

    if SCALE_FN not in registered_scale_fns():
        register_scale_fn(SCALE_FN, agree_decay)
    onecycle = OneCycle(max_lr=0.1, total_steps=NUM_STEPS)
    triangular = Triangular(0.001, 0.006, step_size_up=1000, step_size_down=3000)
    return {
        "triangular": triangular,
        "triangular2": Triangular2(0.001, 0.006, step_size_up=2000),
        "exp_range": ExpRange(0.001, 0.006, step_size_up=2000, gamma=0.99994),
        "cyclic": Cyclic(0.001, 0.006, 1500, scale_fn=SCALE_FN, scale_mode="cycle"),
        "onecycle": onecycle,
        "onecycle_3phase_linear": OneCycle(
            max_lr=0.1, total_steps=NUM_STEPS, pct_start=0.25, anneal="linear", three_phase=True
        ),
        "linear": Linear(0.01, 1e-4, total_steps=NUM_STEPS),
        "constant": Constant(0.03),
        "join_warmup": warmup(Triangular2(0.001, 0.006, step_size_up=2000), 1000),
        "momentum_cyclic": triangular.momentum(0.85, 0.95),
        "momentum_onecycle": onecycle.momentum(0.85, 0.95),
    }


def ulps(values: Any, reference: Any) -> float:
    """Max ``|values - reference|`` in float32 ulps of the reference."""
    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(values, dtype=np.float32).astype(np.float64)
    spacing = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return float(np.max(np.abs(got - ref) / spacing))


# -- checks run under the current backend ------------------------------------------------


def schedule_numbers() -> dict[str, dict[str, list[float]]]:
    """Each kind's float32 values through ``keras.ops`` (compiled on JAX) and as applied.

    ``vector``: :func:`cyclr.keras.evaluate` over steps ``0 .. NUM_STEPS - 1`` (inside
    ``jax.jit`` on the JAX backend, as in a compiled train step). ``used``: the LR a
    compiled Keras ``SGD`` update applied at each of ``USED_STEPS``, read back from the
    weight change of ``w`` under the loss ``w`` (gradient 1, ``w`` reset to 0).
    """
    import keras
    from keras import ops

    from cyclr.keras import Schedule, evaluate

    steps = np.arange(NUM_STEPS, dtype=np.int32)
    schedules = kinds()

    def all_kinds(s: Any) -> list[Any]:
        return [evaluate(schedule, s) for schedule in schedules.values()]

    if keras.backend.backend() == "jax":
        import jax

        vectors = jax.jit(all_kinds)(steps)
    else:
        vectors = all_kinds(steps)
    out: dict[str, dict[str, list[float]]] = {}
    for (name, schedule), vector in zip(schedules.items(), vectors, strict=True):
        out[name] = {"vector": np.asarray(ops.convert_to_numpy(vector)).astype(float).tolist()}
        if name in USED_KINDS:
            out[name]["used"] = applied_lrs(Schedule(schedule), USED_STEPS)
    return out


def applied_lrs(schedule: Any, steps: Any) -> list[float]:
    """The LR a compiled Keras SGD update applies at each step, read from ``w -= lr * 1``."""
    import keras

    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule),
        loss=lambda y_true, y_pred: keras.ops.mean(y_pred),
    )
    x = np.ones((1, 1), dtype="float32")
    model.train_on_batch(x, x)
    used = []
    kernel = model.layers[0].kernel
    for step in steps:
        kernel.assign(np.zeros((1, 1), dtype="float32"))
        model.optimizer.iterations.assign(int(step))
        model.train_on_batch(x, x)
        used.append(-float(np.asarray(keras.ops.convert_to_numpy(kernel.value))[0, 0]))
    return used


def digits_batches(num: int = 320, batch_size: int = 32) -> list[tuple[Any, Any]]:
    """A few hundred sklearn digits, scaled to [0, 1], in fixed batches."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data[:num] / 16.0).astype("float32")
    y = digits.target[:num].astype("int32")
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, num, batch_size)]


def digits_model(optimizer: Any, *, dropout: bool = False) -> Any:
    """A small Dense classifier, compiled; with ``dropout``, training draws random masks."""
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input((64,)), keras.layers.Dense(32, activation="relu")]
    if dropout:
        layers.append(keras.layers.Dropout(0.1))
    model = keras.Sequential([*layers, keras.layers.Dense(10)])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


TRAIN_STEPS = 10
"""Steps before the mid-training save, and again after it."""


def lr_schedule() -> Any:
    from cyclr import OneCycle

    return OneCycle(max_lr=0.05, total_steps=4 * TRAIN_STEPS)


def make_optimizer() -> Any:
    from cyclr.keras import SGD, Schedule

    lr = lr_schedule()
    return SGD(learning_rate=Schedule(lr), momentum=lr.momentum(0.85, 0.95), nesterov=True)


def run_steps(model: Any, batches: list[tuple[Any, Any]]) -> dict[str, list[float]]:
    """Train one batch at a time; return each step's loss, LR and momentum as applied."""
    from keras import ops

    from cyclr.keras import evaluate

    optimizer = model.optimizer
    losses, lrs, momenta = [], [], []
    for x, y in batches:
        step = int(ops.convert_to_numpy(ops.convert_to_tensor(optimizer.iterations)))
        lrs.append(float(ops.convert_to_numpy(optimizer.learning_rate)))
        momenta.append(float(ops.convert_to_numpy(evaluate(optimizer.momentum_schedule, step))))
        logs = model.train_on_batch(x, y, return_dict=True)
        losses.append(float(logs["loss"]))
    return {"loss": losses, "lr": lrs, "momentum": momenta}


def weights(model: Any) -> list[list[float]]:
    return [np.asarray(w, dtype=np.float64).ravel().tolist() for w in model.get_weights()]


def train_save_reload(directory: Path) -> dict[str, Any]:
    """Train, save mid-training, continue; reload in this process and continue the same way.

    Returns the steps' records, the saved path, and whether the reloaded model continued
    bit for bit like the original.
    """
    import keras

    batches = digits_batches()
    model = digits_model(make_optimizer())
    before = run_steps(model, batches[:TRAIN_STEPS])
    path = directory / f"digits-{keras.backend.backend()}.keras"
    model.save(path)
    after = run_steps(model, batches[:TRAIN_STEPS])
    reloaded = keras.models.load_model(path)
    again = run_steps(reloaded, batches[:TRAIN_STEPS])
    return {
        "path": str(path),
        "before": before,
        "after": after,
        "reloaded": again,
        "reloaded_optimizer": type(reloaded.optimizer).__name__,
        "weights_after": weights(model),
        "weights_reloaded": weights(reloaded),
    }


def range_test_restores() -> dict[str, Any]:
    """Range test mid-training: per-batch losses match a twin; state comes back exactly."""
    import keras
    from keras import ops

    from cyclr.keras import range_test

    batches = digits_batches()
    model = digits_model(make_optimizer(), dropout=True)
    twin = digits_model(make_optimizer(), dropout=True)
    for m in (model, twin):  # the same dropout draws for both, whatever the backend
        keras.utils.set_random_seed(1)
        run_steps(m, batches[:3])
    variables = [*model.variables, *model.optimizer.variables]
    state = [np.array(ops.convert_to_numpy(v.value)) for v in variables]
    result = range_test(
        model, batches, start_lr=1e-3, end_lr=1e3, num_steps=40, progress=False, held_out=None
    )
    restored = all(
        np.array_equal(a, np.asarray(ops.convert_to_numpy(v.value)))
        for a, v in zip(state, variables, strict=True)
    )
    keras.utils.set_random_seed(2)
    continued = run_steps(model, batches[3:6])
    keras.utils.set_random_seed(2)
    twin_continued = run_steps(twin, batches[3:6])
    return {
        "stop_reason": result.stop_reason,
        "num_recorded": result.num_recorded,
        "losses": result.losses.tolist(),
        "lrs": result.lrs[:, 0].tolist(),
        "restored": restored,
        "continued": continued,
        "twin_continued": twin_continued,
        "weights": weights(model),
        "twin_weights": weights(twin),
    }


def this_backend(directory: Path) -> dict[str, Any]:
    """:func:`run_all` in this process, once per process (its temp dir is made under
    ``directory``)."""
    return _this_backend(str(directory))


@functools.lru_cache(maxsize=1)
def _this_backend(directory: str) -> dict[str, Any]:
    import keras

    out = Path(directory) / f"keras-this-{keras.backend.backend()}"
    out.mkdir(parents=True, exist_ok=True)
    return run_all(out)


def other_backend_name() -> str:
    import keras

    return "jax" if keras.backend.backend() == "torch" else "torch"


def run_all(directory: Path) -> dict[str, Any]:
    """Every check, for the current backend."""
    import keras

    seconds = {}
    result: dict[str, Any] = {"backend": keras.backend.backend(), "seconds": seconds}
    for key, check in (
        ("numbers", schedule_numbers),
        ("saved", lambda: train_save_reload(directory)),
        ("range_test", range_test_restores),
    ):
        started = time.perf_counter()
        result[key] = check()
        seconds[key] = time.perf_counter() - started
    return result


# -- the other backend, in a fresh process -----------------------------------------------


def probe_other_backend(backend: str, directory: Path) -> dict[str, Any]:
    """Run :func:`run_all` under ``backend`` in a fresh process, once per ``directory``."""
    out = directory / f"keras-probe-{backend}"
    done = out / "result.json"
    if not done.exists():
        out.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
        env.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
        completed = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"keras probe under {backend} failed:\n{completed.stdout}\n{completed.stderr}"
            )
    return dict(json.loads(done.read_text()))


def main(argv: list[str]) -> int:
    directory = Path(argv[1])
    result = run_all(directory)
    (directory / "result.json").write_text(json.dumps(result))
    return 0


@pytest.fixture(name="other_probe", scope="module")
def other_probe_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every probe check under the other backend, in a fresh process (once per session)."""
    base = Path(tmp_path_factory.getbasetemp())
    return probe_other_backend(other_backend_name(), base)


@pytest.fixture(name="probe", params=["this", "other"])
def probe_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The probe results of each backend in turn."""
    if request.param == "this":
        return this_backend(Path(tmp_path_factory.getbasetemp()))
    return request.getfixturevalue("other_probe")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(sys.argv))


def state(model: Any) -> list[np.ndarray]:
    """Every variable of the model, its optimizer and its metrics, as NumPy copies."""
    from keras import ops

    variables = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
    return [np.array(ops.convert_to_numpy(v.value)) for v in variables]


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    """Two :func:`state` captures are equal bit for bit."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
