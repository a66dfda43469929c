"""Result files, the command line and plots at their edges: cases found from outside."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from tests.cli.conftest import RunCyclr, synthetic_result

from cyclr import Triangular
from cyclr.cli.main import main
from cyclr.plot import plot_result, preview_steps
from cyclr.rangetest import RangeTestResult

TRI = ["schedule", "triangular", "--base-lr", "0.001", "--max-lr", "0.006", "--step-size-up", "20"]


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = synthetic_result()
    result.to_json(fifo)
    reader.join(timeout=30)
    assert fifo.is_fifo()  # still a FIFO: a rename would have made it a regular file
    assert RangeTestResult.from_json_text(received[0]) == result


def test_a_name_as_long_as_the_file_system_allows_is_written(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 245 + ".json")  # 250 bytes; the temporary name must fit too
    synthetic_result().to_json(path)
    assert RangeTestResult.from_json(path) == synthetic_result()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("name", ["[run 1] lr.json", "{exp} lr.json"])
def test_files_named_like_json_text_are_read_as_files(tmp_path: Path, name: str) -> None:
    synthetic_result().to_json(tmp_path / name)
    assert RangeTestResult.from_json(tmp_path / name) == synthetic_result()
    assert RangeTestResult.from_json(str(tmp_path / name)) == synthetic_result()


def test_numbers_a_file_cannot_hold_are_refused_not_coerced(tmp_path: Path) -> None:
    data = json.loads(synthetic_result().to_json())
    text = json.dumps(data).replace(json.dumps(data["losses"][5]), "1e400", 1)
    (tmp_path / "big.json").write_text(text)
    with pytest.raises(ValueError, match=r"the number 1e400 is beyond the range of float64"):
        RangeTestResult.from_json(tmp_path / "big.json")
    (tmp_path / "v.json").write_text(json.dumps({**data, "version": 1.0}))
    with pytest.raises(ValueError, match=r"schema version 1\.0"):
        RangeTestResult.from_json(tmp_path / "v.json")
    (tmp_path / "u.csv").write_text("step,lr,loss,smoothed\n0,1_0.0,1_5,2\n+1,0.5,1,1\n")
    with pytest.raises(ValueError, match=r"line 2 holds a value that is not a number"):
        RangeTestResult.from_csv(tmp_path / "u.csv")


def test_a_field_error_names_the_file(tmp_path: Path) -> None:
    data = json.loads(synthetic_result().to_json())
    data["lrs"][40][0] = -1.0
    (tmp_path / "edited.json").write_text(json.dumps(data))
    with pytest.raises(
        ValueError, match=r"file '.*edited\.json' is not a valid range-test result: lrs"
    ):
        RangeTestResult.from_json(tmp_path / "edited.json")


@pytest.mark.parametrize("big", [1e200, 1e300, 1.7e308])
def test_a_huge_finite_loss_is_read_without_overflow(big: float) -> None:
    base = synthetic_result()
    losses = base.losses.copy()
    losses[-1] = big
    curve = RangeTestResult(base.lrs, losses, losses, None, "diverged", {}, None)
    with np.errstate(over="raise"):
        curve.reading  # noqa: B018 - reading the curve is the test: no OverflowError
    # And a whole curve in huge units reads as it does in its own.
    scaled = base.losses * 2.0**900
    huge = RangeTestResult(base.lrs, scaled, scaled, None, "num_steps", {}, None)
    assert huge.suggest().lr == base.suggest().lr


def test_the_csv_on_stdout_and_a_figure_are_both_written(
    run_cyclr: RunCyclr, tmp_path: Path
) -> None:
    done = run_cyclr(*TRI, "--csv", "-", "--out", str(tmp_path / "y.png"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "step,lr" and "wrote" not in done.stdout
    assert (tmp_path / "y.png").stat().st_size > 0 and "wrote" in done.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*TRI, "--out", ""], "--out must name a file (got --out '')"),
        ([*TRI, "--csv", ""], "--csv must name a file (got --csv '')"),
        ([*TRI, "--steps", str(2**63 - 1)], "must be at most 2**53"),
        ([*TRI, "--steps", "1_0"], "must be a positive integer (got '1_0')"),
        ([*TRI, "--steps", " 10"], "must be a positive integer (got ' 10')"),
        (["demo", "--seed", str(2**64)], "must be an integer from 0 to 2**64 - 1"),
    ],
)
def test_arguments_python_would_coerce_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_full_disk_on_stdout_is_one_error_line(run_cyclr: RunCyclr, tmp_path: Path) -> None:
    synthetic_result().to_json(tmp_path / "lr.json")
    full = Path("/dev/full")
    if not full.exists():
        pytest.fail("this test needs /dev/full (Linux)")
    with full.open("w") as sink:
        import subprocess
        import sys

        done = subprocess.run(
            [sys.executable, "-m", "cyclr", "suggest", str(tmp_path / "lr.json")],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr.strip() == "cyclr: error: cannot write the output: No space left on device"


def test_plots_refuse_what_they_cannot_draw_on() -> None:
    with pytest.raises(TypeError, match=r"ax must be a matplotlib Axes or None \(got ax=Figure"):
        synthetic_result().plot(ax=Figure())
    with pytest.raises(TypeError, match=r"result must be a RangeTestResult"):
        plot_result({"lrs": [1.0]}, ax=Figure().subplots())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"points must be >= 2"):
        preview_steps(10, points=0)
    with pytest.raises(ValueError, match=r"steps must be positive"):
        preview_steps(-5, schedule=Triangular(0.1, 1.0, 5))


def test_dev_stdout_on_a_pipe_is_written_through() -> None:
    import subprocess
    import sys

    code = "from cyclr._files import atomic_write_text; atomic_write_text('/dev/stdout', 'x\\n')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "x\n", "")


def test_the_pasted_schedules_keep_the_param_groups_ratios(
    run_cyclr: RunCyclr, tmp_path: Path
) -> None:
    import textwrap
    import warnings

    import torch

    from cyclr.rangetest.confirmation import Confirmation
    from cyclr.torch import Scheduler

    base = synthetic_result()
    confirmation = Confirmation(0.02, 0.02, (0.01, 0.02, 0.04), (0.6, 0.5, 0.9), 40, 120)
    settings = {"group_scales": [1.0, 0.1]}
    grouped = RangeTestResult(
        base.lrs, base.losses, base.smoothed, None, "num_steps", settings, 1.0, confirmation
    )
    grouped.to_json(tmp_path / "lr.json")
    done = run_cyclr("suggest", str(tmp_path / "lr.json"), "--total-steps", "1000",
                     "--steps-per-epoch", "50")  # fmt: skip
    assert done.returncode == 0, done.stderr
    namespace: dict[str, object] = {}
    exec(textwrap.dedent(done.stdout.split("paste into your training script:\n", 1)[1]), namespace)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[1].parameters(), "lr": 0.01}], lr=0.1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no flattening warning: one schedule per group
        Scheduler(optimizer, namespace["schedule"])  # type: ignore[arg-type]
    first, second = (group["lr"] for group in optimizer.param_groups)
    assert second == pytest.approx(0.1 * first, rel=1e-12)
