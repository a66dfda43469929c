"""Argument checks that raise ``"<param> must <constraint> (got <param>=<value>)"`` errors.

Every public constructor and function in cyclr validates through these helpers, so
messages read the same everywhere and no value is ever coerced silently.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "check_callable",
    "check_choice",
    "check_finite",
    "check_fraction",
    "check_int",
    "check_positive",
    "check_range_open",
    "describe",
]


def _got(name: str, value: Any) -> str:
    return f"(got {name}={describe(value)})"


def describe(value: Any) -> str:
    """Return ``repr(value)``, cut to 80 characters for values with a long repr."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return describe_number(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float after checking it is a finite real number.

    Raises:
        TypeError: If ``value`` is not a real number (bools are refused too).
        ValueError: If ``value`` is NaN or infinite.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number {_got(name, value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite {_got(name, value)}")
    return result


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float after checking it is finite and ``> 0``."""
    result = check_finite(name, value)
    if result <= 0:
        raise ValueError(f"{name} must be positive {_got(name, value)}")
    return result


def check_fraction(name: str, value: Any) -> float:
    """Return ``value`` as a float after checking ``0 < value < 1``."""
    result = check_finite(name, value)
    if not 0 < result < 1:
        raise ValueError(f"{name} must be in the open interval (0, 1) {_got(name, value)}")
    return result


def check_range_open(name: str, value: Any, low: float, high: float, *, closed_high: bool) -> float:
    """Return ``value`` as a float after checking it lies in ``(low, high)`` or ``(low, high]``."""
    result = check_finite(name, value)
    inside = low < result <= high if closed_high else low < result < high
    if not inside:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in ({low}, {high}{bracket} {_got(name, value)}")
    return result


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as an int after checking it is an integer ``>= minimum``.

    Floats are refused even when integral: a step count is a count. No upper bound; see
    :func:`check_count` for one.
    """
    return check_count(name, value, minimum=minimum, maximum=None)


def check_above(low_name: str, low: Any, high_name: str, high: Any) -> None:
    """Check ``high > low`` for two already checked numbers (a range's two ends).

    Raises:
        ValueError: ``'high_name' must be greater than 'low_name'``, naming both values.

    Example:
        >>> check_above("base_lr", 0.1, "max_lr", 0.01)
        Traceback (most recent call last):
        ...
        ValueError: max_lr must be greater than base_lr (got base_lr=0.1, max_lr=0.01)
    """
    if not high > low:
        raise ValueError(
            f"{high_name} must be greater than {low_name} "
            f"(got {low_name}={describe(low)}, {high_name}={describe(high)})"
        )


def check_type(name: str, value: Any, types: type | tuple[type, ...], expected: str) -> Any:
    """Return ``value`` after checking ``isinstance(value, types)``.

    Raises:
        TypeError: ``'name' must be <expected> (got name=<value>)``, e.g. ``expected="a
            bool"``.

    Example:
        >>> check_type("update_attr", "yes", bool, "a bool")
        Traceback (most recent call last):
        ...
        TypeError: update_attr must be a bool (got update_attr='yes')
    """
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {expected} {_got(name, value)}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` after checking it is one of ``choices``."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise ValueError(f"{name} must be one of {listed} {_got(name, value)}")
    return value


def check_callable(name: str, value: Any) -> None:
    """Raise ``TypeError`` unless ``value`` is callable or ``None``."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None (got {name}={describe(value)})")


# -- huge numbers, counts and steps (appended) -------------------------------------------

MAX_EXACT_INT = 2**53
"""The largest count every float64 computation holds exactly."""

_SHORT_DIGITS = 30


def describe_number(value: Any) -> str:
    """Return ``repr(value)``, with a giant integer cut to its ends and its digit count.

    ``repr`` of an int past 4,300 digits raises in Python 3.11+, and a 400-digit value
    makes an unreadable message; such values read ``1000...0 (401 digits)``.

    Example:
        >>> describe_number(10**400)
        '1000...0 (401 digits)'
        >>> describe_number(-12)
        '-12'
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return describe(value)
    number = int(value)
    magnitude = abs(number)
    if magnitude < 10**_SHORT_DIGITS:
        return repr(number)
    digits = int(magnitude.bit_length() * math.log10(2)) + 1
    while digits > 1 and magnitude < 10 ** (digits - 1):
        digits -= 1
    while magnitude >= 10**digits:
        digits += 1
    sign = "-" if number < 0 else ""
    head = magnitude // 10 ** (digits - 4)
    return f"{sign}{head}...{magnitude % 10} ({digits} digits)"


check_real = check_finite
"""Alias of :func:`check_finite` (an integer beyond the float range is named, too)."""

check_real_positive = check_positive
"""Alias of :func:`check_positive`."""


def check_count(
    name: str, value: Any, *, minimum: int = 1, maximum: int | None = MAX_EXACT_INT
) -> int:
    """Return ``value`` as an int after checking ``minimum <= value <= maximum``.

    The upper bound is by default ``2**53``, so every float64 computation with the count
    is exact; ``maximum=None`` sets none. Giant values are abbreviated in the message.

    Raises:
        TypeError: If ``value`` is not an integer (bools and floats are refused).
        ValueError: If it lies outside the bounds.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer (got {name}={describe(value)})")
    result = int(value)
    if result < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound} (got {name}={describe_number(value)})")
    if maximum is not None and result > maximum:
        limit = "2**53" if maximum == MAX_EXACT_INT else str(maximum)
        raise ValueError(f"{name} must be at most {limit} (got {name}={describe_number(value)})")
    return result
