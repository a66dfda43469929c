"""Every command answers ``--help`` with a description and worked examples."""

from __future__ import annotations

import pytest

from cyclr.cli import main

COMMANDS = ["", "demo", "schedule", "plot", "suggest"]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "cyclr")
def test_help_shows_usage_and_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [command, "--help"] if command else ["--help"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: cyclr {command}".rstrip())
    assert "examples:" in out
    # every example line runs a real command of this program
    examples = out.split("examples:", 1)[1]
    assert f"cyclr {command}".rstrip() in examples


def test_python_dash_m_help_and_version(run_cyclr) -> None:
    help_run = run_cyclr("--help")
    assert help_run.returncode == 0
    assert "schedule" in help_run.stdout and "suggest" in help_run.stdout
    version = run_cyclr("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("cyclr ")
