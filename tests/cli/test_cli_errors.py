"""User errors print one line, ``cyclr: error: ...``, and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cyclr import RangeTestResult
from cyclr.cli import main

TRI = ["schedule", "triangular", "--base-lr", "0.001", "--max-lr", "0.006"]

# (id, argv with {tmp} for a temporary folder, a phrase the message must contain)
CASES = [
    ("no-command", [], "a command is required"),
    ("unknown-command", ["bogus"], "invalid choice: 'bogus'"),
    ("unknown-kind", ["schedule", "sawtooth", "--max-lr", "1"], "invalid choice: 'sawtooth'"),
    ("bad-float", [*TRI[:2], "--base-lr", "abc", "--max-lr", "1"], "invalid float value: 'abc'"),
    ("bad-int", [*TRI, "--step-size-up", "1.5"], "invalid int value: '1.5'"),
    (
        "max-below-base",
        [*TRI[:2], "--base-lr", "0.1", "--max-lr", "0.01"],
        "max_lr must be greater",
    ),
    ("nan-lr", [*TRI[:2], "--base-lr", "0.001", "--max-lr", "nan"], "max_lr must be finite"),
    ("negative-step-size", [*TRI, "--step-size-up", "-5"], "step_size_up must be"),
    ("zero-steps", [*TRI, "--steps", "0"], "--steps: must be a positive integer"),
    ("missing-base-lr", ["schedule", "triangular", "--max-lr", "0.1"], "needs --base-lr"),
    ("missing-max-lr", ["schedule", "triangular", "--base-lr", "0.1"], "--max-lr"),
    ("gamma-not-exp", [*TRI, "--gamma", "0.99"], "--gamma applies only to exp_range"),
    ("onecycle-flag-on-cyclic", [*TRI, "--total-steps", "100"], "applies only to onecycle"),
    ("onecycle-no-total", ["schedule", "onecycle", "--max-lr", "0.1"], "needs --total-steps"),
    (
        "onecycle-base-lr",
        ["schedule", "onecycle", "--max-lr", "0.1", "--total-steps", "100", "--base-lr", "0.01"],
        "--base-lr does not apply to onecycle",
    ),
    (
        "onecycle-bad-pct",
        ["schedule", "onecycle", "--max-lr", "0.1", "--total-steps", "100", "--pct-start", "2"],
        "pct_start must be",
    ),
    ("png-into-missing-folder", [*TRI, "--out", "{tmp}/no/such/lr.png"], "does not exist"),
    ("csv-into-missing-folder", [*TRI, "--csv", "{tmp}/no/such/lr.csv"], "does not exist"),
    ("missing-file", ["suggest", "{tmp}/missing.json"], "does not exist"),
    ("folder-as-file", ["plot", "{tmp}"], "is a directory"),
    ("empty-file", ["suggest", "{tmp}/empty.json"], "is empty"),
    ("corrupt-json", ["suggest", "{tmp}/truncated.json"], "not valid JSON"),
    ("not-a-result", ["plot", "{tmp}/other.json"], "not a cyclr range-test result"),
    ("no-result-argument", ["plot"], "required: RESULT"),
    (
        "bad-steps-per-epoch",
        ["suggest", "{tmp}/x.json", "--steps-per-epoch", "x"],
        "--steps-per-epoch: must be a positive integer",
    ),
    ("unknown-task", ["demo", "--task", "imagenet"], "invalid choice: 'imagenet'"),
    ("zero-threads", ["demo", "--threads", "0"], "--threads: must be a positive integer"),
    ("demo-out-is-file", ["demo", "--out", "{tmp}/other.json"], "--out must be a folder"),
    ("demo-out-under-file", ["demo", "--out", "{tmp}/other.json/sub"], "is a file, not a folder"),
    ("out-is-folder", [*TRI, "--out", "{tmp}"], "--out must be a file, not a folder"),
    ("out-no-extension", [*TRI, "--out", "{tmp}/curve"], "--out must end in .png"),
    ("out-txt", [*TRI, "--out", "{tmp}/curve.txt"], "--out must end in .png"),
    ("out-jp2", ["plot", "{tmp}/lr.json", "--out", "{tmp}/curve.jp2"], "--out must end in .png"),
    ("out-is-input", ["plot", "{tmp}/lr.json", "--out", "{tmp}/lr.json"], "must end in .png"),
    ("out-equals-csv", [*TRI, "--out", "{tmp}/x.png", "--csv", "{tmp}/x.png"], "same file"),
    ("csv-is-folder", [*TRI, "--csv", "{tmp}"], "--csv must be a file, not a folder"),
    ("csv-too-long", [*TRI, "--steps", "1000000000000", "--csv", "-"], "at most 10,000,000"),
    ("steps-per-epoch-0", ["suggest", "{tmp}/lr.json", "--steps-per-epoch", "0"], "positive"),
    ("steps-per-epoch-neg", ["plot", "{tmp}/lr.json", "--steps-per-epoch", "-3"], "positive"),
    ("dev-null", ["suggest", "/dev/null"], "is empty"),
    ("not-utf8", ["suggest", "{tmp}/latin1.json"], "is not UTF-8 text"),
    ("zero-steps-result", ["suggest", "{tmp}/zero.json"], "has no steps"),
    ("deep-json", ["suggest", "{tmp}/deep.json"], "nested too deeply"),
    ("huge-int-json", ["plot", "{tmp}/digits.json"], "not a valid cyclr range-test result"),
    ("path-inside-file", ["suggest", "{tmp}/pointer.json"], "neither JSON"),
    ("bad-csv", ["suggest", "{tmp}/bad.csv"], "line 3 holds a value that is not a number"),
]


@pytest.fixture
def workdir(tmp_path: Path, result_json: Path) -> Path:
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "truncated.json").write_text(result_json.read_text()[:200])
    (tmp_path / "other.json").write_text('{"lrs": [1, 2, 3]}')
    (tmp_path / "latin1.json").write_bytes('{"caf\xe9": 1}'.encode("latin-1"))
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    text = result_json.read_text()
    (tmp_path / "digits.json").write_text(
        text.replace('"losses": [', '"losses": [' + "9" * 5000 + ", ", 1)
    )
    (tmp_path / "pointer.json").write_text(str(result_json))
    (tmp_path / "bad.csv").write_text("step,lr,loss,smoothed\n0,0.1,1.0,1.0\n1,x,1.0,1.0\n")
    empty = RangeTestResult(np.zeros((0, 1)), [], [], None, None, {}, None)
    empty.to_json(tmp_path / "zero.json")
    return tmp_path


@pytest.mark.parametrize(("argv", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_error_is_one_line_exit_2(
    argv: list[str], phrase: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([a.replace("{tmp}", str(workdir)) for a in argv])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("cyclr: error: ")
    assert phrase in lines[0]
    assert captured.out == ""


_SUBPROCESS = (
    "bad-value", "unknown-command", "corrupt-json", "out-txt", "out-is-folder", "dev-null",
    "not-utf8", "deep-json", "huge-int-json", "zero-steps-result", "csv-too-long",
    "demo-out-under-file", "path-inside-file", "bad-csv",
)  # fmt: skip
_BY_ID = {c[0]: c[1] for c in CASES} | {
    "bad-value": ["schedule", "triangular", "--base-lr", "0.1", "--max-lr", "0.01"],
    "unknown-command": ["frobnicate"],
}


@pytest.mark.parametrize("argv", [_BY_ID[i] for i in _SUBPROCESS], ids=_SUBPROCESS)
def test_entry_point_exits_2_without_traceback(argv: list[str], workdir: Path, run_cyclr) -> None:
    done = run_cyclr(*(a.replace("{tmp}", str(workdir)) for a in argv))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("cyclr: error: ")


@pytest.mark.parametrize("argv_kind", ["suggest", "plot"])
def test_a_csv_result_reads_like_its_json(
    argv_kind: str, result_json: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = result_json.with_suffix(".csv")
    RangeTestResult.from_json(result_json).to_csv(csv_path)
    assert main([argv_kind, str(result_json)]) == 0
    from_json = capsys.readouterr().out
    assert main([argv_kind, str(csv_path)]) == 0
    from_csv = capsys.readouterr().out
    keep = [line for line in from_json.splitlines() if "stopped:" not in line]
    assert keep == [line for line in from_csv.splitlines() if "stopped:" not in line]


def test_a_preview_of_a_trillion_steps_is_sampled(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TRI, "--step-size-up", "10000000000000"]) == 0
    out = capsys.readouterr().out
    assert "one cycle is 20,000,000,000,000 steps" in out
