"""Writing and reading cyclr's files safely (interim: replaced by the full module)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "read_text"]


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    """Read a UTF-8 text file, each failure one clear line naming the path."""
    source = Path(path)
    name = f"{what} {str(path)!r}"
    if source.is_dir():
        raise IsADirectoryError(f"cannot read {name}: it is a folder")
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"cannot read {name}: no such file") from None
    except OSError as exc:
        raise OSError(f"cannot read {name}: {exc.strerror or exc}") from None
    if not data.strip():
        raise ValueError(f"{name} is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{name} is not UTF-8 text") from None
