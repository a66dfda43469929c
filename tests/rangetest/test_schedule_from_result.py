"""``result.schedule`` / ``group_schedules`` as a user calls them: overrides, run lengths
that fit no cycle, param groups, and warnings that name the caller's line once."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from cyclr import ExpRange, OneCycle, Triangular, Triangular2
from cyclr.plot import preview_steps
from cyclr.rangetest import RangeTestResult
from cyclr.rangetest.confirmation import Confirmation
from cyclr.rangetest.plan import fit_cycles

LRS = np.logspace(-5, 0, 60)
LOSSES = 1 - np.tanh(np.log10(LRS) + 3)


def _curve(**settings: object) -> RangeTestResult:
    return RangeTestResult(LRS, LOSSES, LOSSES, None, "num_steps", dict(settings), None)


def _overfitting() -> Confirmation:
    """Two of four candidates' held-out losses turn up inside the window."""
    held = ((0.9, 0.8, 0.7, 0.6), (0.8, 0.6, 0.5, 0.45), (0.5, 0.6, 0.7, 0.8), (0.4, 0.6, 0.8, 0.9))
    scores = (0.5, 0.45, 0.4, 0.6)
    return Confirmation(0.04, 0.04, (0.01, 0.02, 0.04, 0.08), scores, 40, 160, held, start_loss=1.0)


@pytest.mark.parametrize(
    ("kind", "word"),
    [("triangular", "foo"), ("exp_range", "pct_start"), ("onecycle", "gamma")],
)
def test_an_override_the_kind_does_not_take_is_named_with_what_it_takes(
    kind: str, word: str
) -> None:
    with pytest.raises(
        TypeError, match=rf"kind='{kind}' takes no argument {word} \(got {word}=1\); it takes"
    ):
        _curve().schedule(kind, 100, total_steps=1000, **{word: 1})


def test_onecycle_takes_base_lr_as_its_start() -> None:
    schedule = _curve().schedule("onecycle", 100, total_steps=1000, base_lr=1e-4)
    assert isinstance(schedule, OneCycle)
    assert schedule.max_lr / schedule.div_factor == pytest.approx(1e-4, rel=1e-12)
    assert schedule(0) == pytest.approx(1e-4, rel=1e-12)
    with pytest.raises(ValueError, match=r"pass base_lr or div_factor, not both"):
        _curve().schedule("onecycle", 100, total_steps=1000, base_lr=1e-4, div_factor=4.0)


@pytest.mark.parametrize("kind", ["triangular", "onecycle"])
def test_a_max_lr_below_the_base_names_both_bounds(kind: str) -> None:
    base, _ = _curve().clr_bounds()
    with pytest.raises(
        ValueError,
        match=rf"max_lr must be greater than base_lr \(got base_lr={re.escape(repr(base))}, "
        r"max_lr=1e-06\)",
    ):
        _curve().schedule(kind, 100, total_steps=1000, max_lr=1e-6)


@pytest.mark.parametrize(("total", "spe"), [(1031, 32), (997, 20), (4099, 100)])
def test_a_run_that_fits_no_cycle_is_offered_the_nearest_lengths_that_do(
    total: int, spe: int
) -> None:
    with pytest.raises(ValueError, match=r"runs of (\d+) or (\d+) steps do") as caught:
        fit_cycles(total, spe, 4.0)
    below, above = (int(v) for v in re.findall(r"runs of (\d+) or (\d+)", str(caught.value))[0])
    assert below < total < above
    for fitting in (below, above):
        fit_cycles(fitting, spe, 4.0)  # both fit
    for between in [*range(below + 1, total), *range(total + 1, above)]:
        with pytest.raises(ValueError):
            fit_cycles(between, spe, 4.0)


def test_a_run_shorter_than_one_given_cycle_names_one_length() -> None:
    with pytest.raises(ValueError, match=r"\(got total_steps=100; nearest: 256\)$"):
        _curve().schedule("triangular", 32, total_steps=100, step_size_up=128)


