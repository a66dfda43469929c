"""What every ``cyclr`` command shares: the user error, number formats, paths, results.

User errors (a bad number, a missing or corrupt file, an output the command cannot
write) are :class:`CliError`: printed as one line, ``cyclr: error: ...``, exit status 2.
Every output path is checked before any work is done.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .._validate import MAX_EXACT_INT

if TYPE_CHECKING:
    from ..rangetest import RangeTestResult

__all__ = [
    "EXIT_USAGE",
    "CliError",
    "Parser",
    "add_command",
    "check_distinct",
    "check_figure_out",
    "check_writable",
    "fmt",
    "given_path",
    "load_result",
    "positive_int",
    "seed_int",
    "write_failed",
    "wrote",
]

EXIT_USAGE = 2
"""Exit status of a user error (argparse's convention)."""


class CliError(Exception):
    """A user error: printed as one ``cyclr: error: ...`` line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming the help to read."""

    def error(self, message: str) -> NoReturn:
        """Raise :class:`CliError` instead of printing the usage and exiting."""
        raise CliError(f"{message} (see '{self.prog} --help')")


def add_command(
    commands: Any, name: str, summary: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """Add one sub-command with its one-line summary, description and examples."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def positive_int(text: str) -> int:
    """An argparse type: a positive integer written in decimal digits, at most ``2**53``.

    Digits only (no sign, spaces or underscores, which Python's ``int`` would take), and
    no larger than a float64 counts exactly.

    Example:
        >>> positive_int("391")
        391
    """
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text!r})")
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text})")
    if value > MAX_EXACT_INT:
        raise argparse.ArgumentTypeError(f"must be at most 2**53 = {MAX_EXACT_INT} (got {text})")
    return value


def seed_int(text: str) -> int:
    """An argparse type: a seed, an integer from 0 to ``2**64 - 1`` in decimal digits.

    Example:
        >>> seed_int("0")
        0
    """
    if not (text.isascii() and text.isdigit()) or int(text) >= 2**64:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**64 - 1 (got {text!r})")
    return int(text)


def given_path(text: str, flag: str) -> Path:
    """``text`` as a path, refusing the empty string (``Path("")`` would be the folder ``.``)."""
    if not text:
        raise CliError(f"{flag} must name a file (got {flag} '')")
    return Path(text)


def fmt(value: float) -> str:
    """Format a learning rate with four significant digits.

    Example:
        >>> fmt(0.0123456)
        '0.01235'
    """
    return f"{value:.4g}"


def check_writable(path: Path, flag: str) -> Path:
    """Refuse an output path that cannot be a new or replaced file, before any work."""
    if path.is_dir():
        raise CliError(f"{flag} must be a file, not a folder (got {flag} {str(path)!r})")
    from .._files import is_special_file

    if is_special_file(path):  # /dev/null, /dev/stdout, a FIFO: written into
        return path
    parent = path.parent
    if not parent.is_dir():
        raise CliError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise CliError(f"cannot write {str(path)!r}: folder {str(parent)!r} is not writable")
    return path


def check_figure_out(path: str, flag: str = "--out") -> Path:
    """Refuse a figure path whose type cannot be written, before any work."""
    from ..plot import check_figure_path

    target = check_writable(given_path(path, flag), flag)
    try:
        return check_figure_path(target, flag)
    except ValueError as exc:
        raise CliError(str(exc).replace(f"(got {flag}=", f"(got {flag} ")) from None


def check_distinct(**paths: Path | None) -> None:
    """Refuse two flags naming the same file (``--out x.png --csv x.png``)."""
    seen: dict[str, str] = {}
    for flag, path in paths.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        name = flag if flag.isupper() else "--" + flag.replace("_", "-")  # a positional: RESULT
        if key in seen:
            raise CliError(f"{seen[key]} and {name} name the same file (got {str(path)!r})")
        seen[key] = name


def write_failed(path: Path, exc: OSError) -> CliError:
    """The error for a file that could not be written, naming the path once."""
    from .._files import FileWriteError

    if isinstance(exc, FileWriteError):  # its message names the path and the cause
        return CliError(str(exc))
    return CliError(f"cannot write {str(path)!r}: {exc.strerror or exc}")


def wrote(path: Path) -> None:
    """Say that a file was written."""
    print(f"wrote {path}")


def _reason(exc: Exception) -> str:
    """The error's message without the "JSON text ..." prefix the text readers add."""
    text = str(exc)
    for prefix in ("JSON text is not a valid range-test result: ", "JSON text: ", "CSV text: "):
        text = text.removeprefix(prefix)
    return text


def load_result(path: str) -> RangeTestResult:
    """Read a saved range test, JSON or CSV by content, every failure one :class:`CliError`.

    Args:
        path: A file written by ``RangeTestResult.to_json`` or ``to_csv``.

    Returns:
        The result.

    Raises:
        CliError: If the file is missing, a folder, empty, not UTF-8 text, neither
            format, malformed, or holds no steps.
    """
    from .._files import read_text
    from ..rangetest import RangeTestResult

    try:
        text = read_text(path, what="range-test result")
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    head = text.lstrip()
    try:
        if head.startswith(("{", "[")):
            result = RangeTestResult.from_json_text(text)
        elif head.startswith("step,"):
            result = RangeTestResult.from_csv_text(text)
        else:
            raise ValueError(
                "it is neither JSON (RangeTestResult.to_json) nor CSV (RangeTestResult.to_csv)"
            )
    except (TypeError, ValueError) as exc:
        raise CliError(f"{path!r} is not a valid cyclr range-test result: {_reason(exc)}") from None
    if result.num_recorded == 0:
        raise CliError(f"range-test result {path!r} has no steps: the test recorded nothing")
    return result
