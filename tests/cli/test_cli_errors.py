"""User errors print one line, ``cyclr: error: ...``, and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    ("zero-steps", [*TRI, "--steps", "0"], "--steps must be a positive integer"),
    ("missing-base-lr", ["schedule", "triangular", "--max-lr", "0.1"], "needs --base-lr"),
    ("missing-max-lr", ["schedule", "triangular", "--base-lr", "0.1"], "--max-lr"),
    ("missing-gamma", ["schedule", "exp_range", "--base-lr", "0.1", "--max-lr", "1"], "--gamma"),
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
    ("missing-file", ["suggest", "{tmp}/missing.json"], "no such file"),
    ("folder-as-file", ["plot", "{tmp}"], "is a folder"),
    ("empty-file", ["suggest", "{tmp}/empty.json"], "is empty"),
    ("corrupt-json", ["suggest", "{tmp}/truncated.json"], "not valid JSON"),
    ("not-a-result", ["plot", "{tmp}/other.json"], "not a cyclr range-test result"),
    ("no-result-argument", ["plot"], "required: RESULT.json"),
    ("bad-steps-per-epoch", ["suggest", "{tmp}/x.json", "--steps-per-epoch", "x"], "invalid int"),
    ("unknown-task", ["demo", "--task", "imagenet"], "invalid choice: 'imagenet'"),
    ("zero-threads", ["demo", "--threads", "0"], "--threads must be a positive integer"),
    ("demo-out-is-file", ["demo", "--out", "{tmp}/other.json"], "--out must be a folder"),
]


@pytest.fixture
def workdir(tmp_path: Path, result_json: Path) -> Path:
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "truncated.json").write_text(result_json.read_text()[:200])
    (tmp_path / "other.json").write_text('{"lrs": [1, 2, 3]}')
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


@pytest.mark.parametrize(
    "argv",
    [
        ["schedule", "triangular", "--base-lr", "0.1", "--max-lr", "0.01"],
        ["suggest", "{tmp}/truncated.json"],
        ["frobnicate"],
    ],
    ids=["bad-value", "corrupt-file", "unknown-command"],
)
def test_entry_point_exits_2_without_traceback(argv: list[str], workdir: Path, run_cyclr) -> None:
    done = run_cyclr(*(a.replace("{tmp}", str(workdir)) for a in argv))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("cyclr: error: ")
