"""Writing and reading cyclr's files: atomically, with one clear error line on failure.

Every file cyclr writes (results, CSV tables, figures, snapshots) goes through
:func:`atomic_writer` or its two shortcuts :func:`atomic_write_text` and
:func:`atomic_write_bytes`:

1. the data goes to a new temporary file in the target's directory, named
   ``.<basename>.<random>.tmp`` (hidden, and on the same file system as the target);
2. it is flushed and ``fsync``-ed, takes the permission bits of the file it replaces
   (a new file gets the usual ``0o666 & ~umask``), and is renamed onto the target with
   :func:`os.replace`, which is atomic on POSIX and Windows;
3. the directory is ``fsync``-ed (best effort) so the rename survives a power cut.

A reader therefore sees either the old file or the new one, never a part of either;
a writer killed at any point (``SIGKILL`` included) leaves the old file intact (and at
worst a hidden temporary file). On any failure (an exception, ``KeyboardInterrupt``)
the temporary file is removed and the old file is untouched; an ``OSError`` is raised
again as :class:`FileWriteError` naming the path and the cause, for example
``could not write /x/result.json: no space left on device (ENOSPC)``. Other exceptions
(the caller's own ``TypeError``, ``KeyboardInterrupt``) propagate unchanged.

:func:`read_text` reads a text file and turns every usual failure (missing, a
directory, empty, not UTF-8, not readable) into one :class:`FileReadError` line.

Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from typing import IO, Any, Literal, TypeVar, overload

from .errors import CyclrError

__all__ = [
    "FileMissingError",
    "FileReadError",
    "FileWriteError",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "is_special_file",
    "os_error_in",
    "read_text",
    "saving_error",
    "write_error",
]

PathArg = str | os.PathLike[str]


class FileWriteError(CyclrError, OSError):
    """A file could not be written; the file that was there before is intact.

    ``errno`` and ``filename`` are set as on the ``OSError`` it replaces.
    """

    def __str__(self) -> str:
        return str(self.strerror)


class FileReadError(CyclrError, OSError, ValueError):
    """A file could not be read as text: missing, a directory, empty, not UTF-8, ...

    Both an ``OSError`` and a ``ValueError``, so either ``except`` clause catches it.
    """

    def __str__(self) -> str:
        return str(self.strerror)


class FileMissingError(FileReadError, FileNotFoundError):
    """The file to read does not exist (also a ``FileNotFoundError``)."""


_E = TypeVar("_E", bound=OSError)


def _error(cls: type[_E], message: str, path: str, code: int | None) -> _E:
    return cls(code, message, path)  # str(exc) is the message (see __str__)


def _cause(code: int | None, fallback: str) -> str:
    """``"no space left on device (ENOSPC)"`` for an errno, ``fallback`` without one."""
    if code is None:
        return fallback
    reason = os.strerror(code)
    reason = reason[:1].lower() + reason[1:]
    name = errno.errorcode.get(code)
    return f"{reason} ({name})" if name else reason


def write_error(path: PathArg, exc: BaseException) -> FileWriteError:
    """Build the :class:`FileWriteError` for a failed write of ``path``.

    Args:
        path: The file that was being written.
        exc: The error: an ``OSError`` (its ``errno`` names the cause) or anything else.

    Returns:
        The error to raise (``from exc``).

    Example:
        >>> str(write_error("/x/result.json", OSError(errno.ENOSPC, "No space left")))
        'could not write /x/result.json: no space left on device (ENOSPC)'
        >>> str(write_error("/x/big.pt", OSError(errno.EFBIG, "File too large")))
        'could not write /x/big.pt: file too large (EFBIG)'
    """
    code = exc.errno if isinstance(exc, OSError) else None
    target = os.fspath(path)
    message = f"could not write {target}: {_cause(code, f'{type(exc).__name__}: {exc}')}"
    return _error(FileWriteError, message, target, code)


def os_error_in(exc: BaseException | None) -> OSError | None:
    """Return the first ``OSError`` with an ``errno`` in ``exc``'s cause/context chain.

    Libraries that write through a file object and raise their own error
    (``torch.save``: ``RuntimeError: [enforce fail at inline_container.cc...]``) keep
    the file's ``OSError`` as the context; this finds it.

    Example:
        >>> try:
        ...     try:
        ...         raise OSError(errno.ENOSPC, "No space left on device")
        ...     except OSError:
        ...         raise RuntimeError("enforce fail at inline_container.cc")
        ... except RuntimeError as e:
        ...     os_error_in(e).errno == errno.ENOSPC
        True
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


