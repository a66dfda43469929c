"""Keras 3 adapter: Keras schedules, cycled momentum, the range test and its confirmation.

Import it explicitly (``import cyclr.keras``); ``import cyclr`` never loads Keras. Keras
must find its backend (``KERAS_BACKEND``: ``jax``, ``torch`` or ``tensorflow``) when it
is first imported.
"""

import importlib.util

from ..errors import MissingExtraError, require

if importlib.util.find_spec("keras") is None:
    require("keras", "keras")
try:
    import keras  # noqa: F401
except ImportError as exc:
    raise MissingExtraError(
        f"keras is installed but could not start its backend ({exc}); set the "
        "KERAS_BACKEND environment variable to an installed backend (jax, torch or "
        "tensorflow) before keras is first imported"
    ) from exc

from .confirm import confirm
from .optimizers import SGD, Adam, AdamW
from .rangetest import range_test
from .schedule import Schedule, evaluate

__all__ = ["SGD", "Adam", "AdamW", "Schedule", "confirm", "evaluate", "range_test"]
