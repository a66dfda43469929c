"""``cyclr.keras.range_test`` puts every random generator back: NumPy's, Python's, Keras'
global ``SeedGenerator`` and torch's (a ``DataLoader`` as data), and holds aside from a
pipeline that augments with them; an unbuilt model whose eval step fails falls back to
the curve alone before the sweep, as a built one does."""

from __future__ import annotations

import os
import random
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")  # fixed at first import; see keras_probe
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from typing import Any

import keras
import numpy as np
import pytest
from tests.keras import keras_probe

from cyclr.keras import range_test

BATCHES = keras_probe.digits_batches()
SWEEP: dict[str, Any] = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 60, "progress": False}


class _Noisy(keras.layers.Layer):  # type: ignore[misc]
    """Adds noise from Keras' global ``SeedGenerator`` (an unseeded ``keras.random`` call)."""

    def call(self, x: Any, training: bool = False) -> Any:
        return x + 0.01 * keras.random.normal(keras.ops.shape(x)) if training else x


def _model(*layers: Any) -> Any:
    model = keras.Sequential(
        [keras.Input((64,)), *layers, keras.layers.Dense(32, activation="relu"),
         keras.layers.Dense(10)]
    )  # fmt: skip
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


class _Augmenting(keras.utils.PyDataset):  # type: ignore[misc]
    """The digits batches, jittered with NumPy's and Python's global generators."""

    def __len__(self) -> int:
        return len(BATCHES)

    def __getitem__(self, i: int) -> Any:
        x, y = BATCHES[i]
        return x + np.float32(0.01 * random.random()) * np.random.normal(size=x.shape), y


def _states() -> list[Any]:
    from keras.src.random.seed_generator import global_seed_generator

    np_state = np.random.get_state()
    return [
        np_state[1].copy(),
        np_state[2],
        random.getstate(),
        np.array(keras.ops.convert_to_numpy(global_seed_generator().state.value)),
    ]


def test_every_generator_is_put_back_and_the_augmenting_pipeline_is_confirmed() -> None:
    keras.utils.set_random_seed(0)
    model = _model(_Noisy())
    model.fit(BATCHES[0][0], BATCHES[0][1], epochs=1, verbose=0)  # everything built
    before = _states()
    got = range_test(model, _Augmenting(), **SWEEP)
    after = _states()
    assert np.array_equal(before[0], after[0]) and before[1:3] == after[1:3]
    assert np.array_equal(before[3], after[3])
    # Every pass replays the generators the first drew from, so the jitter repeats and
    # the batches held aside are the ones every pass skips.
    assert got.confirmation is not None
    assert got.settings["held_out"].startswith("auto: the first 2 batches")


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="a torch DataLoader as data")
@pytest.mark.parametrize("own_generator", [False, True], ids=["global-rng", "own-generator"])
def test_a_torch_loader_as_data_leaves_torchs_generators_as_they_were(own_generator: bool) -> None:
    import torch

    x = torch.tensor(np.concatenate([b[0] for b in BATCHES]))
    y = torch.tensor(np.concatenate([b[1] for b in BATCHES]))
    g = torch.Generator().manual_seed(4)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y),
        batch_size=32,
        shuffle=True,
        generator=g if own_generator else None,
    )
    model = _model()
    torch.manual_seed(0)
    state, own = torch.get_rng_state(), g.get_state()
    got = range_test(model, loader, **SWEEP)
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(g.get_state(), own)
    assert got.confirmation is not None  # every pass replayed: the held batches repeat


class _EvalBroken(keras.layers.Layer):  # type: ignore[misc]
    """Trains and builds, but ``test_on_batch`` (``training=False``) on real data fails."""

    def call(self, x: Any, training: bool | None = None) -> Any:
        symbolic = getattr(getattr(x, "device", None), "type", "meta") == "meta"
        if training is False and not symbolic:
            raise RuntimeError("no inference path for this input")
        return x


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the torch backend's meta build")
def test_an_unbuilt_model_whose_eval_fails_falls_back_before_the_sweep() -> None:
    model = keras.Sequential([keras.layers.Dense(10), _EvalBroken()])  # no Input: unbuilt
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = range_test(model, BATCHES, **SWEEP)
    texts = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert len(texts) == 1 and "cannot be scored" in texts[0]
    assert "no inference path" in texts[0]
    assert got.confirmation is None and got.suggest().method == "bottom"
    assert got.settings["held_out"].startswith("none held aside: they cannot be scored")
