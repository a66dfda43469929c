"""RangeTestCallback with a real lightning.Trainer on CPU."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning
import pytest
import torch
from tests.lightning.lightning_support import (
    BATCHES_PER_EPOCH,
    Module,
    Probe,
    make_loader,
    make_trainer,
    same_weights,
    weights,
)

import cyclr.lightning.callback
from cyclr import ExpRange, OneCycle, RangeTestResult, Triangular2
from cyclr.lightning import RangeTestCallback
from cyclr.rangetest.plan import smith_gamma
from cyclr.torch import Scheduler

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),
]

SWEEP = dict(start_lr=1e-4, end_lr=10.0, num_steps=60, max_steps=60, sync_every=5)


@pytest.mark.parametrize("own_generator", [False, True], ids=["global-rng", "own-generator"])
def test_trains_at_the_suggestion_and_leaks_no_training(
    tmp_path: Path, own_generator: bool
) -> None:
    module = Module(lr=0.01)
    before = weights(module)
    callback, probe = RangeTestCallback(**SWEEP), Probe()
    torch.manual_seed(5)
    make_trainer(tmp_path / "a", [callback, probe], max_epochs=2).fit(
        module, make_loader(True, own_generator)
    )

    assert callback.result is not None and callback.suggestion is not None
    lr = callback.suggestion.lr
    assert lr == callback.result.suggest().lr
    assert callback.result.settings["num_steps"] == 60
    assert not math.isclose(lr, 0.01)
    assert module.seen == [lr] * (2 * BATCHES_PER_EPOCH)  # the LR that trains
    assert module.hparams.lr == lr  # as Lightning's tuner does
    assert same_weights(probe.weights, before)  # the run starts from the untouched model
    assert probe.optimizer_state["state"] == {}  # no momentum buffers from the test

    # The same run without the callback, at the suggested LR, ends bit for bit the same:
    # weights, optimizer and every RNG the data order and dropout draw from were restored.
    plain = Module(lr=lr)
    torch.manual_seed(5)
    make_trainer(tmp_path / "b", [], max_epochs=2).fit(plain, make_loader(True, own_generator))
    assert same_weights(weights(plain), weights(module))
    assert plain.seen == module.seen


@pytest.mark.parametrize(
    ("kind", "kwargs", "accumulate", "expected"),
    [
        ("onecycle", {}, 1, "OneCycle"),
        ("triangular2", {"epochs_per_half_cycle": 2}, 2, "Triangular2"),
        ("exp_range", {"epochs_per_half_cycle": 2}, 1, "ExpRange"),
    ],
    ids=["onecycle", "triangular2-accumulate-2", "exp_range-smith-gamma"],
)
def test_schedule_is_installed_and_stepped_every_optimizer_step(
    tmp_path: Path, kind: str, kwargs: dict[str, Any], accumulate: int, expected: str
) -> None:
    module = Module()
    callback = RangeTestCallback(schedule=kind, schedule_kwargs=kwargs or None, **SWEEP)
    trainer = make_trainer(tmp_path, [callback], max_epochs=4, accumulate_grad_batches=accumulate)
    trainer.fit(module, make_loader())

    result = callback.result
    assert result is not None and isinstance(callback.scheduler, Scheduler)
    (config,) = trainer.lr_scheduler_configs
    assert config.scheduler is callback.scheduler and config.interval == "step"
    (schedule,) = callback.scheduler.schedules
    assert type(schedule).__name__ == expected
    per_epoch = BATCHES_PER_EPOCH // accumulate
    steps = 4 * per_epoch
    assert trainer.estimated_stepping_batches == steps
    # The same call the README recommends: fitted to the run's length.
    assert schedule == result.schedule(kind, per_epoch, total_steps=steps, **kwargs)
    if kind == "onecycle":
        assert isinstance(schedule, OneCycle)
        assert schedule.total_steps == steps
    elif kind == "exp_range":
        assert isinstance(schedule, ExpRange)
        assert schedule.gamma == smith_gamma(schedule.step_size_up)
    else:
        assert isinstance(schedule, Triangular2)
        # Four epochs: one whole cycle of two epochs up and two down, ending at base_lr.
        assert schedule.step_size_up == schedule.step_size_down == 2 * per_epoch
        assert schedule(steps) == pytest.approx(schedule.base_lr)
    # One LR per optimizer step: each batch of an accumulation window sees the same one.
    per_step = [schedule(i) for i in range(steps)]
    assert module.seen == [lr for lr in per_step for _ in range(accumulate)]
    assert callback.scheduler.last_epoch == steps
    assert len(set(per_step)) > 1


def test_result_is_saved_beside_the_checkpoints(tmp_path: Path) -> None:
    checkpoints = tmp_path / "ckpts"
    callback = RangeTestCallback(**SWEEP)
    saver = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=checkpoints)
    make_trainer(tmp_path, [callback, saver], enable_checkpointing=True).fit(
        Module(), make_loader()
    )
    assert callback.path == checkpoints / "range_test.json"
    assert RangeTestResult.from_json(checkpoints / "range_test.json") == callback.result
    assert any(p.suffix == ".ckpt" for p in checkpoints.iterdir())


def test_without_checkpoints_the_result_goes_to_the_log_dir(tmp_path: Path) -> None:
    callback = RangeTestCallback(filename="lr.json", **SWEEP)
    make_trainer(tmp_path, [callback]).fit(Module(), make_loader())
    assert callback.path == tmp_path / "lr.json"
    assert RangeTestResult.from_json(tmp_path / "lr.json") == callback.result


@pytest.mark.filterwarnings("ignore:The dirpath has changed:UserWarning")
def test_resume_reuses_the_result_and_continues_the_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []
    real = cyclr.lightning.callback.range_test

    def counted(*args: Any, **kwargs: Any) -> RangeTestResult:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cyclr.lightning.callback, "range_test", counted)

    def saver(name: str) -> Any:
        return lightning.pytorch.callbacks.ModelCheckpoint(
            dirpath=tmp_path / name, save_top_k=-1, every_n_epochs=1
        )

    first, full = RangeTestCallback(schedule="onecycle", **SWEEP), Module()
    options: dict[str, Any] = dict(max_epochs=2, enable_checkpointing=True)
    make_trainer(tmp_path, [first, saver("ckpts")], **options).fit(full, make_loader())
    checkpoint = tmp_path / "ckpts" / f"epoch=0-step={BATCHES_PER_EPOCH}.ckpt"
    assert checkpoint.exists() and runs == [1]

    second, resumed = RangeTestCallback(schedule="onecycle", **SWEEP), Module()
    make_trainer(tmp_path, [second, saver("resumed")], **options).fit(
        resumed, make_loader(), ckpt_path=checkpoint
    )
    assert runs == [1]  # not tested again
    assert second.result == first.result
    assert second.scheduler is not None
    assert second.scheduler.last_epoch == 2 * BATCHES_PER_EPOCH
    assert resumed.seen == full.seen[BATCHES_PER_EPOCH:]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_steps": 1}, ValueError, "num_steps"),
        ({"start_lr": -1.0}, ValueError, "start_lr"),
        ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "end_lr"),
        ({"sweep": "log"}, ValueError, "sweep"),
        ({"num_steps": 50, "max_steps": 20}, ValueError, "max_steps"),
        ({"sync_every": 0}, ValueError, "sync_every=0"),
        ({"snapshot": "gpu"}, ValueError, "snapshot='gpu'"),
        ({"method": "best"}, ValueError, "method='best'"),
        ({"schedule": "cosine"}, ValueError, "schedule='cosine'"),
        ({"schedule_kwargs": {"pct_start": 0.3}}, ValueError, "schedule=None"),
        ({"schedule": "onecycle", "schedule_kwargs": {"total_steps": 9}}, ValueError, "total"),
        ({"schedule": "onecycle", "schedule_kwargs": [1]}, TypeError, "schedule_kwargs="),
        ({"update_attr": "yes"}, TypeError, "update_attr='yes'"),
        ({"progress": 1}, TypeError, "progress=1"),
        ({"attr_name": None}, TypeError, "attr_name=None"),
        ({"dirpath": 3}, TypeError, "dirpath=3"),
        ({"filename": "a/b.json"}, ValueError, "filename='a/b.json'"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(map(str, v.items())),
)
def test_bad_arguments_raise_at_construction(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match.replace("[", r"\[").replace("(", r"\(")):
        RangeTestCallback(**kwargs)


@pytest.mark.parametrize(
    ("module_kwargs", "callback_kwargs", "match"),
    [
        ({"manual": True}, {}, "automatic_optimization=False"),
        ({"scheduler": True}, {"schedule": "onecycle"}, "got StepLR"),
        ({}, {"attr_name": "base_lr"}, "attr_name='base_lr'"),
    ],
    ids=["manual-optimization", "own-scheduler", "missing-attr"],
)
def test_bad_setups_raise_when_fit_starts(
    tmp_path: Path, module_kwargs: dict[str, Any], callback_kwargs: dict[str, Any], match: str
) -> None:
    callback = RangeTestCallback(**SWEEP, **callback_kwargs)
    with pytest.raises(ValueError, match=match):
        make_trainer(tmp_path, [callback]).fit(Module(**module_kwargs), make_loader())


def test_a_run_that_fits_no_whole_cycle_keeps_the_half_cycle_and_says_so(
    tmp_path: Path,
) -> None:
    # 167 steps of 8 per epoch: one cycle would be 10.4 epochs per half, and no divisor of
    # 167 gives 2 to 10. The run is not refused; the half cycle stays at 4 epochs.
    callback = RangeTestCallback(schedule="triangular", **SWEEP)
    trainer = make_trainer(tmp_path, [callback], max_epochs=100, max_steps=167)
    with pytest.warns(UserWarning, match=r"splits into no whole number of cycles.*4 epochs"):
        trainer.fit(Module(), make_loader())
    assert callback.scheduler is not None
    (schedule,) = callback.scheduler.schedules
    assert schedule.step_size_up == 4 * BATCHES_PER_EPOCH


def test_a_half_cycle_out_of_range_is_named_before_any_fitting(tmp_path: Path) -> None:
    callback = RangeTestCallback(
        schedule="triangular", schedule_kwargs={"epochs_per_half_cycle": 20}, **SWEEP
    )
    trainer = make_trainer(tmp_path, [callback], max_epochs=100, max_steps=167)
    with pytest.raises(
        ValueError,
        match=r"epochs_per_half_cycle must be in \[2, 10\].*got epochs_per_half_cycle=20\)",
    ):
        trainer.fit(Module(), make_loader())
