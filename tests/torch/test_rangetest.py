"""cyclr.torch.range_test: the sweep as used, batches of every shape, and exact restore."""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import tempfile
from typing import Any

import numpy as np
import pytest
import torch
from tests.torch.rangetest_support import (
    assert_same,
    capture,
    loss_fn,
    make_batches,
    make_loader,
    make_model,
    make_tensors,
    train_steps,
)

from cyclr._progress import progress_bar
from cyclr.rangetest import RangeTestResult
from cyclr.torch import distributed as cdist
from cyclr.torch import range_test

torch.set_num_threads(1)

OVERFITS = pytest.mark.filterwarnings("ignore:held_out. the held-out loss turned up:RuntimeWarning")
"""These toy batches (random labels) overfit within the confirmation's window: the notice
that says so (tested in ``tests/torch/test_run_length.py``) is not what these test."""


def sweep(start: float, end: float, n: int, i: int) -> float:
    return start * (end / start) ** (i / (n - 1))


# --------------------------------------------------------------------------- basics
@OVERFITS
def test_runs_and_restores_bit_exact_with_populated_adam() -> None:
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    train_steps(model, opt, iter(make_batches() * 3), 3)  # optimizer state exists, grads too
    before = capture(model, opt)
    result = range_test(
        model, opt, make_batches(), loss_fn, start_lr=1e-5, end_lr=10.0, num_steps=40
    )
    assert_same(before, capture(model, opt))
    assert opt.state_dict()["state"][0]["step"].item() == 3.0
    assert 10 <= result.num_recorded <= 40
    assert result.stop_reason in ("diverged", "num_steps", "non_finite")
    expected = [sweep(1e-5, 10.0, 40, i) for i in range(result.num_recorded)]
    assert result.lrs[:, 0].tolist() == expected
    assert result.elapsed_s is not None and result.elapsed_s > 0
    s = result.settings
    assert s["runner"] == "cyclr.torch.range_test" and s["optimizer"] == "Adam"
    assert s["loss"] == "loss_fn" and s["snapshot"] == "memory" and s["world_size"] == 1
    assert s["steps_run"] >= result.num_recorded and s["start_lr"] == 1e-5


@OVERFITS
def test_fresh_optimizer_state_stays_empty_and_grads_none() -> None:
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = capture(model, opt)
    range_test(model, opt, make_batches(), loss_fn, num_steps=20)
    assert len(opt.state) == 0
    assert all(p.grad is None for p in model.parameters())
    assert_same(before, capture(model, opt))


def test_mid_training_run_is_invisible_to_the_training_run() -> None:
    def run(with_test: bool) -> tuple[list[float], list[torch.Tensor]]:
        model = make_model(3)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        torch.manual_seed(11)
        np.random.seed(11)
        import random

        random.seed(11)
        loader = make_loader(shuffle=True)
        batches = iter(loader)
        losses = train_steps(model, opt, batches, 5)
        if with_test:
            # the training loader itself: each new pass over it draws from the torch RNG
            range_test(model, opt, loader, loss_fn, num_steps=25, sync_every=3)
        losses += train_steps(model, opt, batches, 3)
        more = iter(make_loader(shuffle=True))  # a fresh epoch: shuffled by the global RNG
        losses += train_steps(model, opt, more, 4)
        return losses, [p.detach().clone() for p in model.parameters()]

    plain_losses, plain_params = run(False)
    test_losses, test_params = run(True)
    assert plain_losses == test_losses
    assert_same(plain_params, test_params)


def test_recorded_lr_is_the_lr_the_step_used() -> None:
    model = make_model()
    opt = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 0.1},
            {"params": model[1].parameters(), "lr": 0.05},
            {"params": model[4].parameters(), "lr": 0.01},
        ],
        lr=0.1,
    )
    seen: list[list[float]] = []
    model.register_forward_pre_hook(
        lambda mod, args: seen.append([g["lr"] for g in opt.param_groups])
    )
    result = range_test(
        model, opt, make_batches(), loss_fn, num_steps=30, accumulation_steps=2, sync_every=4,
        held_out=None,
    )  # fmt: skip
    n = result.num_recorded
    used = np.array(seen[0 : 2 * n : 2])  # the first forward of each optimizer step
    assert np.array_equal(np.array(seen[1 : 2 * n : 2]), used)  # accumulation: same LR
    assert np.array_equal(result.lrs, used)
    # discriminative LRs kept: each group's ratio to group 0, exactly as lr_g / lr_0
    assert np.array_equal(result.lrs[:, 1], result.lrs[:, 0] * (0.05 / 0.1))
    assert np.array_equal(result.lrs[:, 2], result.lrs[:, 0] * (0.01 / 0.1))
    assert result.settings["group_scales"] == [1.0, 0.05 / 0.1, 0.01 / 0.1]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.05, 0.01]


