"""RangeTestCallback(confirm=True): the suggestion confirmed on the validation batches."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import pytest
import torch
from tests.lightning.lightning_support import (
    BATCHES_PER_EPOCH,
    VAL_BATCHES,
    DictModule,
    Module,
    Probe,
    ValModule,
    make_loader,
    make_trainer,
    make_val_loader,
    same_weights,
    weights,
)

import cyclr.lightning.callback
from cyclr import OneCycle, RangeTestResult
from cyclr.lightning import RangeTestCallback
from cyclr.rangetest.confirm import Confirmation

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),
]

SWEEP = dict(start_lr=1e-4, end_lr=10.0, num_steps=60, max_steps=60, sync_every=5)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every ``range_test`` call the callback makes."""
    seen: list[dict[str, Any]] = []
    real = cyclr.lightning.callback.range_test

    def recorded(*args: Any, **kwargs: Any) -> RangeTestResult:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(cyclr.lightning.callback, "range_test", recorded)
    return seen


def test_trains_at_the_confirmed_lr_and_leaks_no_training(
    tmp_path: Path, calls: list[dict[str, Any]]
) -> None:
    module = ValModule(lr=0.01)
    before = weights(module)
    callback, probe = RangeTestCallback(confirm=True, **SWEEP), Probe()
    torch.manual_seed(5)
    trainer = make_trainer(tmp_path / "a", [callback, probe], max_epochs=2)
    trainer.fit(module, make_loader(True), make_val_loader())

    result = callback.result
    assert result is not None and result.confirmation is not None
    assert callback.suggestion is not None and callback.suggestion.method == "confirmed"
    lr = result.confirmation.lr
    assert callback.suggestion.lr == lr
    c = result.confirmation
    assert c.candidates[0] <= lr <= c.candidates[-1]
    assert module.seen == [lr] * (2 * BATCHES_PER_EPOCH)  # in the optimizer
    assert module.hparams.lr == lr  # and the module's attribute
    assert same_weights(probe.weights, before)  # the run starts from the untouched model
    assert probe.optimizer_state["state"] == {}

    # Held out: the validation loader's batches, all 4 of them (fewer than the 8 asked
    # for), as (batch, batch_idx) in order, on the module's device.
    (kwargs,) = calls
    held = kwargs["held_out"]
    assert [i for _, i in held] == list(range(VAL_BATCHES))
    for (x, y), i in held:
        expected_x, expected_y = make_val_loader().dataset[i * 8 : (i + 1) * 8]
        assert torch.equal(x, expected_x) and torch.equal(y, expected_y)
    assert len(result.confirmation.held_out_losses[0]) == 4  # after 10, 20, 30, 40 steps

    # The same run without the callback, at the confirmed LR, ends bit for bit the same:
    # reading the validation batches drew no random number the run would have drawn.
    plain = ValModule(lr=lr)
    torch.manual_seed(5)
    make_trainer(tmp_path / "b", [], max_epochs=2).fit(plain, make_loader(True), make_val_loader())
    assert same_weights(weights(plain), weights(module))
    assert plain.seen == module.seen

    # The JSON file carries the confirmation.
    assert callback.path is not None
    assert "confirmation" in json.loads(callback.path.read_text())
    saved = RangeTestResult.from_json(callback.path)
    assert saved == result and saved.confirmation == result.confirmation


def test_held_out_batches_and_limit_val_batches_cap_the_batches(
    tmp_path: Path, calls: list[dict[str, Any]]
) -> None:
    callback = RangeTestCallback(confirm=True, held_out_batches=2, **SWEEP)
    make_trainer(tmp_path / "a", [callback]).fit(ValModule(), make_loader(), make_val_loader())
    assert [i for _, i in calls[0]["held_out"]] == [0, 1]

    callback = RangeTestCallback(confirm=True, **SWEEP)
    trainer = make_trainer(tmp_path / "b", [callback], limit_val_batches=3)
    trainer.fit(ValModule(), make_loader(), make_val_loader())
    assert [i for _, i in calls[1]["held_out"]] == [0, 1, 2]


def test_batches_go_through_the_modules_batch_hooks(
    tmp_path: Path, calls: list[dict[str, Any]]
) -> None:
    # DictModule's steps only take what its on_before_batch_transfer makes of a batch.
    callback = RangeTestCallback(confirm=True, **SWEEP)
    make_trainer(tmp_path, [callback]).fit(DictModule(), make_loader(), make_val_loader())
    assert callback.result is not None and callback.result.confirmation is not None
    assert all(set(batch) == {"x", "y"} for batch, _ in calls[0]["held_out"])


