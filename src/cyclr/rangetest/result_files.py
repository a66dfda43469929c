"""A range-test result's files: JSON (the whole result) and CSV (the curve).

:class:`ResultFiles` is the part of :class:`~cyclr.rangetest.RangeTestResult` that
writes and reads files; the formats are :mod:`cyclr.rangetest.storage`'s. Writes replace
the file atomically (a reader sees the old file or the new one, never part of one).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._validate import check_type
from . import storage

if TYPE_CHECKING:
    from .result import RangeTestResult

__all__ = ["ResultFiles"]

_Result = TypeVar("_Result", bound="ResultFiles")


class ResultFiles:
    """Writing a result to JSON or CSV, and reading it back (a base of the result)."""

    def _as_result(self) -> RangeTestResult:
        return cast("RangeTestResult", self)

    @classmethod
    def _read(
        cls: type[_Result], path: str | os.PathLike[str], method: str, fields: Callable[..., Any]
    ) -> _Result:
        """The result in the file at ``path``, its fields parsed by ``fields``."""
        text, origin = storage.read_file(path, method)
        try:
            return cls(**fields(text, origin))
        except (TypeError, ValueError) as exc:  # a field the constructor refused
            if origin in str(exc) or type(exc) not in (TypeError, ValueError):
                raise
            raise type(exc)(f"{origin} is not a valid range-test result: {exc}") from None

    @classmethod
    def _parse(cls: type[_Result], text: Any, fields: Callable[..., Any], origin: str) -> _Result:
        """The result in ``text`` (checked to be a string), parsed by ``fields``."""
        check_type("text", text, str, "a str")
        return cls(**fields(text, origin))

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the result as JSON (:mod:`~cyclr.rangetest.storage`); write it to ``path``.

        The file is replaced atomically: a reader sees the old file or the new one,
        never part of one, and a failed write leaves the old file as it was.

        Args:
            path: Where to write the JSON, or ``None`` to only return it.

        Returns:
            The JSON text (what is written to ``path``, less the final newline).

        Raises:
            OSError: If the file cannot be written (the message names the path and the
                cause).
        """
        text = storage.json_text(self._as_result())
        if path is not None:
            from .._files import atomic_write_text

            atomic_write_text(path, text + "\n")
        return text

    @classmethod
    def from_json(cls: type[_Result], path: str | os.PathLike[str]) -> _Result:
        """Read a result file written by :meth:`to_json`, checking every field.

        Args:
            path: The file (for JSON text in a string, use :meth:`from_json_text`).

        Returns:
            The result, equal to the one that was saved.

        Raises:
            ValueError: If the file is empty, not UTF-8, not valid JSON (for example
                truncated), not a cyclr range-test result, of another schema version,
                or a field is missing, unknown or malformed.
            FileNotFoundError: If there is no such file.
            TypeError: If ``path`` is not a path.
        """
        return cls._read(path, "from_json", storage.json_fields)

    @classmethod
    def from_json_text(cls: type[_Result], text: str) -> _Result:
        """Read a result from the JSON text :meth:`to_json` returns.

        Raises:
            ValueError: As :meth:`from_json`.
            TypeError: If ``text`` is not a string.
        """
        if isinstance(text, str) and not text.strip():
            raise ValueError("text must be JSON (got an empty string)")
        return cls._parse(text, storage.json_fields, "JSON text")

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the curve as CSV: ``step``, one LR column per group, ``loss``, ``smoothed``.

        LR columns are ``lr`` for a single group, else ``lr_0``, ``lr_1``, ...; a
        ``metric`` column follows when metrics were recorded. Floats are written with
        their round-trip repr; NaN as ``nan``. Replaced atomically, like :meth:`to_json`.
        """
        from .._files import atomic_write_text

        atomic_write_text(path, storage.csv_text(self._as_result()))

    @classmethod
    def from_csv(cls: type[_Result], path: str | os.PathLike[str]) -> _Result:
        """Read a curve written by :meth:`to_csv`.

        The CSV holds the curve only: ``stop_reason`` and ``elapsed_s`` come back as
        ``None``, ``settings`` as ``{}`` and ``confirmation`` as ``None`` (so
        ``suggest()`` reads the curve again); ``lrs``, ``losses``, ``smoothed`` and
        ``metrics`` are exact.

        Raises:
            ValueError: If the file is empty, not UTF-8, or its header or a row is
                malformed.
            FileNotFoundError: If there is no such file.
        """
        return cls._read(path, "from_csv", storage.csv_fields)

    @classmethod
    def from_csv_text(cls: type[_Result], text: str) -> _Result:
        """Read a curve from CSV text in the form :meth:`to_csv` writes.

        Raises:
            ValueError: As :meth:`from_csv`.
            TypeError: If ``text`` is not a string.
        """
        return cls._parse(text, storage.csv_fields, "CSV text")