def test_explicit_group_scales_override_and_must_match_groups() -> None:
    model = make_model()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[4].parameters()}], lr=0.0
    )
    opt.param_groups[1]["params"].extend(model[1].parameters())
    result = range_test(model, opt, make_batches(), loss_fn, num_steps=12, group_scales=[1.0, 3.0])
    assert np.array_equal(result.lrs[:, 1], result.lrs[:, 0] * 3.0)
    with pytest.raises(ValueError, match=r"group_scales must have one entry per .*3 entries for 2"):
        range_test(model, opt, make_batches(), loss_fn, group_scales=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\] must be positive.*0\.0"):
        range_test(model, opt, make_batches(), loss_fn)


def test_tensor_lr_is_updated_in_place_and_restored() -> None:
    model = make_model()
    lr = torch.tensor(0.01)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    seen: list[float] = []
    model.register_forward_pre_hook(lambda mod, args: seen.append(float(lr)))
    result = range_test(
        model, opt, make_batches(), loss_fn, start_lr=1e-4, num_steps=15, held_out=None
    )
    assert opt.param_groups[0]["lr"] is lr and lr.item() == pytest.approx(0.01)
    assert seen[: result.num_recorded] == [
        float(torch.tensor(v, dtype=torch.float32)) for v in result.lrs[:, 0]
    ]


# --------------------------------------------------------------------------- batches
@dataclasses.dataclass
class Output:
    loss: torch.Tensor
    logits: torch.Tensor


class HFStyle(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = make_model()

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> Output:
        logits = self.net(x)
        return Output(torch.nn.functional.cross_entropy(logits, labels), logits)


@OVERFITS
def test_dict_batches_use_model_output_loss() -> None:
    model = HFStyle()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = [{"x": x, "labels": y} for x, y in make_batches()]
    before = capture(model, opt)
    result = range_test(model, opt, data, num_steps=20)
    assert result.settings["loss"] == "model_output.loss" and result.num_recorded > 0
    assert_same(before, capture(model, opt))
    with pytest.raises(ValueError, match="loss_fn is not used with dict batches"):
        range_test(model, opt, data, loss_fn, num_steps=5)
    assert_same(before, capture(model, opt))


def test_step_fn_with_odd_batches_and_disabled_scaler() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = make_tensors()
    data = [{"inputs": [x[i : i + 32]], "meta": ("m", y[i : i + 32])} for i in range(0, 256, 32)]

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        return loss_fn(m(batch["inputs"][0]), batch["meta"][1])

    scaler = torch.amp.GradScaler("cpu", enabled=False)
    result = range_test(model, opt, data, step_fn=step, scaler=scaler, num_steps=20)
    assert result.settings["loss"] == "step_fn" and result.settings["scaler"] is False
    assert result.num_recorded >= 10


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_enabled_grad_scaler_state_is_restored(storage: str) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=3)
    # scaler not used yet: its scale tensor does not exist (lazy)
    before = capture(model, opt, scaler)
    range_test(model, opt, make_batches(), loss_fn, scaler=scaler, num_steps=20, snapshot=storage)
    assert_same(before, capture(model, opt, scaler))
    assert scaler._scale is None
    # scaler in use, with a grown scale and a growth tracker mid-interval
    train_steps(model, opt, iter(make_batches() * 2), 4, scaler=scaler)
    before = capture(model, opt, scaler)
    assert before["scaler"]["scale"] == 2.0**11 and before["scaler"]["_growth_tracker"] == 1

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = m(batch[0])
        return loss_fn(out.float(), batch[1])

    result = range_test(
        model, opt, make_batches(), step_fn=step, scaler=scaler, num_steps=20, snapshot=storage
    )
    assert result.settings["scaler"] is True
    assert_same(before, capture(model, opt, scaler))


def test_accumulation_records_the_mean_and_sync_defers_the_stop() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    values = iter([float(v) for v in range(100)])
    calls = {"n": 0}

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        calls["n"] += 1
        v = next(values)
        if v == 13.0:
            v = math.nan
        return m(batch[0]).sum() * 0.0 + v

    result = range_test(
        model, opt, make_batches(), step_fn=step, num_steps=30, max_steps=30,
        accumulation_steps=2, sync_every=4, smoothing=0.0, held_out=None,
    )  # fmt: skip
    # step j averages batches 2j, 2j+1: 0.5, 2.5, 4.5, ...; batch 13 is NaN -> step 6 stops
    assert result.losses[:6].tolist() == [0.5, 2.5, 4.5, 6.5, 8.5, 10.5]
    assert math.isnan(result.losses[6]) and result.num_recorded == 7
    assert result.stop_reason == "non_finite"
    assert result.settings["steps_run"] == 8 and calls["n"] == 16  # ran on to the sync point