_FULL = {errno.ENOSPC: "no space left", errno.EFBIG: "file too large"}
if hasattr(errno, "EDQUOT"):
    _FULL[errno.EDQUOT] = "disk quota exceeded"


def saving_error(
    exc: BaseException, what: str, where: str, path: PathArg, *, hint: str = ""
) -> FileWriteError | None:
    """The clear error for a failed save behind a library's own error, if a file caused it.

    Args:
        exc: The error raised while saving (``torch.save``'s ``RuntimeError``, an
            ``OSError``, a :class:`FileWriteError`).
        what: What was saved, for the message (``"the range-test snapshot"``).
        where: The directory it was saved to.
        path: The file, for ``filename``.
        hint: What the user can do, appended after ``"; "`` to a full-disk message.

    Returns:
        A :class:`FileWriteError` whose message names the cause, or ``None`` when no
        ``OSError`` with an ``errno`` is behind ``exc`` (re-raise ``exc`` then).

    Example:
        >>> e = OSError(errno.ENOSPC, "No space left on device")
        >>> str(saving_error(e, "the snapshot", "/tmp", "/tmp/s/t.pt", hint="free space"))
        'no space left while saving the snapshot to /tmp (ENOSPC); free space'
        >>> str(saving_error(PermissionError(errno.EACCES, "Denied"), "the snapshot", "/x", "/x/t"))
        'could not save the snapshot to /x: permission denied (EACCES)'
        >>> saving_error(RuntimeError("not a file problem"), "the snapshot", "/x", "/x/t") is None
        True
    """
    cause = os_error_in(exc)
    if cause is None or cause.errno is None:
        return None
    code = cause.errno
    if code in _FULL:
        name = errno.errorcode.get(code, str(code))
        message = f"{_FULL[code]} while saving {what} to {where} ({name})"
        message += f"; {hint}" if hint else ""
    else:
        message = f"could not save {what} to {where}: {_cause(code, str(cause))}"
    return _error(FileWriteError, message, os.fspath(path), code)


def _check_path(path: Any) -> str:
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"'path' must be a str or os.PathLike (got path={path!r})")
    target = os.fspath(path)
    if not isinstance(target, str):
        raise TypeError(f"'path' must be a str or os.PathLike of str (got path={path!r})")
    if not target:
        raise ValueError("'path' must not be empty (got path='')")
    return target


def _target(path: Any) -> tuple[str, str]:
    """``(path as given, file to replace)``, after the refusals; symlinks are followed."""
    shown = _check_path(path)
    target = os.path.realpath(shown)
    if os.path.isdir(target):
        raise _error(
            FileWriteError, f"'path' is a directory (got path={path!r})", shown, errno.EISDIR
        )
    parent = os.path.dirname(target)
    if not os.path.exists(parent):
        message = f"could not write {shown}: its directory {parent} does not exist"
        raise _error(FileWriteError, message, shown, errno.ENOENT)
    if not os.path.isdir(parent):
        message = f"could not write {shown}: {parent} is not a directory"
        raise _error(FileWriteError, message, shown, errno.ENOTDIR)
    return shown, target


_TEMP_STEM_BYTES = 200
"""How much of the target's name a temporary name keeps: with its 14 more characters it
stays under the 255 bytes most file systems allow, whatever the target's length."""


