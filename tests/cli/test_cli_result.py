"""``cyclr suggest`` and ``cyclr plot`` on a saved range test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from PIL import Image

from cyclr import OneCycle, Triangular2
from cyclr.cli import main, report, snippet
from cyclr.rangetest import METHODS, RangeTestResult


def _pasted_code(out: str) -> str:
    """The indented block printed after 'paste into your training script:'."""
    block = out.split("paste into your training script:\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_suggest_prints_every_method_bounds_and_a_working_snippet(
    result_json: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["suggest", str(result_json), "--steps-per-epoch", "50"]) == 0
    out = capsys.readouterr().out
    result = RangeTestResult.from_json(result_json)
    for method, suggestion in result.suggestions().items():
        assert f"{method}" in out
        assert f"{suggestion.lr:.4g}" in out
    assert set(result.suggestions()) == set(METHODS)
    base_lr, max_lr = result.clr_bounds()
    assert f"CLR bounds: base_lr={base_lr:.4g}, max_lr={max_lr:.4g}" in out

    namespace: dict[str, object] = {}
    exec(_pasted_code(out), namespace)
    schedule, one_cycle = namespace["schedule"], namespace["one_cycle"]
    assert isinstance(schedule, Triangular2) and isinstance(one_cycle, OneCycle)
    assert schedule.base_lr == pytest.approx(base_lr, rel=1e-3)
    assert schedule.max_lr == pytest.approx(max_lr, rel=1e-3)
    assert schedule.step_size_up == 200  # 4 epochs of 50 steps
    assert one_cycle(0) == pytest.approx(base_lr, rel=1e-3)  # one-cycle starts at base_lr


def test_suggest_explains_a_curve_without_evidence(
    flat_result_json: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["suggest", str(flat_result_json)]) == 0
    out = capsys.readouterr().out
    for method in METHODS:
        assert f"{method}" in out
    assert out.count("none: ") == len(METHODS) + 1  # every rule and the bounds say why not
    assert "paste into" not in out


def test_plot_draws_in_the_terminal_and_writes_a_png(
    result_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "curve.png"
    assert main(["plot", str(result_json), "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "LR range test" in out
    assert "1e-6" in out and "1e0" in out  # decade ticks of the log-LR axis
    assert "CLR bounds: base_lr=" in out
    with Image.open(png) as image:
        image.load()
        assert image.format == "PNG" and image.width > 300


def test_report_and_snippet_agree(result_json: Path) -> None:
    result = RangeTestResult.from_json(result_json)
    lines = report(result)
    base_lr, max_lr = result.clr_bounds()
    code = snippet(base_lr, max_lr)
    assert all(("    " + line if line else "") in lines for line in code.splitlines())


@pytest.mark.parametrize(
    "argv", [["suggest"], ["plot"], ["plot", "--out", "{tmp}/curve.png"]], ids=str
)
def test_one_command_fits_the_curve_once(
    argv: list[str], result_json: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cyclr.rangetest.reading as reading

    calls: list[int] = []
    real = reading.fit_curve

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reading, "fit_curve", counting)
    args = [a.replace("{tmp}", str(result_json.parent)) for a in argv]
    assert main([args[0], str(result_json), *args[1:]]) == 0
    assert len(calls) == 1


def test_a_confirmed_result_lists_its_confirmation_first_as_the_default(
    result_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    from cyclr.rangetest.confirm import Confirmation

    plain = RangeTestResult.from_json(result_json)
    anchor = plain.suggest().lr
    candidates = (anchor / 2, anchor, anchor * 2)
    confirmation = Confirmation(anchor / 2, anchor, candidates, (0.4, 0.5, float("inf")), 40, 90)
    path = tmp_path / "confirmed.json"
    dataclasses.replace(plain, confirmation=confirmation).to_json(path)
    assert main(["suggest", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("confirmed"))
    assert first == 3 and lines[first].endswith("(default)")
    assert lines[1].startswith("confirmation: 3 candidates around")
    assert "40 training steps each" in out
    assert "the LR is the best-scoring candidate" in lines[1]  # two finite scores: no vertex
    assert "bottom" in out and "(default)" not in out.split("bottom", 1)[1].split("\n")[0]
    assert "scores=[0.4, 0.5, diverged]" in lines[first + 1]
    _, peak = confirmation.bounds()
    assert f"max_lr={peak:.4g}" in out