def test_losses_are_read_once_per_sync_point(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    original = cdist._host_values
    monkeypatch.setattr(
        cdist, "_host_values", lambda losses: reads.append(len(losses)) or original(losses)
    )
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    result = range_test(
        model, opt, make_batches(), loss_fn, end_lr=1e-3, num_steps=25, max_steps=25,
        sync_every=10,
    )  # fmt: skip
    assert result.stop_reason == "num_steps"
    assert reads == [10, 10, 5]


# --------------------------------------------------------------------------- data
def test_data_restarts_when_exhausted() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    data = make_batches(n=96)  # 3 batches
    result = range_test(model, opt, data, loss_fn, end_lr=1e-3, num_steps=10, max_steps=10)
    assert result.num_recorded == 10 and result.settings["data_restarts"] == 3


def test_exhausted_iterator_and_empty_data_raise_clearly() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = capture(model, opt)
    gen = (b for b in make_batches(n=96))
    with pytest.raises(ValueError, match=r"exhausted after 3 batches and cannot be restarted"):
        range_test(model, opt, gen, loss_fn, num_steps=10)
    with pytest.raises(ValueError, match=r"data must yield at least one batch .*list"):
        range_test(model, opt, [], loss_fn, num_steps=10)
    with pytest.raises(ValueError, match=r"data must yield at least one batch .*generator"):
        range_test(model, opt, (b for b in []), loss_fn, num_steps=10)
    assert_same(before, capture(model, opt))


def test_dataloader_with_workers_less_batches_than_steps() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = make_loader(n=64, batch=16)
    result = range_test(model, opt, loader, loss_fn, num_steps=10, max_steps=10, end_lr=1e-2)
    assert result.num_recorded == 10
    assert result.settings["batch_size"] == 16 and result.settings["data_restarts"] == 2


# --------------------------------------------------------------------------- metric
def test_metric_mode_records_metric_and_restores_modes() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    xv, yv = make_tensors(128, seed=7)
    modes: list[bool] = []
    step_modes: list[tuple[bool, bool]] = []
    model.register_forward_pre_hook(
        lambda m, a: (
            step_modes.append((m.training, m[1].training)) if torch.is_grad_enabled() else None
        )
    )

    def accuracy(m: torch.nn.Module) -> float:
        modes.append(any(sub.training for sub in m.modules()) or torch.is_grad_enabled())
        return float((m(xv).argmax(1) == yv).float().mean())

    model[1].eval()  # frozen BatchNorm statistics: the caller's modes are kept and restored
    result = range_test(
        model, opt, make_batches(), loss_fn, start_lr=1e-3, end_lr=1.0, num_steps=20,
        sweep="linear", metric_fn=accuracy, eval_every=5, sync_every=7,
    )  # fmt: skip
    assert modes == [False] * 4
    metrics = result.metrics
    assert metrics is not None and len(metrics) == result.num_recorded
    evaluated = [i for i in range(len(metrics)) if not math.isnan(metrics[i])]
    assert evaluated == [i for i in range(result.num_recorded) if (i + 1) % 5 == 0]
    assert all(0.0 <= metrics[i] <= 1.0 for i in evaluated)
    assert result.settings["metric"].endswith("accuracy") and result.settings["eval_every"] == 5
    # steps run in the caller's modes, the metric in eval mode; the modes come back
    assert set(step_modes) == {(True, False)}
    assert model.training and not model[1].training and model[3].training
    assert result.lrs[1, 0] - result.lrs[0, 0] == pytest.approx((1.0 - 1e-3) / 19)


# --------------------------------------------------------------------------- result
def test_result_round_trips_through_json(tmp_path: Any) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    result = range_test(
        model, opt, make_batches(), loss_fn, num_steps=20, metric_fn=lambda m: 0.5, eval_every=4
    )
    path = tmp_path / "rt.json"
    result.to_json(path)
    again = RangeTestResult.from_json(path)
    assert again == result
    assert again.settings == result.settings
    assert np.array_equal(again.lrs, result.lrs)
    assert RangeTestResult.from_json_text(result.to_json()) == result


# --------------------------------------------------------------------------- snapshot
def test_disk_snapshot_is_private_and_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    seen: list[tuple[str, int]] = []

    def hook(mod: Any, args: Any) -> None:
        for name in os.listdir(tmp_path):
            seen.append((name, stat.S_IMODE(os.stat(tmp_path / name).st_mode)))

    model.register_forward_pre_hook(hook)
    before = capture(model, opt)
    result = range_test(model, opt, make_batches(), loss_fn, num_steps=12, snapshot="disk")
    assert seen and all(n.startswith("cyclr-snapshot-") and mode == 0o700 for n, mode in seen)
    assert os.listdir(tmp_path) == []
    assert result.settings["snapshot"] == "disk"
    assert_same(before, capture(model, opt))


def test_exception_and_interrupt_restore_state() -> None:
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_steps(model, opt, iter(make_batches()), 2)
    before = capture(model, opt)
    count = {"n": 0}

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        count["n"] += 1
        if count["n"] == 7:
            raise KeyboardInterrupt
        if count["n"] == 20:
            raise RuntimeError("data corrupted")
        return loss_fn(m(batch[0]), batch[1])

    with pytest.raises(KeyboardInterrupt):
        range_test(model, opt, make_batches(), step_fn=step, num_steps=30)
    assert_same(before, capture(model, opt))
    with pytest.raises(RuntimeError, match="data corrupted"):
        range_test(model, opt, make_batches(), step_fn=step, num_steps=30)
    assert_same(before, capture(model, opt))


# --------------------------------------------------------------------------- frameworks
def test_lightning_fabric_setup_then_range_test() -> None:
    import lightning

    fabric = lightning.Fabric(accelerator="cpu", devices=1)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    fmodel, fopt = fabric.setup(model, opt)
    loader = fabric.setup_dataloaders(make_loader(shuffle=False))
    before = capture(fmodel, fopt)
    result = range_test(fmodel, fopt, loader, loss_fn, start_lr=1e-4, end_lr=10.0, num_steps=30)
    assert result.num_recorded >= 10 and result.settings["optimizer"].endswith("SGD")
    assert_same(before, capture(fmodel, fopt))


# --------------------------------------------------------------------------- progress
def test_progress_bar_shows_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    range_test(model, opt, make_batches(), loss_fn, end_lr=1e-3, num_steps=12)  # not a tty
    assert capsys.readouterr().err == ""
    range_test(model, opt, make_batches(), loss_fn, end_lr=1e-3, num_steps=12, progress=True)
    err = capsys.readouterr().err
    assert "range test" in err and "12/12" in err
    bar = progress_bar(5, enabled=False)
    bar.update(2)
    bar.set_postfix(loss=1.0)
    bar.close()
    with pytest.raises(TypeError, match="progress must be a bool or None"):
        progress_bar(5, enabled="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total must be positive"):
        progress_bar(0)


# --------------------------------------------------------------------------- length
def test_a_curve_with_no_clear_fall_is_measured_again_three_times_longer() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = capture(model, opt)
    flat = lambda m, batch: m(batch[0]).sum() * 0.0 + 1.0  # noqa: E731
    result = range_test(model, opt, make_batches(), step_fn=flat, num_steps=10, progress=False)
    assert result.settings["steps_tried"] == [10, 30, 90]
    # Nothing to confirm (by default on batches held aside): no warning, no confirmation.
    assert result.confirmation is None and result.settings["held_out"].startswith("auto:")
    assert result.settings["steps_run_total"] == 130 and result.num_recorded == 90
    assert result.settings["num_steps"] == 90
    assert_same(before, capture(model, opt))
    once = range_test(model, opt, make_batches(), step_fn=flat, num_steps=10, max_steps=29)
    assert once.settings["steps_tried"] == [10]


def test_a_readable_curve_is_not_run_again() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    result = range_test(model, opt, make_batches(), loss_fn, start_lr=1e-4, num_steps=60)
    result.suggest()
    assert result.settings["steps_tried"] == [60]


def test_an_interrupt_during_a_longer_rerun_still_restores_everything() -> None:
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    before = capture(model, opt)
    calls = {"n": 0}

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 25:  # inside the second, 30-step test
            raise KeyboardInterrupt
        return m(batch[0]).sum() * 0.0 + 1.0

    with pytest.raises(KeyboardInterrupt):
        range_test(model, opt, make_batches(), step_fn=step, num_steps=10, progress=False)
    assert_same(before, capture(model, opt))


@pytest.mark.parametrize(
    ("num_steps", "max_steps", "error", "match"),
    [
        (100, 50, ValueError, r"max_steps must be at least num_steps \(got num_steps=100, "),
        (100, 1, ValueError, r"max_steps must be >= 2 \(got max_steps=1\)"),
        (100, 300.0, TypeError, r"max_steps must be an integer \(got max_steps=300.0\)"),
    ],
)
def test_bad_max_steps_is_refused_by_name(
    num_steps: int, max_steps: Any, error: type[Exception], match: str
) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(error, match=match):
        range_test(model, opt, make_batches(), loss_fn, num_steps=num_steps, max_steps=max_steps)
