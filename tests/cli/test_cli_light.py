"""The light commands (schedule, plot, suggest) run without torch; the demo names its extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BLOCK = """
import sys
for name in ("torch", "tqdm", "mnist1d", "sklearn"):
    sys.modules[name] = None  # any import of them fails, as if not installed
from cyclr.cli import main
status = main(sys.argv[1:])
assert "torch" not in sys.modules or sys.modules["torch"] is None
raise SystemExit(status)
"""


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK, *argv], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "argv",
    [
        [
            "schedule",
            "triangular2",
            "--base-lr",
            "0.001",
            "--max-lr",
            "0.01",
            "--csv",
            "{tmp}/a.csv",
        ],
        ["schedule", "onecycle", "--max-lr", "0.1", "--total-steps", "500", "--out", "{tmp}/a.png"],
        ["suggest", "{json}"],
        ["plot", "{json}", "--out", "{tmp}/curve.png"],
    ],
    ids=["schedule-csv", "schedule-png", "suggest", "plot-png"],
)
def test_light_commands_run_without_torch(
    argv: list[str], tmp_path: Path, result_json: Path
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)).replace("{json}", str(result_json)) for a in argv]
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout or "suggestions" in done.stdout


def test_demo_without_torch_names_the_extra(tmp_path: Path) -> None:
    done = _run("demo", "--quick", "--out", str(tmp_path / "d"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "cyclr: error: cyclr demo needs PyTorch, tqdm, mnist1d, which are not installed: "
        "pip install 'cyclr[demo]'"
    ]