def test_schedule_spans_the_confirmations_bounds(tmp_path: Path) -> None:
    callback = RangeTestCallback(confirm=True, schedule="onecycle", **SWEEP)
    trainer = make_trainer(tmp_path, [callback], max_epochs=2)
    trainer.fit(ValModule(), make_loader(), make_val_loader())
    result = callback.result
    assert result is not None and result.confirmation is not None
    assert callback.scheduler is not None
    (schedule,) = callback.scheduler.schedules
    assert isinstance(schedule, OneCycle)
    base, peak = result.confirmation.bounds()
    assert schedule.max_lr == peak
    assert schedule(0) == pytest.approx(base)


@pytest.mark.parametrize(
    ("module", "val", "options", "missing"),
    [
        (ValModule, False, {}, "val_dataloaders=None"),
        (ValModule, True, {"limit_val_batches": 0}, "limit_val_batches=0"),
        (Module, True, {}, "Module has no validation_step"),
    ],
    ids=["no-val-loader", "limit_val_batches-0", "no-validation_step"],
)
@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
@pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`")
def test_without_validation_batches_fit_fails_before_any_step(
    tmp_path: Path,
    calls: list[dict[str, Any]],
    module: type[Module],
    val: bool,
    options: dict[str, Any],
    missing: str,
) -> None:
    model = module()
    callback = RangeTestCallback(confirm=True, **SWEEP)
    trainer = make_trainer(tmp_path, [callback], **options)
    with pytest.raises(ValueError, match=r"confirm=True needs validation batches") as info:
        trainer.fit(model, make_loader(), make_val_loader() if val else None)
    assert missing in str(info.value)
    assert calls == [] and model.seen == []  # no range-test step, no training step


def test_more_than_one_process_fails_before_any_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(lightning.Trainer, "world_size", property(lambda self: 2))
    module, callback = ValModule(), RangeTestCallback(confirm=True, **SWEEP)
    with pytest.raises(ValueError, match=r"confirm=True runs on a single process.*world_size=2"):
        make_trainer(tmp_path, [callback]).fit(module, make_loader(), make_val_loader())
    assert calls == [] and module.seen == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"confirm": "yes"}, TypeError, "confirm must be a bool or None (got confirm='yes')"),
        ({"confirm": 1}, TypeError, "confirm=1"),
        ({"held_out_batches": 0}, ValueError, "held_out_batches must be positive"),
        ({"held_out_batches": 1.5}, TypeError, "held_out_batches=1.5"),
        (
            {"confirm_steps": 0},
            ValueError,
            "confirm_steps must be positive (got confirm_steps=0)",
        ),
        ({"held_out_batches": True}, TypeError, "held_out_batches=True"),
        ({"method": "confirmed"}, ValueError, "method='confirmed' needs confirm=True"),
        ({"method": "best", "confirm": True}, ValueError, "'confirmed' (got method='best')"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(map(str, v.items())),
)
def test_bad_confirm_arguments_raise_at_construction(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match.replace("(", r"\(").replace(")", r"\)")):
        RangeTestCallback(**kwargs)


def test_method_confirmed_is_accepted_with_confirm() -> None:
    callback = RangeTestCallback(confirm=True, method="confirmed", held_out_batches=3)
    assert callback.confirm and callback.method == "confirmed" and callback.held_out_batches == 3
    assert "confirm=True, held_out_batches=3" in repr(callback)
    assert "confirm" not in repr(RangeTestCallback())


@pytest.mark.filterwarnings("ignore:The dirpath has changed:UserWarning")
def test_resume_keeps_the_confirmation(tmp_path: Path, calls: list[dict[str, Any]]) -> None:
    def saver(name: str) -> Any:
        return lightning.pytorch.callbacks.ModelCheckpoint(
            dirpath=tmp_path / name, save_top_k=-1, every_n_epochs=1
        )

    settings: dict[str, Any] = dict(confirm=True, method="confirmed", schedule="onecycle", **SWEEP)
    options: dict[str, Any] = dict(max_epochs=2, enable_checkpointing=True)
    first, full = RangeTestCallback(**settings), ValModule()
    make_trainer(tmp_path, [first, saver("ckpts")], **options).fit(
        full, make_loader(), make_val_loader()
    )
    checkpoint = tmp_path / "ckpts" / f"epoch=0-step={BATCHES_PER_EPOCH}.ckpt"
    assert checkpoint.exists() and len(calls) == 1
    assert first.result is not None and first.result.confirmation is not None

    second, resumed = RangeTestCallback(**settings), ValModule()
    make_trainer(tmp_path, [second, saver("resumed")], **options).fit(
        resumed, make_loader(), make_val_loader(), ckpt_path=checkpoint
    )
    assert len(calls) == 1  # not tested again
    assert second.result == first.result
    assert second.result is not None
    assert second.result.confirmation == first.result.confirmation
    assert second.suggestion == first.suggestion
    assert second.suggestion is not None and second.suggestion.method == "confirmed"
    assert second.scheduler is not None and first.scheduler is not None
    assert second.scheduler.schedules == first.scheduler.schedules
    assert resumed.seen == full.seen[BATCHES_PER_EPOCH:]


def test_state_dict_round_trips_the_confirmation(tmp_path: Path) -> None:
    first = RangeTestCallback(confirm=True, **SWEEP)
    make_trainer(tmp_path, [first]).fit(ValModule(), make_loader(), make_val_loader())
    second = RangeTestCallback(confirm=True)
    second.load_state_dict(first.state_dict())
    assert second.result == first.result and second.suggestion == first.suggestion
    assert second.result is not None and second.result.confirmation is not None


def test_method_confirmed_refuses_an_unconfirmed_checkpoint_by_name(tmp_path: Path) -> None:
    first = RangeTestCallback(confirm=False, **SWEEP)  # no confirmation in its result
    make_trainer(tmp_path, [first]).fit(ValModule(), make_loader(), make_val_loader())
    second = RangeTestCallback(confirm=True, method="confirmed")
    with pytest.raises(ValueError, match=r"cannot resume from this checkpoint: its range-test"):
        second.load_state_dict(first.state_dict())
    assert second.result is None and second.suggestion is None
    third = RangeTestCallback(confirm=True)  # the default method reads what is there
    third.load_state_dict(first.state_dict())
    assert third.suggestion == first.suggestion


@pytest.mark.filterwarnings("ignore:Total length of `DataLoader` across ranks is zero")
def test_an_empty_validation_loader_fails_before_any_step(
    tmp_path: Path, calls: list[dict[str, Any]]
) -> None:
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 8)))
    module, callback = ValModule(), RangeTestCallback(confirm=True, **SWEEP)
    with pytest.raises(ValueError, match=r"confirm=True needs at least one validation batch"):
        make_trainer(tmp_path, [callback]).fit(module, make_loader(), empty)
    assert calls == [] and module.seen == []


class AugmentingModule(ValModule):
    """Shifts the inputs a little in ``on_after_batch_transfer`` while training only."""

    augmented = 0

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch
        if not self.trainer.training:
            return x, y
        self.augmented += 1
        return x + 1e-3, y


def test_held_out_batches_are_moved_in_the_validating_stage(
    tmp_path: Path, calls: list[dict[str, Any]]
) -> None:
    # A module that augments in its transfer hook only while training must not have its
    # held-out batches augmented: they are validation data.
    callback = RangeTestCallback(confirm=True, held_out_batches=2, **SWEEP)
    module = AugmentingModule()
    make_trainer(tmp_path, [callback]).fit(module, make_loader(), make_val_loader())
    val_x = torch.cat([x for x, _ in make_val_loader()])
    held_x = torch.cat([batch[0] for batch, _ in calls[0]["held_out"]])
    assert torch.equal(held_x, val_x[: len(held_x)])
    assert module.augmented > 0  # the training batches still went through it


def _overfitting_result() -> RangeTestResult:
    """A confirmed result whose candidates at 0.02 and 0.05 overfit within the window."""
    lrs = np.logspace(-6, 0, 61)
    losses = 2.0 - np.tanh(np.log10(lrs) + 3.0)
    held = ((1.5, 1.3, 1.2, 1.1), (1.4, 1.0, 1.1, 1.2), (1.2, 1.3, 1.4, 1.5))
    scores = tuple(run[-1] for run in held)
    confirmation = Confirmation(0.02, 0.02, (0.01, 0.02, 0.05), scores, 40, 120, held)
    settings = {"steps_run_total": 61}
    return RangeTestResult(lrs, losses, losses, None, "num_steps", settings, 1.0, confirmation)


def test_a_confirmed_lr_is_fitted_to_the_trainers_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _overfitting_result()
    asked: list[Any] = []

    def fake_range_test(*args: Any, total_steps: Any = None, **kwargs: Any) -> RangeTestResult:
        asked.append(total_steps)
        return dataclasses.replace(plain, settings={**plain.settings, "total_steps": total_steps})

    monkeypatch.setattr(cyclr.lightning.callback, "range_test", fake_range_test)
    module, callback = ValModule(lr=0.5), RangeTestCallback(confirm=True, **SWEEP)
    make_trainer(tmp_path, [callback], max_epochs=5).fit(module, make_loader(), make_val_loader())
    total = 5 * BATCHES_PER_EPOCH
    fitted = plain.suggest(total_steps=total)
    assert asked == [total] and callback.total_steps == total
    assert fitted.lr == pytest.approx(0.45 / total) and fitted.lr < plain.suggest().lr
    assert callback.suggestion == fitted and module.seen == [fitted.lr] * total
    assert callback.path is not None  # the saved file gives the same answer
    assert RangeTestResult.from_json(callback.path).suggest() == fitted
    resumed = RangeTestCallback(confirm=True, **SWEEP)
    resumed.load_state_dict(callback.state_dict())
    assert resumed.suggestion == fitted
    named = RangeTestCallback(confirm=True, method="bottom", **SWEEP)
    named.load_state_dict(callback.state_dict())
    assert named.suggestion == plain.suggest("bottom")


@pytest.mark.parametrize("kind", ["triangular2", "onecycle"])
def test_every_param_group_gets_group_zeros_fitted_schedule_times_its_scale(kind: str) -> None:
    plain = _overfitting_result()
    result = dataclasses.replace(plain, settings={**plain.settings, "group_scales": [1.0, 0.5]})
    options = {"total_steps": 400} if kind == "onecycle" else {}
    first, other = result.group_schedules(kind, 100, **options)
    assert first == result.schedule(kind, 100, **options)
    steps = np.arange(400)
    assert np.allclose(other(steps), 0.5 * first(steps), rtol=1e-12, atol=0)
    if kind == "onecycle":  # fitted to the run's length: below the window's bounds
        assert first.max_lr < result.confirmation.bounds()[1]  # type: ignore[attr-defined,union-attr]


def test_by_default_it_confirms_on_validation_batches_where_the_trainer_has_them(
    tmp_path: Path,
) -> None:
    callback = RangeTestCallback(**SWEEP)
    make_trainer(tmp_path, [callback]).fit(ValModule(), make_loader(), make_val_loader())
    result = callback.result
    assert result is not None and result.confirmation is not None
    assert callback.suggestion is not None and callback.suggestion.method == "confirmed"
    assert "held_out" not in result.settings  # validation batches, nothing held aside


def test_by_default_without_validation_it_confirms_on_train_batches_held_aside(
    tmp_path: Path,
) -> None:
    callback, probe = RangeTestCallback(**SWEEP), Probe()
    module = Module()
    before = weights(module)
    make_trainer(tmp_path, [callback, probe]).fit(module, make_loader(True))
    result = callback.result
    assert result is not None and result.confirmation is not None
    assert result.settings["held_out"] == "auto: the first batch (8 examples) held aside"
    assert callback.suggestion is not None and callback.suggestion.method == "confirmed"
    assert same_weights(probe.weights, before)  # nothing of the test leaks into the run


def test_by_default_several_processes_read_the_curve_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    callback = RangeTestCallback(**SWEEP)
    monkeypatch.setattr(lightning.Trainer, "world_size", property(lambda self: 2))
    assert callback._held_out(make_trainer(tmp_path, [])) is None


def test_by_default_a_loader_too_short_to_hold_aside_reads_the_curve_quietly(
    tmp_path: Path,
) -> None:
    # Nothing can be held aside from 4 batches; the callback chose held_out="auto" and
    # passed the run's length itself, so their going unused is not the user's to hear.
    short = torch.utils.data.DataLoader(make_loader().dataset, batch_size=16)
    callback = RangeTestCallback(**SWEEP)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        make_trainer(tmp_path, [callback]).fit(Module(), short)
    assert callback.result is not None and callback.result.confirmation is None
    assert callback.result.settings["held_out"].startswith("none held aside: a pass has 4")


def test_with_the_run_s_length_unknown_the_notice_asks_the_trainer_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.rangetest.test_horizon import OVERFIT, _result

    overfit = _result(OVERFIT)  # two candidates turned up: 22 steps at its LR, 0.02
    monkeypatch.setattr(cyclr.lightning.callback, "_run_length", lambda trainer: None)
    monkeypatch.setattr(cyclr.lightning.callback, "range_test", lambda *a, **k: overfit)
    callback = RangeTestCallback(confirm=True, **SWEEP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_trainer(tmp_path, [callback]).fit(ValModule(), make_loader(), make_val_loader())
    notices = [str(w.message) for w in caught if "held-out minimum" in str(w.message)]
    assert len(notices) == 1 and "after about 22 steps" in notices[0]
    assert "run length is unknown" in notices[0] and "max_steps or max_epochs" in notices[0]
    assert "range_test(" not in notices[0]  # not advice a callback user can follow


def test_with_the_run_s_length_known_the_callback_fits_the_lr_and_says_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.rangetest.test_horizon import OVERFIT, _result

    fitted = dataclasses.replace(_result(OVERFIT), settings={"total_steps": 450})
    monkeypatch.setattr(cyclr.lightning.callback, "range_test", lambda *a, **k: fitted)
    callback = RangeTestCallback(confirm=True, **SWEEP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_trainer(tmp_path, [callback]).fit(ValModule(), make_loader(), make_val_loader())
    assert not [w for w in caught if "held-out minimum" in str(w.message)]
    assert callback.suggestion is not None
    assert callback.suggestion.lr == pytest.approx(0.45 / 450)
