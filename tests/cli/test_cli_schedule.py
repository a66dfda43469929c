"""``cyclr schedule``: terminal preview, exact CSV, PNG, and no torch needed."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclr import ExpRange, OneCycle, Triangular2
from cyclr.cli import main

TRI2 = [
    "schedule",
    "triangular2",
    "--base-lr",
    "0.001",
    "--max-lr",
    "0.006",
    "--step-size-up",
    "2000",
]


def test_preview_draws_the_curve_and_summarises_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(TRI2) == 0
    out = capsys.readouterr().out
    assert "triangular2 learning rate" in out
    assert "┤" in out and "└" in out  # plotext's frame: a real terminal plot
    assert "0.0060" in out and "0.0010" in out  # the y ticks span the bounds
    assert "Triangular2(base_lr=0.001, max_lr=0.006, step_size_up=2000" in out
    assert "3 whole cycles end back at base_lr" in out


def test_preview_warns_when_the_run_ends_mid_cycle(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TRI2, "--steps", "5000"]) == 0
    assert "stop training at a multiple of 4,000 steps" in capsys.readouterr().out


def test_csv_file_holds_the_exact_schedule(tmp_path: Path) -> None:
    path = tmp_path / "lr.csv"
    assert main([*TRI2, "--steps", "12000", "--csv", str(path)]) == 0
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step", "lr"]
    steps = np.array([int(r[0]) for r in rows[1:]])
    lrs = np.array([float(r[1]) for r in rows[1:]])
    np.testing.assert_array_equal(steps, np.arange(12000))
    np.testing.assert_array_equal(lrs, Triangular2(0.001, 0.006, step_size_up=2000)(steps))
    # golden values of METHOD.md (torch CyclicLR, triangular2)
    assert lrs[5000] == pytest.approx(0.00225, rel=1e-12)
    assert lrs[6000] == pytest.approx(0.0035, rel=1e-12)


def test_csv_to_stdout_prints_only_csv(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["schedule", "onecycle", "--max-lr", "0.1", "--total-steps", "100", "--csv", "-"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "step,lr" and len(lines) == 101
    expected = OneCycle(0.1, 100)
    assert [float(line.split(",")[1]) for line in lines[1:]] == [expected(i) for i in range(100)]


@pytest.mark.parametrize(
    "argv",
    [
        [
            "exp_range",
            "--base-lr",
            "0.001",
            "--max-lr",
            "0.006",
            "--step-size-up",
            "200",
            "--gamma",
            "0.999",
        ],
        [
            "onecycle",
            "--max-lr",
            "0.1",
            "--total-steps",
            "1000",
            "--three-phase",
            "--anneal",
            "linear",
        ],
        [
            "triangular",
            "--base-lr",
            "0.01",
            "--max-lr",
            "0.1",
            "--step-size-up",
            "30",
            "--step-size-down",
            "90",
        ],
    ],
    ids=["exp_range", "onecycle-three-phase", "triangular-asymmetric"],
)
def test_png_decodes(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lr.png"
    assert main(["schedule", *argv, "--out", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        assert image.width > 300 and image.height > 200


def test_schedule_command_loads_neither_torch_nor_matplotlib() -> None:
    code = (
        "import sys\n"
        "from cyclr.cli import main\n"
        "main(['schedule', 'triangular', '--base-lr', '0.01', '--max-lr', '0.1', "
        "'--step-size-up', '10'])\n"
        "print('LOADED', sorted(m for m in ('torch', 'matplotlib', 'tqdm') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "LOADED []"


def test_exp_range_without_gamma_uses_smiths_decay_per_half_cycle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["schedule", "exp_range", "--base-lr", "0.001", "--max-lr", "0.006"]
    argv += ["--step-size-up", "50", "--steps", "200", "--csv", "-"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = ExpRange(0.001, 0.006, 50, gamma=0.99994 ** (2000 / 50))
    assert [float(line.split(",")[1]) for line in lines[1:]] == [expected(i) for i in range(200)]
