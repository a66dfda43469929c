"""Keras tests run in-process on one backend and, through ``keras_probe``, on the other.

The backend is fixed when keras is first imported: ``KERAS_BACKEND`` (torch unless the
environment says otherwise; tensorflow is not installed).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import keras_probe  # noqa: E402
import pytest  # noqa: E402

BACKENDS = ("this", "other")


@pytest.fixture(scope="session")
def keras_backend() -> str:
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(1)
    return str(keras.backend.backend())


@pytest.fixture(scope="session")
def other_backend(keras_backend: str) -> str:
    return "jax" if keras_backend == "torch" else "torch"


@pytest.fixture(scope="session")
def this_probe(keras_backend: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every probe check under this process's backend."""
    return keras_probe.run_all(tmp_path_factory.mktemp("keras-this"))


@pytest.fixture(scope="session")
def other_probe(other_backend: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every probe check under the other backend, in a fresh process (shared per session)."""
    return keras_probe.probe_other_backend(other_backend, Path(tmp_path_factory.getbasetemp()))


@pytest.fixture(params=BACKENDS)
def probe(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The probe results of each backend in turn."""
    return dict(request.getfixturevalue(f"{request.param}_probe"))