def _create_temp(shown: str, target: str) -> tuple[int, str]:
    """Create ``.<basename>.<random>.tmp`` next to ``target``; the umask applies.

    A long basename is cut to :data:`_TEMP_STEM_BYTES` bytes, so that any name the file
    system takes for the target also fits its temporary file.
    """
    parent, base = os.path.split(target)
    stem = os.fsencode(base)[:_TEMP_STEM_BYTES].decode("utf-8", "ignore")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp = os.path.join(parent, f".{stem}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise write_error(shown, exc) from exc
    raise _error(
        FileWriteError, f"could not write {shown}: no free temporary name", shown, errno.EEXIST
    )


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable; ignored where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@overload
def atomic_writer(
    path: PathArg,
    mode: Literal["w"] = "w",
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
    durable: bool = True,
) -> contextlib.AbstractContextManager[IO[str]]: ...
@overload
def atomic_writer(
    path: PathArg,
    mode: Literal["wb"],
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
    durable: bool = True,
) -> contextlib.AbstractContextManager[IO[bytes]]: ...
def atomic_writer(
    path: PathArg,
    mode: str = "w",
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
    durable: bool = True,
) -> contextlib.AbstractContextManager[IO[Any]]:
    """Open a file object whose contents replace ``path`` atomically when the block ends.

    For writers that stream: :mod:`csv`, ``figure.savefig(f)``, ``torch.save(obj, f)``.
    The target is replaced only if the ``with`` block ends without an exception.

    Args:
        path: The file to write. A symlink is followed (the link stays a link). A
            special file (``/dev/null``, a FIFO) is written into directly, not replaced.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding: Text encoding (text mode only).
        newline: As for :func:`open` (text mode only); ``""`` for :mod:`csv`.
        durable: ``fsync`` the file and its directory (``False`` for scratch files,
            such as a snapshot that is read back and deleted in the same run).

    Returns:
        A context manager giving the open temporary file.

    Raises:
        TypeError: If ``path`` is not a str or path-like.
        ValueError: If ``mode`` is not ``"w"`` or ``"wb"`` or ``path`` is empty.
        FileWriteError: If ``path`` is a directory, its directory does not exist, or
            creating, writing or renaming the file fails (the old file is intact).

    Example:
        >>> import csv, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "table.csv")
        >>> with atomic_writer(path, newline="") as f:
        ...     csv.writer(f).writerows([["lr", "loss"], [0.1, 2.5]])
        >>> read_text(path).splitlines()
        ['lr,loss', '0.1,2.5']
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"'mode' must be 'w' or 'wb' (got mode={mode!r})")
    shown, target = _target(path)
    return _writing(shown, target, mode, encoding, newline, durable)


def is_special_file(path: PathArg) -> bool:
    """Whether ``path`` exists and is not a regular file (a device, a FIFO, a socket).

    Asked of the path as given: ``/dev/stdout`` on a pipe resolves (``realpath``) to a
    ``/proc`` name that is no file, while ``os.stat`` follows the link to the pipe.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def _writing_through(
    shown: str, mode: str, encoding: str, newline: str | None
) -> Iterator[IO[Any]]:
    """Write straight into a special file: ``/dev/null``, a FIFO, a terminal.

    Renaming a temporary file onto it would replace the device with a regular file (as
    root, which containers often are), so it is written like any stream, not atomically.
    """
    try:
        if mode == "wb":
            handle: IO[Any] = open(shown, "wb")  # noqa: SIM115 - closed by the with below
        else:
            handle = open(shown, "w", encoding=encoding, newline=newline)  # noqa: SIM115
        with handle:
            yield handle
    except OSError as exc:
        if isinstance(exc, CyclrError):
            raise
        raise write_error(shown, exc) from exc


@contextlib.contextmanager
def _writing(
    shown: str, target: str, mode: str, encoding: str, newline: str | None, durable: bool
) -> Iterator[IO[Any]]:
    if is_special_file(shown):
        with _writing_through(shown, mode, encoding, newline) as stream:
            yield stream
        return
    fd, temp = _create_temp(shown, target)
    try:
        try:
            old_mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            old_mode = None
        if old_mode is not None and hasattr(os, "fchmod"):
            os.fchmod(fd, old_mode)
        if mode == "wb":
            handle: IO[Any] = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if old_mode is not None and not hasattr(os, "fchmod"):
            os.chmod(temp, old_mode)
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError) and not isinstance(exc, CyclrError):
            raise write_error(shown, exc) from exc
        raise
    if durable:
        _fsync_directory(os.path.dirname(target))