def test_group_schedules_keep_the_ratio_each_group_was_swept_at() -> None:
    result = _curve(group_scales=[1.0, 10.0, 0.25])
    for kind, options in (
        ("triangular2", {}),
        ("exp_range", {}),
        ("onecycle", {"total_steps": 800}),
    ):
        schedules = result.group_schedules(kind, 100, **options)
        assert schedules[0] == result.schedule(kind, 100, **options)
        steps = np.arange(800)
        for schedule, scale in zip(schedules, (1.0, 10.0, 0.25), strict=True):
            assert np.allclose(schedule(steps), scale * schedules[0](steps), rtol=1e-12, atol=0)
    assert len(_curve().group_schedules("triangular", 100)) == 1


def test_a_short_run_warns_once_at_the_callers_line_with_a_confirmation() -> None:
    confirmation = _overfitting()
    result = RangeTestResult(LRS, LOSSES, LOSSES, None, "num_steps", {}, None, confirmation)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result.schedule("triangular", 32, total_steps=100)  # scaled to the run: built twice
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name]
    assert "shorter than two half cycles" in str(caught[0].message)


@pytest.mark.parametrize(
    "schedule",
    [
        OneCycle(max_lr=np.float32(0.1), total_steps=np.int64(10) * np.int64(100)),
        Triangular(np.float32(0.01), np.float64(0.1), np.int32(5), np.int64(7)),
        Triangular2(np.float64(0.01), np.float64(0.1), np.int16(5)),
        ExpRange(np.float64(0.01), np.float64(0.1), np.int64(5), gamma=np.float64(0.99)),
    ],
)
def test_numpy_arguments_are_kept_as_plain_python_numbers(schedule: object) -> None:
    saved = schedule.to_dict()  # type: ignore[attr-defined]
    assert json.loads(json.dumps(saved)) == saved
    assert all(type(v) in (int, float, str, bool, type(None)) for v in saved.values())


def test_a_preview_of_many_short_cycles_draws_their_whole_swing() -> None:
    schedule = Triangular(0.01, 0.1, 5)  # 10-step cycles: even samples every ~10 steps alias
    plain = schedule(preview_steps(199_991))
    assert plain.max() == plain.min() == 0.01  # what aliasing looked like
    shown = schedule(preview_steps(199_991, schedule=schedule))
    assert shown.min() == 0.01 and shown.max() == pytest.approx(0.1, rel=1e-12)
    slow = Triangular(0.01, 0.1, 5_000)  # cycles longer than two spacings: samples only
    assert np.array_equal(preview_steps(199_991, schedule=slow), preview_steps(199_991))


@pytest.mark.parametrize(
    ("base", "error", "message"),
    [
        (0, ValueError, r"base_lr must be positive"),
        ("0.001", TypeError, r"base_lr must be"),
        (-0.01, ValueError, r"base_lr must be positive"),
        (1e-320, ValueError, r"base_lr is too small for max_lr.*base_lr=1e-320"),
    ],
)
def test_a_bad_onecycle_base_lr_is_named(base: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        _curve().schedule("onecycle", 100, total_steps=1000, base_lr=base)


def test_bounds_scaled_to_the_run_are_the_schedule_times_a_factor() -> None:
    confirmation = _overfitting()
    result = RangeTestResult(LRS, LOSSES, LOSSES, None, "num_steps", {}, None, confirmation)
    plain = confirmation.schedule("triangular2", 8, total_steps=320)
    fitted = result.schedule("triangular2", 8, total_steps=320)
    factor = fitted.max_lr / plain.max_lr  # type: ignore[attr-defined]
    assert factor < 1.0  # the candidates overfit: scaled down
    steps = np.arange(320)
    assert np.allclose(fitted(steps), factor * plain(steps), rtol=1e-12, atol=0)


def test_batches_are_named_as_the_caller_passed_them() -> None:
    from cyclr._batches import BatchStream

    class Once:
        passes = 0

        def __iter__(self):  # type: ignore[no-untyped-def]
            self.passes += 1
            return iter([1, 2] if self.passes == 1 else [])

    stream = BatchStream(Once(), fewer="steps", name="batches")
    with pytest.raises(ValueError, match=r"^batches must yield at least one batch \(got batches"):
        for _ in range(5):
            stream.next()
