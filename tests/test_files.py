"""cyclr._files: atomic writes survive kills, full disks and concurrent readers."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cyclr._files as files
from cyclr._files import (
    FileReadError,
    FileWriteError,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    os_error_in,
    read_text,
    write_error,
)
from cyclr.errors import CyclrError

SRC = str(Path(__file__).resolve().parents[1] / "src")
OLD = '{"old": true}'


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ------------------------------------------------------------------- writing
def test_text_bytes_and_streams_replace_the_file_and_leave_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    atomic_write_text(target, OLD)
    assert target.read_text() == OLD
    atomic_write_bytes(str(target), b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    with atomic_writer(target, newline="") as f:
        f.write("a,b\r\n")
    assert target.read_bytes() == b"a,b\r\n"
    assert _leftovers(tmp_path) == []


@settings(max_examples=25, deadline=None)
@given(text=st.text(), data=st.binary())
def test_what_is_written_is_read_back_exactly(
    tmp_path_factory: Any, text: str, data: bytes
) -> None:
    directory = tmp_path_factory.mktemp("roundtrip")
    atomic_write_text(directory / "t.txt", text, newline="")
    with open(directory / "t.txt", encoding="utf-8", newline="") as f:
        assert f.read() == text
    atomic_write_bytes(directory / "b.bin", data)
    assert (directory / "b.bin").read_bytes() == data


def test_permission_bits_of_the_old_file_are_kept_and_new_files_follow_the_umask(
    tmp_path: Path,
) -> None:
    target = tmp_path / "kept.json"
    target.write_text(OLD)
    target.chmod(0o640)
    atomic_write_text(target, "{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    umask = os.umask(0o022)
    os.umask(umask)
    atomic_write_text(tmp_path / "new.json", "{}")
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o666 & ~umask


def test_a_symlink_stays_a_link_to_the_new_contents(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(OLD)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write_text(link, "{}")
    assert link.is_symlink() and real.read_text() == "{}"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device (ENOSPC)"),
        (OSError(errno.EFBIG, "File too large"), "file too large (EFBIG)"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied (EACCES)"),
    ],
    ids=["ENOSPC", "EFBIG", "EACCES"],
)
def test_an_os_error_mid_write_is_named_and_the_old_file_is_intact(
    tmp_path: Path, error: OSError, expected: str
) -> None:
    target = tmp_path / "result.json"
    target.write_text(OLD)
    with pytest.raises(FileWriteError) as info, atomic_writer(target) as f:
        f.write("{partial")
        raise error
    assert str(info.value) == f"could not write {target}: {expected}"
    assert isinstance(info.value, OSError) and isinstance(info.value, CyclrError)
    assert info.value.errno == error.errno and info.value.filename == str(target)
    assert info.value.__cause__ is error
    assert target.read_text() == OLD and _leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, TypeError], ids=["interrupt", "TypeError"])
def test_other_errors_mid_write_propagate_unchanged_and_clean_up(
    tmp_path: Path, error: type[BaseException]
) -> None:
    target = tmp_path / "result.json"
    target.write_text(OLD)
    with pytest.raises(error), atomic_writer(target, "wb") as f:
        f.write(b"x" * 100_000)
        raise error()
    assert target.read_text() == OLD and _leftovers(tmp_path) == []


def test_refusals_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileWriteError, match=r"^'path' is a directory \(got path=") as info:
        atomic_write_text(tmp_path, "{}")
    assert info.value.errno == errno.EISDIR
    missing = tmp_path / "no" / "result.json"
    with pytest.raises(FileWriteError, match=r"its directory .*no does not exist"):
        atomic_write_text(missing, "{}")
    (tmp_path / "file").write_text("")
    with pytest.raises(FileWriteError, match="file is not a directory"):
        atomic_write_bytes(tmp_path / "file" / "x", b"")
    with pytest.raises(ValueError, match=r"'mode' must be 'w' or 'wb' \(got mode='a'\)"):
        atomic_writer(tmp_path / "x", "a")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"'path' must be a str or os.PathLike \(got path=3\)"):
        atomic_write_text(3, "{}")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'path' must not be empty"):
        atomic_write_text("", "{}")
    with pytest.raises(TypeError, match="'text' must be a str"):
        atomic_write_text(tmp_path / "x", b"{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'data' must be bytes-like"):
        atomic_write_bytes(tmp_path / "x", "{}")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_the_os_error_behind_a_library_error_is_found() -> None:
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise disk_full
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672]") from None
    except RuntimeError as exc:
        wrapped = exc
    assert os_error_in(wrapped) is disk_full
    assert os_error_in(RuntimeError("no file involved")) is None
    assert str(write_error("/x", RuntimeError("boom"))) == "could not write /x: RuntimeError: boom"


# ------------------------------------------------- real failures, in processes
def test_file_too_large_under_rlimit_fsize_is_named_and_leaves_no_trace(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text(OLD)
    proc = _python(
        """
        import json, resource, signal, sys
        from cyclr._files import FileWriteError, atomic_write_text
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            atomic_write_text(sys.argv[1], "[" + "1.0, " * 100_000 + "1.0]")
        except FileWriteError as exc:
            print(json.dumps([str(exc), exc.errno]))
        """,
        str(target),
    )
    out, err = proc.communicate(timeout=30)
    message, code = json.loads(out)
    assert message == f"could not write {target}: file too large (EFBIG)", err
    assert code == errno.EFBIG
    assert target.read_text() == OLD and _leftovers(tmp_path) == []


@pytest.mark.parametrize("moment", ["during_write", "before_replace"])
def test_sigkill_leaves_the_old_file_intact_and_readable(tmp_path: Path, moment: str) -> None:
    target = tmp_path / "result.json"
    target.write_text(OLD)
    proc = _python(
        """
        import os, sys, time
        from cyclr._files import atomic_writer
        real_replace = os.replace
        def paused_replace(a, b):
            print("replacing", flush=True)
            time.sleep(60)
            real_replace(a, b)
        if sys.argv[2] == "before_replace":
            os.replace = paused_replace
        with atomic_writer(sys.argv[1]) as f:
            f.write('{"new": [')
            f.flush()
            if sys.argv[2] == "during_write":
                print("writing", flush=True)
                while True:
                    f.write("1.0, " * 1000)
        """,
        str(target),
        moment,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() in ("writing", "replacing")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert json.loads(read_text(target)) == {"old": True}


def test_concurrent_writers_never_show_a_reader_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    atomic_write_text(target, json.dumps({"writer": -1, "values": []}))
    stop = tmp_path / "stop"
    writer = """
        import json, os, sys
        from cyclr._files import atomic_write_text
        me, target, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        n = 0
        while not os.path.exists(stop) and n < 2000:
            atomic_write_text(target, json.dumps({"writer": me, "values": [n] * (2000 + me)}))
            n += 1
            if n == 1:
                print("ready", flush=True)
        print(n, flush=True)
        """
    writers = [_python(writer, str(i), str(target), str(stop)) for i in range(2)]
    for w in writers:
        assert w.stdout is not None and w.stdout.readline().strip() == "ready"
    reader = _python(
        """
        import json, sys, time
        seen, bad = set(), 0
        for _ in range(300):
            with open(sys.argv[1], encoding="utf-8") as f:
                text = f.read()
            try:
                data = json.loads(text)
                seen.add(data["writer"])
                bad += len(data["values"]) not in (0, 2000, 2001)
            except ValueError:
                bad += 1
            time.sleep(0.001)
        print(json.dumps([bad, sorted(seen)]))
        """,
        str(target),
    )
    out, err = reader.communicate(timeout=60)
    stop.write_text("")
    writes = [int(w.communicate(timeout=60)[0].strip()) for w in writers]
    bad, seen = json.loads(out)
    assert bad == 0, err
    assert set(seen) & {0, 1} and min(writes) > 1  # the reads really overlapped the writes
    assert all(w.returncode == 0 for w in writers)
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------- reading
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "result file {p} does not exist"),
        (b"", "result file {p} is empty"),
        (b" \n\t", "result file {p} is empty"),
        (b'{"lr": "\xff"}', "result file {p} is not UTF-8 text (byte 0xff at position 8)"),
    ],
    ids=["missing", "empty", "whitespace", "not-utf8"],
)
def test_read_text_gives_one_clear_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FileReadError) as info:
        read_text(path, what="result file")
    assert str(info.value) == message.format(p=path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)


def test_read_text_refuses_a_directory_and_dev_null_and_names_permission_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileReadError, match=r"^file .* is a directory$"):
        read_text(tmp_path)
    with pytest.raises(FileReadError, match=f"^file {os.devnull} is empty$"):
        read_text(os.devnull)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(args[0]))

    monkeypatch.setattr(files, "open", denied, raising=False)  # root may read anything
    with pytest.raises(FileReadError) as info:
        read_text(tmp_path / "r.json", what="result file")
    assert str(info.value) == (
        f"could not read result file {tmp_path / 'r.json'}: permission denied (EACCES)"
    )
    assert info.value.errno == errno.EACCES


def test_read_text_drops_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf{}")
    assert read_text(tmp_path / "bom.json") == "{}"