def atomic_write_text(
    path: PathArg, text: str, *, encoding: str = "utf-8", newline: str | None = None
) -> None:
    """Replace ``path`` with ``text``, atomically (see :func:`atomic_writer`).

    Raises:
        TypeError: If ``text`` is not a str (or ``path`` not path-like).
        FileWriteError: If the file cannot be written (the old file is intact).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "result.json")
        >>> atomic_write_text(path, '{"lr": 0.1}')
        >>> read_text(path, what="result file")
        '{"lr": 0.1}'
    """
    if not isinstance(text, str):
        raise TypeError(f"'text' must be a str (got text of type {type(text).__name__})")
    with atomic_writer(path, "w", encoding=encoding, newline=newline) as f:
        f.write(text)


def atomic_write_bytes(path: PathArg, data: bytes | bytearray | memoryview) -> None:
    """Replace ``path`` with ``data``, atomically (see :func:`atomic_writer`).

    Raises:
        TypeError: If ``data`` is not bytes-like (or ``path`` not path-like).
        FileWriteError: If the file cannot be written (the old file is intact).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "figure.png")
        >>> atomic_write_bytes(path, b"PNG!")
        >>> os.path.getsize(path)
        4
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"'data' must be bytes-like (got data of type {type(data).__name__})")
    with atomic_writer(path, "wb") as f:
        f.write(data)


def read_text(path: PathArg, what: str = "file", *, encoding: str = "utf-8") -> str:
    """Read a whole text file, or raise one clear :class:`FileReadError` line.

    A UTF-8 byte-order mark is dropped. A file with nothing but whitespace counts as
    empty: no cyclr file is valid that way.

    Args:
        path: The file to read.
        what: What the file is, for the message (``"result file"``).
        encoding: ``"utf-8"`` (the default; a BOM is allowed) or another codec.

    Returns:
        The file's text.

    Raises:
        TypeError: If ``path`` is not a str or path-like.
        FileReadError: ``"<what> <path> does not exist"``, ``"... is a directory"``,
            ``"... is empty"``, ``"... is not UTF-8 text (...)"``, or
            ``"could not read <what> <path>: permission denied (EACCES)"``.

    Example:
        >>> read_text("/no/such/result.json", what="result file")
        Traceback (most recent call last):
        ...
        cyclr._files.FileMissingError: result file /no/such/result.json does not exist
        >>> read_text(os.devnull)
        Traceback (most recent call last):
        ...
        cyclr._files.FileReadError: file /dev/null is empty
    """
    source = _check_path(path)
    label = f"{what} {source}"
    try:
        with open(source, "rb") as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise _error(FileMissingError, f"{label} does not exist", source, exc.errno) from None
    except IsADirectoryError as exc:
        raise _read_error(f"{label} is a directory", source, exc.errno) from None
    except OSError as exc:
        if os.path.isdir(source):  # Windows: PermissionError for a directory
            raise _read_error(f"{label} is a directory", source, errno.EISDIR) from None
        message = f"could not read {label}: {_cause(exc.errno, str(exc))}"
        raise _read_error(message, source, exc.errno) from None
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if codec == "utf-8-sig" else encoding
        bad = data[exc.start : exc.start + 1].hex()
        message = f"{label} is not {name} text (byte 0x{bad} at position {exc.start})"
        raise _read_error(message, source, None) from None
    if not text.strip():
        raise _read_error(f"{label} is empty", source, None)
    return text


def _read_error(message: str, path: str, code: int | None) -> FileReadError:
    return _error(FileReadError, message, path, code)
