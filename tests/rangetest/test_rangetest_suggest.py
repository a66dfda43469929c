"""Reading the curve: each suggestion rule, CLR bounds, refusals, and schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rangetest_curves import drive, falling, from_values, plateau_then_fall

from cyclr import ExpRange, OneCycle, Triangular, Triangular2
from cyclr.errors import NoReliableSuggestionError
from cyclr.rangetest import DEFAULT_METHOD, METHODS, RangeTestResult, Suggestion
from cyclr.rangetest.suggest import MIN_POINTS, clr_bounds, fit_curve, suggest


def log_lr(suggestion: Suggestion) -> float:
    return math.log10(suggestion.lr)


# -- rules on curves with known features ---------------------------------------------------


@pytest.mark.parametrize(("c", "w"), [(-4.0, 0.2), (-3.0, 0.4), (-2.5, 0.15)])
def test_steepest_lands_on_the_known_steepest_point(c: float, w: float) -> None:
    result = drive(falling(c=c, w=w, xe=c + 2.0))
    assert log_lr(result.suggest("steepest")) == pytest.approx(c, abs=0.05)
    noisy = [drive(falling(c=c, w=w, xe=c + 2.0), sigma=0.1, seed=s) for s in range(5)]
    estimates = [log_lr(r.suggest("steepest")) for r in noisy]
    assert np.median(estimates) == pytest.approx(c, abs=0.2)


def test_steepest_reads_log_lr_on_a_linear_sweep_too() -> None:
    result = drive(falling(c=-1.5, w=0.2, xe=0.5), start_lr=1e-3, end_lr=1.0, sweep="linear")
    assert log_lr(result.suggest("steepest")) == pytest.approx(-1.5, abs=0.1)


def test_valley_is_two_thirds_into_the_falling_stretch() -> None:
    # Flat until x = -5, a straight fall until x = -2, flat again, then a rise.
    x = np.linspace(-7.0, 0.0, 141)
    losses = np.interp(x, [-7.0, -5.0, -2.0, -1.0, 0.0], [3.0, 3.0, 1.0, 1.0, 2.0])
    suggestion = from_values(losses, 1e-7, 1.0).suggest("valley")
    assert log_lr(suggestion) == pytest.approx(-5.0 + 2.0 / 3.0 * 3.0, abs=0.15)
    low, high = suggestion.evidence["valley_lrs"]
    assert math.log10(low) == pytest.approx(-5.0, abs=0.2)
    assert math.log10(high) == pytest.approx(-2.0, abs=0.2)


def test_minimum_is_a_tenth_of_the_lr_at_the_lowest_loss() -> None:
    x = np.linspace(-6.0, 0.0, 121)
    suggestion = from_values((x + 2.3) ** 2, 1e-6, 1.0).suggest("minimum")
    assert log_lr(suggestion) == pytest.approx(-3.3, abs=0.02)
    assert math.log10(suggestion.evidence["minimum_lr"]) == pytest.approx(-2.3, abs=0.02)


def test_consensus_is_the_median_of_the_three_rules() -> None:
    result = drive(falling(), sigma=0.05)
    parts = [log_lr(result.suggest(m)) for m in ("steepest", "valley", "minimum")]
    consensus = result.suggest("consensus")
    assert log_lr(consensus) == pytest.approx(sorted(parts)[1], abs=1e-12)
    assert math.log10(consensus.interval[0]) == pytest.approx(min(parts), abs=1e-12)
    assert math.log10(consensus.interval[1]) == pytest.approx(max(parts), abs=1e-12)


def test_default_method_is_the_named_constant() -> None:
    result = drive(falling(), sigma=0.05)
    assert DEFAULT_METHOD in METHODS
    assert result.suggest() == result.suggest(DEFAULT_METHOD)
    assert result.suggest().method == DEFAULT_METHOD


def test_every_suggestion_carries_evidence_and_an_interval_around_it() -> None:
    result = drive(falling(), sigma=0.05)
    found = result.suggestions()
    assert set(found) == set(METHODS)
    for method, s in found.items():
        assert s.method == method
        assert s.interval[0] <= s.lr * (1 + 1e-12) and s.lr <= s.interval[1] * (1 + 1e-12)
        assert {"points", "window_points", "fall_lrs", "drop_z"} <= set(s.evidence)
        assert method in str(s)
    assert {"index", "slope_per_decade", "window_lrs"} <= set(found["steepest"].evidence)
    assert found["steepest"].evidence["slope_per_decade"] < 0
    assert {"valley_lrs", "valley_indices", "position"} <= set(found["valley"].evidence)


def test_suggestions_sit_inside_the_fall() -> None:
    result = drive(falling(c=-3.0, w=0.3, xe=-1.0), sigma=0.05)
    for method, s in result.suggestions().items():
        low = -3.0 - 1.5 - (1.0 if method == "minimum" else 0.0)
        assert low < log_lr(s) < -1.5, method


def test_default_is_stable_across_noisy_repeats() -> None:
    estimates = [
        log_lr(drive(falling(w=0.4), sigma=0.2, seed=seed).suggest()) for seed in range(10)
    ]
    assert float(np.std(estimates)) < 0.25
    # The floor runs from the end of the fall (about -1.8) to the explosion at -1: its
    # centre, a decade lower.
    assert -2.9 < float(np.median(estimates)) < -2.0


def test_bottom_is_a_tenth_of_the_centre_of_the_floor() -> None:
    # A fall, a floor from 1e-3 to 1e-2, a rise: the minimum sits at the floor's start.
    x = np.linspace(-7.0, 0.0, 141)
    losses = np.interp(x, [-7.0, -5.0, -3.0, -2.0, 0.0], [3.0, 3.0, 1.0, 1.0, 3.0])
    losses = losses + 0.002 * (x + 3.0) ** 2 * (x > -3.0)  # the floor tilts up a little
    result = from_values(losses, 1e-7, 1.0)
    suggestion = result.suggest("bottom")
    low, high = (math.log10(v) for v in suggestion.evidence["bottom_lrs"])
    assert low == pytest.approx(-3.0, abs=0.15)
    assert -2.0 < high < -1.5  # the first point clearly above the floor
    assert log_lr(suggestion) == pytest.approx((low + high) / 2 - 1.0, abs=1e-12)
    assert suggestion.interval == pytest.approx((10 ** (low - 1.0), 10 ** (high - 1.0)))


def test_bottom_stops_at_a_rise_the_curve_does_not_come_back_from() -> None:
    # Past its limit the loss rises, then comes back only to about its old minimum (a
    # batch-normalised network bouncing): the bottom is the first one.
    x = np.linspace(-7.0, 1.0, 161)
    losses = np.interp(x, [-7.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0], [3, 3, 1, 1, 2.5, 0.99, 3])
    noisy = losses + np.random.default_rng(0).normal(0.0, 0.02, x.size)
    suggestion = from_values(noisy, 1e-7, 10.0).suggest()
    assert suggestion.method == "bottom"
    low, high = (math.log10(v) for v in suggestion.evidence["bottom_lrs"])
    assert -3.2 < low < -2.0 and high < -1.5
    assert from_values(noisy, 1e-7, 10.0).suggest("minimum").lr < 10**-2.9


def test_bottom_moves_past_a_spike_the_training_recovers_from() -> None:
    # The catapult of a large LR: the loss jumps, then falls clearly lower than its first
    # minimum. The rise was not the edge; the bottom is the lower one, and its edge is
    # where the loss leaves that.
    x = np.linspace(-7.0, 1.0, 161)
    knots = [-7.0, -4.0, -3.0, -2.5, -2.2, -1.5, -0.5, 1.0]
    losses = np.interp(x, knots, [3, 3, 1.2, 1.2, 2.8, 0.6, 0.6, 3])
    noisy = losses + np.random.default_rng(0).normal(0.0, 0.02, x.size)
    result = from_values(noisy, 1e-7, 10.0)
    low, high = (math.log10(v) for v in result.suggest().evidence["bottom_lrs"])
    assert -1.6 < low < high < -0.2  # the new floor, from -1.5 to -0.5
    fall = result.suggest().evidence["fall_lrs"]
    assert math.log10(fall[0]) < -3.9  # the fall starts where it did
    # Scaling and shifting the loss moves nothing.
    moved = from_values(3.0 * noisy + 7.0, 1e-7, 10.0).suggest()
    assert moved.lr == pytest.approx(result.suggest().lr, rel=1e-9)


def test_plateau_then_fall_suggests_from_the_fall() -> None:
    result = drive(plateau_then_fall(), num_steps=800, sigma=0.1)
    for method, s in result.suggestions().items():
        assert -3.5 < log_lr(s) < -1.5, method
    base, peak = result.clr_bounds()
    assert -3.0 < math.log10(base) < -2.0 < math.log10(peak) < -1.2


def test_the_nan_tail_is_cut_off() -> None:
    clean = drive(falling(c=-3.0, xe=5.0), end_lr=1e-1, num_steps=80)
    x = np.log10(clean.lrs[:, 0])
    nan_tail = clean.losses.copy()
    nan_tail[x > -1.5] = np.nan
    with_nan = RangeTestResult(clean.lrs, nan_tail, nan_tail, None, "non_finite", {}, None)
    cut = int(np.argmax(x > -1.5))
    prefix = RangeTestResult(clean.lrs[:cut], nan_tail[:cut], nan_tail[:cut], None, None, {}, None)
    cut_reading, prefix_reading = with_nan.suggestions(), prefix.suggestions()
    assert cut_reading.pop("bottom") != prefix_reading.pop("bottom")
    assert cut_reading == prefix_reading
    assert log_lr(with_nan.suggest("steepest")) == pytest.approx(-3.0, abs=0.1)
    # The NaN marks where the curve left its bottom; the prefix alone ends at it.
    assert with_nan.suggest().evidence["bottom_lrs"][1] == clean.lrs[cut, 0]
    assert "warning" in prefix.suggest().evidence


def test_an_exploding_tail_does_not_drag_the_reading() -> None:
    x = np.linspace(-7.0, 1.0, 100)
    losses = 2.3 - 1.9 / (1 + np.exp(-(x + 3.0) / 0.4))
    losses[-12:] = np.geomspace(2.0, 1e30, 12)
    result = from_values(losses, 1e-7, 10.0)
    assert log_lr(result.suggest("steepest")) == pytest.approx(-3.0, abs=0.1)
    assert result.suggest("minimum").evidence["index"] < 100 - 12
    assert result.suggest("valley").evidence["valley_indices"][1] < 100 - 12


def test_negative_losses_read_like_positive_ones() -> None:
    positive = drive(falling(), sigma=0.05)
    negative = drive(falling(), sigma=0.05, shift=-100.0)
    for method in METHODS:
        assert negative.suggest(method).lr == pytest.approx(positive.suggest(method).lr, rel=1e-6)


# -- no evidence: a clear refusal, never a random LR ----------------------------------------


@pytest.mark.parametrize(
    ("losses", "match"),
    [
        ([1.0] * 50, "flat"),
        ([math.nan] * 50, "0 usable"),
        ([3.0, 2.0, 1.0], f"at least {MIN_POINTS}"),
        ([3.0, 2.5, math.nan] + [1.0] * 40, "2 usable"),
        (np.linspace(1.0, 3.0, 50), "never improves"),
        (np.random.default_rng(0).normal(2.0, 0.3, 200), "never falls clearly"),
        (np.random.default_rng(1).normal(-5.0, 0.01, 200), "never falls clearly"),
    ],
    ids=["flat", "all-nan", "too-short", "nan-early", "rising", "noise", "negative-noise"],
)
def test_no_evidence_raises(losses: list[float], match: str) -> None:
    result = from_values(losses)
    for method in METHODS:
        with pytest.raises(NoReliableSuggestionError, match=match):
            result.suggest(method)
    with pytest.raises(NoReliableSuggestionError, match=match):
        result.clr_bounds()
    assert result.suggestions() == {}
    assert issubclass(NoReliableSuggestionError, ValueError)


def test_a_curve_flat_to_float32_resolution_is_flat() -> None:
    losses = np.float32(2.302585) + np.float32(2.4e-7) * (np.arange(60) % 3)
    with pytest.raises(NoReliableSuggestionError, match="flat"):
        from_values(losses.astype(np.float64)).suggest()


def test_unknown_method_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="method must be one of 'bottom', 'steepest'"):
        drive(falling()).suggest("fastest")


def test_functions_work_on_plain_arrays() -> None:
    lrs = np.logspace(-6, 0, 61)
    losses = 2.0 - np.tanh(np.log10(lrs) + 3.0)
    assert suggest(lrs, losses, "steepest").lr == pytest.approx(1e-3, rel=0.05)
    assert fit_curve(lrs, losses).drop == pytest.approx(2 * math.tanh(3.0), rel=1e-2)
    with pytest.raises(ValueError, match="same length"):
        suggest(lrs, losses[:-1])


# -- CLR bounds ----------------------------------------------------------------------------


def test_clr_bounds_are_where_the_fall_starts_and_ends() -> None:
    lrs = np.logspace(-7, 1, 161)
    x = np.log10(lrs)
    losses = 2.0 - np.tanh((x + 3.0) / 0.5)  # falls from ~3 to ~1 around 1e-3
    base, peak = clr_bounds(lrs, losses)
    # 10% and 90% of the drop: tanh(u) = -0.8 and +0.8, u = -+atanh(0.8).
    assert math.log10(base) == pytest.approx(-3.0 - 0.5 * math.atanh(0.8), abs=0.05)
    assert math.log10(peak) == pytest.approx(-3.0 + 0.5 * math.atanh(0.8), abs=0.05)


def test_the_base_is_where_the_fall_starts_not_a_dip_of_the_flat_part() -> None:
    # A flat start that wanders by a few % of the drop, once 18% below its top, four
    # decades before the loss falls (a keras autoencoder's curve had this shape): base_lr
    # is where the loss falls for good.
    lrs = np.logspace(-7, 1, 161)
    x = np.log10(lrs)
    wander = 0.05 * np.sin(3.0 * x) - 0.35 * np.exp(-(((x + 5.5) / 0.3) ** 2))
    losses = 2.0 - np.tanh((x + 1.0) / 0.5) + np.where(x < -2.5, wander, 0.0)
    base, peak = clr_bounds(lrs, losses)
    assert -2.5 < math.log10(base) < -1.0 < math.log10(peak)


def test_bottom_clr_bounds_are_a_tenth_of_the_edge_and_a_quarter_of_that() -> None:
    result = drive(falling(c=-3.0, w=0.3, xe=-1.0), sigma=0.05)
    base, peak = result.clr_bounds(rule="bottom")
    assert peak == result.suggest("bottom").interval[1]
    assert base == pytest.approx(peak / 4.0, rel=1e-12)
    # The floor ends at the explosion (about -1): a decade lower.
    assert -2.6 < math.log10(peak) < -1.9
    with pytest.raises(ValueError, match="rule must be one of 'smith', 'bottom'"):
        result.clr_bounds(rule="edge")


def test_clr_bounds_base_below_max_even_for_a_cliff() -> None:
    losses = [3.0] * 30 + [1.0] * 20 + [3.0] * 10
    base, peak = from_values(losses).clr_bounds()
    assert base < peak


def test_bottom_clr_bounds_refuse_a_curve_that_ends_at_its_bottom() -> None:
    with pytest.raises(NoReliableSuggestionError, match="raise end_lr"):
        from_values([3.0] * 30 + [1.0] * 30).clr_bounds(rule="bottom")


def test_clr_bounds_from_an_accuracy_curve() -> None:
    rt_result = drive(falling(), sigma=0.02)
    x = np.log10(rt_result.lrs[:, 0])
    accuracy = np.full(x.size, np.nan)
    every = np.arange(0, x.size, 5)
    accuracy[every] = 0.1 + 0.8 / (1 + np.exp(-(x[every] + 4.0) / 0.3))  # rises around 1e-4
    with_metric = RangeTestResult(
        rt_result.lrs, rt_result.losses, rt_result.smoothed, accuracy, "diverged", {}, None
    )
    base, peak = with_metric.clr_bounds()
    assert (base, peak) == with_metric.clr_bounds(curve="metric")
    assert -5.0 < math.log10(base) < -4.0 < math.log10(peak) < -3.0
    loss_base, _ = with_metric.clr_bounds(curve="loss")
    assert loss_base > base  # the loss reading is another curve
    with pytest.raises(ValueError, match="curve must be one of"):
        with_metric.clr_bounds(curve="accuracy")
    with pytest.raises(ValueError, match="needs metrics"):
        rt_result.clr_bounds(curve="metric")


# -- schedules from the result -------------------------------------------------------------


def test_schedule_builds_each_kind_from_the_bounds() -> None:
    result = drive(falling(), sigma=0.05)
    base, peak = result.clr_bounds()
    tri = result.schedule("triangular", steps_per_epoch=100)
    assert isinstance(tri, Triangular)
    assert (tri.base_lr, tri.max_lr, tri.step_size_up) == (base, peak, 400)
    tri2 = result.schedule("triangular2", 50, epochs_per_half_cycle=2.5, total_steps=2500)
    assert isinstance(tri2, Triangular2) and tri2.step_size_up == 125
    exp = result.schedule("exp_range", 100, gamma=0.9999, step_size_down=200)
    assert isinstance(exp, ExpRange) and exp.gamma == 0.9999 and exp.step_size_down == 200
    one = result.schedule("onecycle", 100, total_steps=1000)
    assert isinstance(one, OneCycle)
    assert one.max_lr == peak and one.initial_lr == pytest.approx(base, rel=1e-12)
    custom = result.schedule("onecycle", 100, total_steps=1000, max_lr=0.5, div_factor=10.0)
    assert (custom.max_lr, custom.div_factor) == (0.5, 10.0)
    peak_only = result.schedule("onecycle", 100, total_steps=1000, max_lr=0.5)
    assert peak_only.initial_lr == pytest.approx(base, rel=1e-12)


@pytest.mark.parametrize(
    ("kind", "kwargs", "match"),
    [
        ("cosine", {}, "kind must be one of"),
        ("triangular", {"epochs_per_half_cycle": 1}, r"must be in \[2, 10\]"),
        ("triangular", {"epochs_per_half_cycle": 11}, r"must be in \[2, 10\]"),
        ("triangular", {"total_steps": 2003}, "splits into no whole number of cycles"),
        (
            "triangular",
            {"total_steps": 1000, "step_size_up": 400},
            "whole number of cycles of 800 steps",
        ),
        ("triangular", {"total_steps": 1}, "total_steps must be >= 2"),
        ("onecycle", {}, "needs total_steps"),
        ("onecycle", {"total_steps": 100, "epochs_per_half_cycle": 4}, "not used by"),
    ],
)
def test_schedule_refuses_bad_requests(kind: str, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        drive(falling()).schedule(kind, 100, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "half_cycle"), [({}, 400), ({"total_steps": 3000}, 375)])
def test_exp_range_without_gamma_keeps_smiths_decay_per_half_cycle(
    kwargs: dict[str, int], half_cycle: int
) -> None:
    schedule = drive(falling()).schedule("exp_range", 100, **kwargs)  # type: ignore[arg-type]
    assert schedule.step_size_up == half_cycle
    # Smith: gamma 0.99994 per step over half cycles of 2000 steps.
    assert schedule.gamma**half_cycle == pytest.approx(0.99994**2000, rel=1e-12)


def test_exp_range_keeps_a_given_gamma() -> None:
    assert drive(falling()).schedule("exp_range", 100, gamma=0.9).gamma == 0.9


@pytest.mark.parametrize(
    ("total_steps", "epochs", "cycles"),
    [(2400, None, 3), (2400, 2.0, 6), (2400, 10.0, 2), (1000, None, 1), (6000, 4.0, 8)],
)
def test_schedule_fits_whole_cycles_to_the_run(
    total_steps: int, epochs: float | None, cycles: int
) -> None:
    tri = drive(falling()).schedule(
        "triangular2", 100, total_steps=total_steps, epochs_per_half_cycle=epochs
    )
    assert isinstance(tri, Triangular2)
    assert tri.cycle_steps * cycles == total_steps
    assert 200 <= tri.step_size_up <= 1000
    assert float(tri(total_steps)) == pytest.approx(tri.base_lr, rel=1e-12)


def test_schedule_too_short_for_smiths_half_cycle_warns_and_uses_one_cycle() -> None:
    with pytest.warns(UserWarning, match="one cycle over the whole run"):
        tri = drive(falling()).schedule("triangular2", 100, total_steps=301)
    assert (tri.step_size_up, tri.step_size_down) == (150, 151)


def test_schedule_steps_per_epoch_is_validated() -> None:
    with pytest.raises(ValueError, match="steps_per_epoch must be positive"):
        drive(falling()).schedule("triangular", 0)
    with pytest.raises(TypeError, match="steps_per_epoch must be an integer"):
        drive(falling()).schedule("triangular", 10.5)  # type: ignore[arg-type]


def test_schedule_without_bounds_raises_no_reliable_suggestion() -> None:
    with pytest.raises(NoReliableSuggestionError):
        from_values([1.0] * 50).schedule("triangular", 100)


def test_long_curves_are_read_in_bins_quickly() -> None:
    lrs = np.geomspace(1e-7, 10.0, 20_000)
    x = np.log10(lrs)
    noise = 0.1 * np.random.default_rng(0).normal(size=x.size)
    losses = 2.3 - 1.9 / (1 + np.exp(-(x + 3.0) / 0.2)) + 0.5 * np.exp((x + 1.0) / 0.2) + noise
    result = RangeTestResult(lrs, losses, losses, None, "num_steps", {}, None)
    steepest = result.suggest("steepest")
    assert log_lr(steepest) == pytest.approx(-3.0, abs=0.15)
    assert 0 <= steepest.evidence["index"] < 20_000
    assert fit_curve(lrs, losses).x.size <= 1000
