"""Exceptions shared by every part of cyclr, and the guard for optional extras."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["CyclrError", "MissingExtraError", "NoReliableSuggestionError", "require"]


class CyclrError(Exception):
    """Base class of the errors cyclr raises beyond plain ``ValueError``/``TypeError``."""


class NoReliableSuggestionError(CyclrError, ValueError):
    """The range-test curve carries no evidence for a learning rate.

    Raised instead of returning an arbitrary value when the loss never falls, is flat,
    or is not finite anywhere.
    """


class MissingExtraError(CyclrError, ImportError):
    """An optional dependency of cyclr is not installed."""


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency or explain which extra installs it.

    Args:
        module: The module to import, for example ``"matplotlib.pyplot"``.
        extra: The cyclr extra that provides it, for example ``"plot"``.

    Returns:
        The imported module.

    Raises:
        MissingExtraError: If the module cannot be imported.

    Example:
        >>> require("json", "cli").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingExtraError(
            f"{top} is required for this feature: pip install 'cyclr[{extra}]'"
        ) from None
