"""The README's Keras and JAX examples run as written.

The blocks live in ``benchmarks/results/adapters_readme.md`` until they move into
``README.md``; each ```python block runs in a fresh namespace, in a temporary directory.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import of keras
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import re
from pathlib import Path
from typing import Any

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "adapters_readme.md"


def blocks() -> dict[str, str]:
    text = SOURCE.read_text()
    found = re.findall(r"^### (.+?)$.*?^```python\n(.*?)^```$", text, re.S | re.M)
    return {title.strip(): code for title, code in found}


def test_the_readme_has_a_keras_and_a_jax_example() -> None:
    assert list(blocks()) == ["Keras 3", "JAX / optax"]


@pytest.mark.parametrize("title", ["Keras 3", "JAX / optax"])
def test_example_runs(title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(compile(blocks()[title], f"{SOURCE.name}:{title}", "exec"), namespace)
    result = namespace["result"]
    assert result.stop_reason is not None and result.num_recorded > 50
    lr = namespace["lr"]
    assert type(lr).__name__ == "OneCycle" and lr.max_lr > lr.initial_lr
    if title == "Keras 3":
        import keras

        assert (tmp_path / "digits.keras").exists()
        model = keras.models.load_model(tmp_path / "digits.keras")
        assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 5 * 29
        x, y = namespace["x"], namespace["y"]
        _, accuracy = model.evaluate(x, y, verbose=0)
        assert accuracy > 0.9
    else:
        import jax.numpy as jnp

        loss_fn, params, batches = namespace["loss_fn"], namespace["params"], namespace["batches"]
        mean_loss = float(jnp.mean(jnp.stack([loss_fn(params, b) for b in batches])))
        assert mean_loss < 0.3
