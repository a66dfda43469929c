"""``cyclr.torch.confirm``: the same start and batches for every candidate, the best kept,
everything restored exactly (also when interrupted), bad input named."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
import torch
from tests.torch import rangetest_support as rs

from cyclr.errors import NoReliableSuggestionError
from cyclr.rangetest.confirm import fitted_lr, held_out_score
from cyclr.rangetest.search import CandidateSearch
from cyclr.torch import confirm
from cyclr.torch.training import TrainingStep

torch.set_num_threads(1)


def _setup() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.amp.GradScaler]:
    np.random.seed(0)  # train_steps draws from numpy and random
    random.seed(0)
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=2)
    rs.train_steps(model, opt, iter(rs.make_batches() * 2), 3, scaler=scaler)  # populated state
    return model, opt, scaler


def _reference_losses(lr: float, steps: int, held: list[Any]) -> list[float]:
    """Train a copy by hand from the same state and batches; the held-out loss after
    every 10th step and the last."""
    model, opt, _ = _setup()
    for g in opt.param_groups:
        g["lr"] = lr
    batches = rs.make_batches()
    losses = []
    for i in range(steps):
        model.train()
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        rs.loss_fn(model(x), y).backward()
        opt.step()
        if (i + 1) % 10 == 0 or i + 1 == steps:
            model.eval()
            with torch.no_grad():
                losses.append(sum(float(rs.loss_fn(model(x), y)) for x, y in held) / len(held))
    return losses


@pytest.mark.parametrize("steps", [6, 25])
def test_every_candidate_starts_from_the_same_state_and_batches(steps: int) -> None:
    model, opt, _ = _setup()
    before = rs.capture(model, opt)
    held = rs.make_batches(seed=7)[:2]
    got = confirm(model, opt, rs.make_batches(), rs.loss_fn, lr=0.05, held_out=held, steps=steps)
    rs.assert_same(before, rs.capture(model, opt))
    assert got.steps == steps and got.steps_spent == 5 * steps and got.anchor == 0.05
    best = min(range(5), key=lambda i: (got.scores[i], i))
    fitted = fitted_lr(got.candidates, got.scores)
    # The vertex, or the lowest score's candidate when there is none or it is the smallest.
    want = got.candidates[best] if fitted is None or best == 0 else fitted
    assert got.lr == want
    # The held-out loss before training, which every score's rise counts from.
    start_model, _, _ = _setup()
    start_model.eval()
    with torch.no_grad():
        start = sum(float(rs.loss_fn(start_model(x), y)) for x, y in held) / len(held)
    assert got.start_loss == pytest.approx(start, rel=1e-12, abs=0)
    # Dropout draws from the torch RNG, restored before each candidate, so a hand-made
    # run from the same state (and RNG) reproduces each held-out loss exactly.
    for lr, score, losses in zip(got.candidates, got.scores, got.held_out_losses, strict=True):
        torch.set_rng_state(before["torch_rng"])
        want = _reference_losses(lr, steps, held)
        assert len(losses) == (1 if steps == 6 else 3)
        assert losses == pytest.approx(want, rel=1e-12, abs=0)
        assert score == held_out_score(losses, got.start_loss)


@pytest.mark.parametrize(
    ("script", "scores"),
    [
        # The smaller LR ends higher (0.6) but only fell; the larger ends lower (0.5)
        # after a bounce of 0.7 above its minimum, so it scores 1.2 and loses.
        ((1.1, 1.0, 0.8, 0.7, 0.6, 1.0, 0.2, 0.9, 0.5), (0.6, 1.2)),
        # The larger LR sends the held-out loss from 1.0 (before training) to 5.0 within
        # ten steps, then ends lowest (0.4): scored from its first evaluation it would
        # win; its rise of 4.0 above the state it started from makes it 4.4 and it loses.
        ((1.0, 0.9, 0.8, 0.7, 0.6, 5.0, 2.0, 0.5, 0.4), (0.6, 4.4)),
    ],
    ids=["bounce", "jump-above-the-start"],
)
def test_a_held_out_loss_that_rose_loses_to_a_steady_one(
    monkeypatch: pytest.MonkeyPatch, script: tuple[float, ...], scores: tuple[float, float]
) -> None:
    # The first value is the held-out loss before training, then four per candidate.
    values = iter(script)
    monkeypatch.setattr(TrainingStep, "held_out_loss", lambda self, batches: next(values))
    model, opt, _ = _setup()
    got = confirm(
        model,
        opt,
        rs.make_batches(),
        rs.loss_fn,
        lr=0.05,
        held_out=rs.make_batches()[:1],
        steps=40,
        offsets=(0.0, 0.5),
    )
    assert got.start_loss == script[0]
    assert got.held_out_losses == (script[1:5], script[5:])
    assert got.scores == (scores[0], pytest.approx(scores[1]))
    assert got.lr == got.candidates[0] == 0.05


def _regression() -> tuple[torch.nn.Module, torch.optim.Optimizer, list[Any]]:
    """Linear least squares: plain SGD diverges to inf above lr = 2 / (largest curvature)."""
    torch.manual_seed(0)
    x = torch.randn(256, 16)
    y = x @ torch.randn(16, 1)
    model = torch.nn.Linear(16, 1)
    return (
        model,
        torch.optim.SGD(model.parameters(), lr=0.01),
        [(x[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)],
    )


def test_a_diverging_candidate_scores_inf_and_stops_early() -> None:
    model, opt, data = _regression()
    mse = torch.nn.functional.mse_loss
    got = confirm(
        model, opt, data, mse, lr=0.1, held_out=data[:1], steps=40, offsets=(-1.0, 0.0, 3.0)
    )
    assert got.candidates[2] == pytest.approx(100.0)
    assert math.isinf(got.scores[2]) and math.isfinite(got.scores[0])
    assert got.lr < 100.0
    assert got.steps_spent < 120  # the diverging candidate stopped at its first inf loss


def test_every_candidate_diverging_is_refused_and_restores() -> None:
    model, opt, data = _regression()
    before = rs.capture(model, opt)
    with pytest.raises(NoReliableSuggestionError, match="every candidate diverged"):
        confirm(
            model,
            opt,
            data,
            torch.nn.functional.mse_loss,
            lr=1e3,
            held_out=data[:1],
            steps=40,
            offsets=(0.0, 1.0),
        )
    rs.assert_same(before, rs.capture(model, opt))


@pytest.mark.parametrize("fault", ["exception", "interrupt"])
@pytest.mark.parametrize("at", [0, 7, 23])
@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_a_fault_anywhere_restores_everything(fault: str, at: int, storage: str) -> None:
    model, opt, scaler = _setup()
    before = rs.capture(model, opt, scaler)
    calls = {"n": 0}

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] - 1 == at:
            raise KeyboardInterrupt if fault == "interrupt" else RuntimeError("injected")
        return rs.loss_fn(m(batch[0]), batch[1])

    kind = KeyboardInterrupt if fault == "interrupt" else RuntimeError
    with pytest.raises(kind):
        confirm(
            model,
            opt,
            rs.make_batches(),
            lr=0.05,
            held_out=rs.make_batches()[:1],
            steps=5,
            step_fn=step,
            scaler=scaler,
            snapshot=storage,
        )
    rs.assert_same(before, rs.capture(model, opt, scaler))


def test_groups_keep_their_ratio() -> None:
    model = rs.make_model()
    params = list(model.parameters())
    opt = torch.optim.SGD([{"params": params[:2], "lr": 0.1}, {"params": params[2:], "lr": 0.01}])
    seen: list[tuple[float, float]] = []
    hook = opt.register_step_pre_hook(
        lambda o, a, k: seen.append((o.param_groups[0]["lr"], o.param_groups[1]["lr"]))
    )
    try:
        got = confirm(
            model,
            opt,
            rs.make_batches(),
            rs.loss_fn,
            lr=0.1,
            held_out=rs.make_batches()[:1],
            steps=2,
            offsets=(0.0, 1.0),
        )
    finally:
        hook.remove()
    assert [lr for lr, _ in seen] == [got.candidates[0]] * 2 + [got.candidates[1]] * 2
    assert all(b == pytest.approx(a / 10) for a, b in seen)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]


def _call(**over: Any) -> None:
    model, opt, _ = _setup()
    kwargs: dict[str, Any] = {"lr": 0.05, "held_out": rs.make_batches()[:1], "steps": 2}
    kwargs.update(over)
    data = kwargs.pop("data", rs.make_batches())
    confirm(model, opt, data, rs.loss_fn, **kwargs)


@pytest.mark.parametrize(
    ("over", "kind", "pattern"),
    [
        ({"steps": 0}, ValueError, r"steps must be positive \(got steps=0\)"),
        ({"steps": 2.5}, TypeError, r"steps must be an integer \(got steps=2.5\)"),
        ({"lr": -1.0}, ValueError, r"lr must be positive \(got lr=-1.0\)"),
        ({"offsets": ()}, ValueError, r"offsets must hold 1 to 16"),
        ({"held_out": []}, ValueError, r"held_out must hold at least one batch"),
        ({"held_out": "abc"}, TypeError, r"held_out"),
        ({"snapshot": "cloud"}, ValueError, r"snapshot must be one of"),
        ({"accumulation_steps": 0}, ValueError, r"accumulation_steps must be positive"),
        (
            {"data": iter(rs.make_batches()[:3]), "steps": 5},
            ValueError,
            r"steps \* accumulation",
        ),
    ],
)
def test_bad_input_is_named_before_any_step(over: dict[str, Any], kind: type, pattern: str) -> None:
    with pytest.raises(kind, match=pattern):
        _call(**over)


def test_refuses_to_run_on_several_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *a, **k: 2)
    with pytest.raises(ValueError, match=r"confirm runs on one process.*world_size=2"):
        _call()


def test_the_held_out_loss_is_the_mean_over_examples_not_batches() -> None:
    # A validation loader's short last batch counts for the examples it holds.
    model = rs.make_model()
    x, y = rs.make_tensors(36, seed=3)
    held = [(x[:32], y[:32]), (x[32:], y[32:])]
    training = TrainingStep(
        model, torch.optim.SGD(model.parameters()), rs.loss_fn, None, 1, None, None
    )
    model.eval()
    with torch.no_grad():
        want = float(rs.loss_fn(model(x), y))
        per_batch = sum(float(rs.loss_fn(model(a), b)) for a, b in held) / 2
    got = training.held_out_loss(held)
    assert got == pytest.approx(want, rel=1e-6)
    assert abs(got - per_batch) > 1e-4  # the two means differ on these batches


def test_the_line_search_places_candidates_from_the_scores_and_restores_the_state() -> None:
    model, opt, _ = _setup()
    before = rs.capture(model, opt)
    held = rs.make_batches(seed=7)[:2]
    got = confirm(
        model, opt, rs.make_batches(), rs.loss_fn, lr=0.05, held_out=held, steps=12, offsets=None
    )
    rs.assert_same(before, rs.capture(model, opt))
    assert len(got.candidates) == 5 and got.steps_spent <= 60
    replay = CandidateSearch(0.05)  # the same scores place the same candidates
    for lr in replay:
        i = min(range(5), key=lambda j: abs(math.log(got.candidates[j] / lr)))
        assert got.candidates[i] == pytest.approx(lr, rel=1e-12)
        replay.record(got.held_out_losses[i], math.isfinite(got.scores[i]))
    assert replay.candidates == pytest.approx(got.candidates, rel=1e-12)
    for lr, losses in zip(got.candidates, got.held_out_losses, strict=True):
        assert losses == pytest.approx(_reference_losses(lr, 12, held), rel=1e-5, abs=1e-6)
