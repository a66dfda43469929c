"""The sweep and the RangeTest state machine: LRs out, losses in, stop decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rangetest_curves import drive, falling, plateau_then_fall

from cyclr.rangetest import RangeTest, Sweep
from cyclr.rangetest.tracker import DIVERGE_WARMUP_STEPS

# -- sweep -------------------------------------------------------------------------------


def test_exp_sweep_is_the_formula_exactly() -> None:
    s = Sweep(1e-7, 10.0, 100)
    for i in (0, 1, 37, 99):
        assert s.lr_at(i) == 1e-7 * (10.0 / 1e-7) ** (i / 99)
    assert s.lr_at(0) == 1e-7
    assert s.lr_at(99) == pytest.approx(10.0, rel=1e-15)
    assert np.all(np.diff(np.log(s.lrs())) == pytest.approx(np.log(1e8) / 99, rel=1e-9))


def test_linear_sweep_is_the_formula_exactly() -> None:
    s = Sweep(0.001, 0.1, 11, kind="linear")
    assert [s.lr_at(i) for i in range(11)] == [0.001 + (0.1 - 0.001) * i / 10 for i in range(11)]
    assert s.lrs().tolist() == [s.lr_at(i) for i in range(11)]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start_lr": 0.0}, ValueError, "start_lr must be positive"),
        ({"start_lr": -1e-3}, ValueError, "start_lr must be positive"),
        ({"end_lr": math.inf}, ValueError, "end_lr must be finite"),
        ({"start_lr": math.nan}, ValueError, "start_lr must be finite"),
        ({"start_lr": 1.0, "end_lr": 1.0}, ValueError, "end_lr must be greater than start_lr"),
        ({"start_lr": 2.0, "end_lr": 1.0}, ValueError, r"got start_lr=2.0, end_lr=1.0"),
        ({"start_lr": "1e-3"}, TypeError, "start_lr must be a real number"),
        ({"num_steps": 1}, ValueError, "num_steps must be >= 2"),
        ({"num_steps": 100.0}, TypeError, "num_steps must be an integer"),
        ({"num_steps": True}, TypeError, "num_steps must be an integer"),
        ({"sweep": "log"}, ValueError, "sweep must be one of 'exp', 'linear'"),
        ({"smoothing": 1.0}, ValueError, r"smoothing must be in \[0, 1\)"),
        ({"smoothing": -0.1}, ValueError, r"smoothing must be in \[0, 1\)"),
        ({"smoothing": math.nan}, ValueError, "smoothing must be finite"),
        ({"diverge_factor": 1.0}, ValueError, "diverge_factor must be greater than 1"),
        ({"diverge_factor": math.inf}, ValueError, "diverge_factor must be finite"),
        ({"group_scales": ()}, ValueError, "group_scales must not be empty"),
        ({"group_scales": (1.0, 0.0)}, ValueError, r"group_scales\[1\] must be positive"),
        ({"group_scales": (1.0, math.nan)}, ValueError, r"group_scales\[1\] must be finite"),
        ({"group_scales": (0.5, 1.0)}, ValueError, r"group_scales\[0\] must be 1.0"),
        ({"group_scales": "1"}, TypeError, "group_scales must be a sequence"),
        ({"group_scales": 1.0}, TypeError, "group_scales must be a sequence"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(map(str, v.items())),
)
def test_every_argument_is_validated(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        RangeTest(**kwargs)  # type: ignore[arg-type]


def test_minimum_two_steps_runs() -> None:
    rt = RangeTest(1e-3, 1e-1, num_steps=2)
    seen = []
    for lr in rt:
        seen.append(lr)
        rt.record(1.0)
    assert seen == [1e-3, rt.lr_at(1)]
    assert seen[1] == pytest.approx(1e-1, rel=1e-15)
    assert rt.stop_reason == "num_steps"


# -- iteration and recording ---------------------------------------------------------------


def test_recorded_lr_is_the_yielded_lr_for_every_group() -> None:
    rt = RangeTest(1e-6, 1.0, 30, group_scales=(1.0, 0.1, 3.0))
    yielded = []
    for lr in rt:
        yielded.append(lr)
        assert lr == rt.lr_at(rt.num_recorded)
        rt.record(1.0)
    result = rt.result()
    assert result.lrs.shape == (30, 3)
    assert result.lrs[:, 0].tolist() == yielded
    for i, lr in enumerate(yielded):
        assert tuple(result.lrs[i]) == rt.lrs_at(i) == (lr, lr * 0.1, lr * 3.0)


def test_runs_to_num_steps_and_reports_it() -> None:
    rt = RangeTest(1e-4, 1e-1, 20)
    flags = [rt.record(1.0 + 1e-3 * math.sin(i)) for i, _ in enumerate(rt)]
    assert flags == [False] * 19 + [True]
    assert rt.finished and rt.stop_reason == "num_steps" and rt.num_recorded == 20
    assert list(rt) == []


def test_record_after_finish_is_a_clear_error() -> None:
    rt = RangeTest(1e-4, 1e-1, 5)
    rt.record_many([1.0] * 5)
    with pytest.raises(RuntimeError, match=r"has finished \(stop_reason='num_steps'"):
        rt.record(1.0)
    with pytest.raises(RuntimeError, match="has finished"):
        rt.record_many([1.0])
    assert rt.record_many([]) is True


def test_record_many_stops_at_the_first_stopping_loss_and_ignores_the_rest() -> None:
    rt = RangeTest(1e-4, 1e-1, 50)
    assert rt.record_many([1.0, 0.9]) is False
    assert rt.record_many([0.8, math.nan, 0.7, 0.6]) is True
    assert rt.num_recorded == 4 and rt.stop_reason == "non_finite"
    short = RangeTest(1e-4, 1e-1, 3)
    assert short.record_many([1.0] * 10) is True
    assert short.num_recorded == 3


def test_iteration_refuses_a_step_without_exactly_one_record() -> None:
    rt = RangeTest(1e-4, 1e-1, 10)
    it = iter(rt)
    next(it)
    with pytest.raises(RuntimeError, match="exactly once per step: step 0 got 0"):
        next(it)
    rt2 = RangeTest(1e-4, 1e-1, 10)
    it2 = iter(rt2)
    next(it2)
    rt2.record(1.0)
    rt2.record(1.0)
    with pytest.raises(RuntimeError, match="step 0 got 2"):
        next(it2)


def test_iteration_resumes_where_recording_stopped() -> None:
    rt = RangeTest(1e-4, 1e-1, 10)
    rt.record_many([1.0, 1.0, 1.0])
    assert next(iter(rt)) == rt.lr_at(3)


def test_losses_of_any_real_type_are_accepted_and_others_refused() -> None:
    rt = RangeTest(1e-4, 1e-1, 10)
    rt.record(np.float32(1.5))
    rt.record(np.array([2.5]))
    rt.record(3)
    assert rt.result().losses.tolist() == [1.5, 2.5, 3.0]
    with pytest.raises(TypeError, match="loss must be a real number"):
        rt.record("1.0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="loss must be a real number"):
        rt.record(True)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_stops_at_once_and_is_recorded_as_is(bad: float) -> None:
    rt = RangeTest(1e-4, 1e-1, 50)
    assert rt.record_many([1.0, 1.1]) is False
    assert rt.record(bad) is True
    result = rt.result()
    assert result.stop_reason == "non_finite"
    assert result.losses[2] == bad or (math.isnan(bad) and math.isnan(result.losses[2]))
    assert math.isnan(result.smoothed[2])
    assert result.num_recorded == 3


# -- smoothing -----------------------------------------------------------------------------


def test_smoothing_is_the_bias_corrected_ema_exactly() -> None:
    losses = [3.0, 1.0, 2.0, 5.0, 4.0, 0.5]
    rt = RangeTest(1e-4, 1e-1, 50, smoothing=0.9)
    rt.record_many(losses)
    avg, expected = 0.0, []
    for n, loss in enumerate(losses, start=1):
        avg = 0.9 * avg + (1 - 0.9) * loss
        expected.append(avg / (1 - 0.9**n))
    assert rt.result().smoothed.tolist() == expected
    assert expected[0] == pytest.approx(3.0, rel=1e-15)  # no start-up bias


def test_zero_smoothing_keeps_the_raw_losses() -> None:
    rt = RangeTest(1e-4, 1e-1, 50, smoothing=0.0)
    rt.record_many([3.0, 1.0, 2.0])
    assert rt.result().smoothed.tolist() == [3.0, 1.0, 2.0]
    assert rt.smoothed_loss == 2.0


# -- divergence ----------------------------------------------------------------------------


def test_a_curve_that_falls_then_explodes_stops_after_its_minimum() -> None:
    result = drive(falling())
    assert result.stop_reason == "diverged"
    lr_min = result.lrs[int(np.argmin(result.losses)), 0]
    assert result.lrs[-1, 0] > lr_min
    assert result.num_recorded < 100


def test_no_divergence_during_warm_up() -> None:
    rt = RangeTest(1e-4, 1e-1, 50)
    for n, loss in enumerate([1.0, 10.0, 1e3, 1e5, 1e7, 1e9, 1e11, 1e13, 1e15], start=1):
        assert rt.record(loss) is False, n
    assert n == DIVERGE_WARMUP_STEPS - 1
    assert rt.record(1e17) is False  # the first smoothed value that counts as best
    assert rt.record(1e19) is True
    assert rt.stop_reason == "diverged"


def test_long_flat_noisy_plateau_does_not_stop_the_test() -> None:
    # The loss is flat for ~600 of 800 steps, then falls at 1e-2 and explodes.
    for seed in range(3):
        result = drive(plateau_then_fall(), num_steps=800, sigma=0.1, seed=seed)
        assert result.stop_reason == "diverged"
        assert result.lrs[-1, 0] > 0.02, seed


@pytest.mark.parametrize("smoothing", [0.98, 0.9, 0.0])
def test_pure_noise_never_diverges(smoothing: float) -> None:
    for seed in range(3):
        result = drive(lambda x: 3.0, num_steps=300, sigma=0.5, seed=seed, smoothing=smoothing)
        assert result.stop_reason == "num_steps", (smoothing, seed)


def test_a_constant_loss_never_diverges() -> None:
    assert drive(lambda x: 0.7, num_steps=200).stop_reason == "num_steps"


@pytest.mark.parametrize(
    ("scale", "shift"),
    [(100.0, 0.0), (0.01, 0.0), (1.0, 1000.0), (1.0, -2.3), (1.0, -50.0), (37.0, -81.0)],
)
def test_scaling_or_shifting_the_loss_does_not_move_the_stopping_step(
    scale: float, shift: float
) -> None:
    for curve, sigma in ((falling(), 0.0), (falling(), 0.05), (plateau_then_fall(), 0.1)):
        base = drive(curve, sigma=sigma, num_steps=200)
        moved = drive(curve, sigma=sigma, num_steps=200, scale=scale, shift=shift)
        assert (moved.num_recorded, moved.stop_reason) == (base.num_recorded, base.stop_reason)


def test_negative_and_near_zero_losses_diverge_like_positive_ones() -> None:
    base = drive(falling(), sigma=0.02)
    negative = drive(falling(), sigma=0.02, shift=-10.0)  # loss from -7.7 to -9.6
    near_zero = drive(falling(), sigma=0.02, shift=-0.4)  # best loss about 0
    assert base.stop_reason == negative.stop_reason == near_zero.stop_reason == "diverged"
    assert base.num_recorded == negative.num_recorded == near_zero.num_recorded


def test_a_larger_diverge_factor_stops_later() -> None:
    early = drive(falling(), num_steps=200, diverge_factor=1.5)
    late = drive(falling(), num_steps=200, diverge_factor=8.0)
    assert early.num_recorded < late.num_recorded


# -- metrics, result, settings --------------------------------------------------------------


def test_metrics_attach_to_the_last_recorded_step() -> None:
    rt = RangeTest(1e-4, 1e-1, 10)
    with pytest.raises(RuntimeError, match="call record"):
        rt.record_metric(0.5)
    rt.record_many([1.0, 1.0])
    rt.record_metric(0.5)
    with pytest.raises(RuntimeError, match="already has a metric"):
        rt.record_metric(0.6)
    rt.record(1.0)
    with pytest.raises(ValueError, match="value must be finite"):
        rt.record_metric(math.nan)
    result = rt.result()
    assert result.metrics is not None
    assert result.metrics[1] == 0.5
    assert np.isnan(result.metrics[[0, 2]]).all()
    assert RangeTest(1e-4, 1e-1, 10).result().metrics is None


def test_result_mid_run_and_settings() -> None:
    rt = RangeTest(1e-5, 1.0, 40, sweep="linear", smoothing=0.9, group_scales=[1.0, 2.0])
    rt.record_many([1.0, 0.9])
    result = rt.result(elapsed_s=2.5, settings={"batch_size": 64, "sweep": "linear"})
    assert result.stop_reason is None and result.elapsed_s == 2.5
    assert result.settings == {
        "start_lr": 1e-5,
        "end_lr": 1.0,
        "num_steps": 40,
        "sweep": "linear",
        "smoothing": 0.9,
        "diverge_factor": 4.0,
        "group_scales": [1.0, 2.0],
        "batch_size": 64,
    }
    with pytest.raises(ValueError, match=r"settings\['smoothing'\] contradicts"):
        rt.result(settings={"smoothing": 0.5})
    default = rt.result()
    assert default.elapsed_s is not None and default.elapsed_s >= 0.0


def test_lr_at_is_validated() -> None:
    rt = RangeTest(1e-4, 1e-1, 10)
    with pytest.raises(ValueError, match=r"step must be in \[0, 9\] \(got step=10\)"):
        rt.lr_at(10)
    with pytest.raises(TypeError, match="step must be an integer"):
        rt.lr_at(1.0)  # type: ignore[arg-type]
    assert "recorded=0" in repr(rt)
