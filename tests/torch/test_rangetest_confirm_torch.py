"""``range_test(..., held_out=...)``: the sweep, then the confirmation of its suggestion, in
one call; the result answers from the confirmation, everything is restored, bad input is
named before the first step."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tests.torch import rangetest_support as rs

from cyclr.errors import NoReliableSuggestionError
from cyclr.rangetest import RangeTestResult
from cyclr.torch import confirm, range_test

torch.set_num_threads(1)


def _setup() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = rs.make_model()
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def _counting_step(calls: dict[str, int], fail_at: int | None = None) -> Any:
    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        calls["n"] += 1
        if fail_at is not None and calls["n"] - 1 == fail_at:
            raise KeyboardInterrupt
        return rs.loss_fn(m(batch[0]), batch[1])

    return step


SWEEP: dict[str, Any] = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 60, "progress": False}


def test_held_out_confirms_the_curves_suggestion_and_restores_everything() -> None:
    model, opt = _setup()
    before = rs.capture(model, opt)
    held = rs.make_held_out(64)
    got = range_test(
        model, opt, rs.make_batches(), rs.loss_fn, held_out=held, confirm_steps=12, **SWEEP
    )
    rs.assert_same(before, rs.capture(model, opt))
    c = got.confirmation
    assert c is not None and c.steps == 12
    assert c.anchor == got.suggest("bottom").lr
    suggestion = got.suggest()
    assert suggestion.method == "confirmed" and suggestion.lr == c.lr
    assert got.clr_bounds() == c.bounds() != got.clr_bounds(rule="smith")
    assert got.steps_spent == got.settings["steps_run_total"] + c.steps_spent
    # The one call is the two calls: the same sweep, then confirm around its suggestion.
    model2, opt2 = _setup()
    plain = range_test(model2, opt2, rs.make_batches(), rs.loss_fn, held_out=None, **SWEEP)
    assert plain.confirmation is None and plain.suggest().method == "bottom"
    again = confirm(
        model2, opt2, rs.make_batches(), rs.loss_fn, lr=plain.suggest().lr, held_out=held, steps=12
    )
    assert (again.lr, again.scores, again.candidates) == (c.lr, c.scores, c.candidates)


def test_the_confirmation_survives_a_json_round_trip(tmp_path: Any) -> None:
    model, opt = _setup()
    got = range_test(
        model,
        opt,
        rs.make_batches(),
        rs.loss_fn,
        held_out=rs.make_held_out(32),
        confirm_steps=5,
        **SWEEP,
    )
    got.to_json(tmp_path / "r.json")
    back = RangeTestResult.from_json(tmp_path / "r.json")
    assert back == got and back.confirmation == got.confirmation
    assert back.suggest() == got.suggest()


@pytest.mark.parametrize("fail_at", [3, 70, 90])  # in the sweep, then in two candidates
def test_an_interrupt_anywhere_restores_everything(fail_at: int) -> None:
    model, opt = _setup()
    before = rs.capture(model, opt)
    calls = {"n": 0}
    with pytest.raises(KeyboardInterrupt):
        range_test(
            model,
            opt,
            rs.make_batches(),
            step_fn=_counting_step(calls, fail_at),
            held_out=rs.make_held_out(32),
            confirm_steps=10,
            **{**SWEEP, "max_steps": 60},
        )
    assert calls["n"] == fail_at + 1
    rs.assert_same(before, rs.capture(model, opt))


@pytest.mark.parametrize(
    ("over", "kind", "pattern"),
    [
        (
            {"confirm_steps": 0},
            ValueError,
            r"confirm_steps must be positive \(got confirm_steps=0\)",
        ),
        ({"confirm_steps": 1.5}, TypeError, r"confirm_steps must be an integer"),
        ({"held_out": []}, ValueError, r"held_out must hold at least one batch"),
        ({"held_out": torch.zeros(3)}, TypeError, r"held_out"),
        ({"total_steps": 0}, ValueError, r"total_steps must be positive \(got total_steps=0\)"),
        ({"total_steps": 300.0}, TypeError, r"total_steps must be an integer"),
        (
            {"held_out": None, "total_steps": 300},
            ValueError,
            r"total_steps fits .*needs the confirmation.*\(got total_steps=300, held_out=None\)",
        ),
    ],
)
def test_bad_confirmation_input_is_named_before_the_first_step(
    over: dict[str, Any], kind: type, pattern: str
) -> None:
    model, opt = _setup()
    before = rs.capture(model, opt)
    calls = {"n": 0}
    kwargs: dict[str, Any] = {"held_out": rs.make_batches()[:1], **SWEEP, **over}
    with pytest.raises(kind, match=pattern):
        range_test(model, opt, rs.make_batches(), step_fn=_counting_step(calls), **kwargs)
    assert calls["n"] == 0
    rs.assert_same(before, rs.capture(model, opt))


def test_confirm_steps_is_checked_without_held_out_too() -> None:
    model, opt = _setup()
    with pytest.raises(
        ValueError, match=r"confirm_steps must be positive \(got confirm_steps=-1\)"
    ):
        range_test(model, opt, rs.make_batches(), rs.loss_fn, confirm_steps=-1, **SWEEP)


def test_a_curve_with_nothing_to_confirm_is_returned_with_a_warning() -> None:
    model, opt = _setup()
    calls = {"n": 0}
    flat = SWEEP | {"start_lr": 1e-9, "end_lr": 1e-8, "max_steps": 60}  # the loss never moves
    with pytest.warns(RuntimeWarning, match="no suggestion to confirm"):
        got = range_test(
            model,
            opt,
            rs.make_batches(),
            step_fn=_counting_step(calls),
            held_out=rs.make_batches()[:1],
            **flat,
        )
    assert got.confirmation is None and calls["n"] == 1 + 60  # the held-out probe, the sweep


def test_a_held_out_batch_the_loss_cannot_read_is_named_before_the_first_step() -> None:
    model, opt = _setup()
    calls = {"n": 0}
    x, y = rs.make_tensors(64, seed=7)
    with pytest.raises(TypeError, match=r"held_out must be .* not a tuple of arrays"):
        range_test(  # (x, y) instead of [(x, y)]: each "batch" would be a tensor
            model, opt, rs.make_batches(), rs.loss_fn, held_out=(x, y), **SWEEP
        )
    with pytest.raises((TypeError, ValueError), match=r"held_out\[0\] cannot be scored"):
        range_test(
            model, opt, rs.make_batches(), step_fn=_counting_step(calls), held_out=[x], **SWEEP
        )
    assert calls["n"] == 1  # the one held-out probe, no training step


@pytest.mark.filterwarnings("ignore:held_out. no candidate:RuntimeWarning")  # 3 steps
def test_a_held_out_data_loader_leaves_the_rng_as_it_was() -> None:
    x, y = (torch.cat(t) for t in zip(*rs.make_held_out(64), strict=True))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    model, opt = _setup()
    before = torch.get_rng_state()
    range_test(model, opt, rs.make_batches(), rs.loss_fn, held_out=loader, confirm_steps=3, **SWEEP)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.filterwarnings("ignore:held_out. no candidate:RuntimeWarning")  # 3 steps
def test_the_confirmation_keeps_the_sweeps_group_scales() -> None:
    model = rs.make_model()
    params = list(model.parameters())
    opt = torch.optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.01)
    ratios: set[float] = set()
    hook = opt.register_step_pre_hook(
        lambda o, a, k: ratios.add(round(o.param_groups[1]["lr"] / o.param_groups[0]["lr"], 9))
    )
    try:
        got = range_test(
            model,
            opt,
            rs.make_batches(),
            rs.loss_fn,
            group_scales=[1.0, 0.1],
            held_out=rs.make_held_out(32),
            confirm_steps=3,
            **SWEEP,
        )
    finally:
        hook.remove()
    assert got.confirmation is not None and ratios == {0.1}


def test_a_failed_confirmation_keeps_the_sweep_on_the_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cyclr.torch.rangetest as module

    def diverging(*args: Any, **kwargs: Any) -> Any:
        raise NoReliableSuggestionError("every candidate diverged")

    monkeypatch.setattr(module, "confirm", diverging)
    model, opt = _setup()
    with pytest.raises(NoReliableSuggestionError) as info:
        range_test(
            model, opt, rs.make_batches(), rs.loss_fn, held_out=rs.make_batches()[:1], **SWEEP
        )
    sweep = info.value.result  # type: ignore[attr-defined]
    assert isinstance(sweep, RangeTestResult) and sweep.confirmation is None
    assert sweep.suggest().method == "bottom"
