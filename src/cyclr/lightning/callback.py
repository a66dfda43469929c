"""The callback: the range test at ``on_fit_start``, then the LR and the schedule."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.parsing import lightning_hasattr, lightning_setattr
from lightning.pytorch.utilities.signature_utils import is_param_in_hook_signature
from lightning.pytorch.utilities.types import LRSchedulerConfig

from .._held_aside import AUTO
from .._validate import check_choice, check_count, check_type
from ..rangetest import METHODS, RangeTestResult
from ..rangetest.confirm import CONFIRM_STEPS
from ..rangetest.confirm_stage import overfitting_notice
from ..rangetest.rules import Suggestion
from ..rangetest.spec import DEFAULTS, RangeTestSpec
from ..torch import Scheduler, range_test
from ._support import (
    _check_no_scheduler,
    _check_schedule_kwargs,
    _clip_hook,
    _fitted_kwargs,
    _loss_of,
    _range_test_mode,
    _run_length,
    _single_optimizer,
    _TrainBatches,
    _validation_batches,
)

__all__ = ["SCHEDULES", "RangeTestCallback"]

SCHEDULES = ("triangular", "triangular2", "exp_range", "onecycle")
"""The ``schedule=`` kinds, those of :meth:`~cyclr.RangeTestResult.schedule`."""

_SNAPSHOTS = ("memory", "disk")
_LR_ATTRS = ("lr", "learning_rate")


class RangeTestCallback(pl.Callback):
    """Run the LR range test at the start of ``fit`` and train at what it suggests.

    At ``on_fit_start`` the callback:

    1. runs :func:`cyclr.torch.range_test` with ``step_fn`` calling the module's
       ``training_step`` (through the strategy, so precision autocast and DDP apply)
       on the trainer's train dataloader, with the trainer's
       ``accumulate_grad_batches``, gradient clipping and ``GradScaler``; ``self.log``
       is muted meanwhile. By default the curve's suggestion is then confirmed
       (below): on validation batches where the trainer has them, else on train
       batches held aside. Afterwards the model, optimizer,
       scaler and RNGs are exactly as before: no training leaks into the run;
    2. saves the result to ``dirpath / filename`` on global rank 0 (``dirpath``
       defaults to the checkpoint callback's directory, else ``trainer.log_dir``);
    3. sets ``result.suggest(method).lr`` into the optimizer (each param group keeps
       its ratio to group 0) and into the module's ``attr_name`` (``lr`` or
       ``learning_rate`` by default, in the module or its ``hparams``, when it has
       one), as Lightning's tuner does. When it confirms, the range test gets
       ``total_steps=trainer.estimated_stepping_batches`` when that is known, so a
       confirmed LR is fitted to the run's length (:mod:`cyclr.rangetest.horizon`:
       lowered only where the candidates overfit within the confirmation), and the
       saved result keeps it;
    4. with ``schedule=kind``, installs ``cyclr.torch.Scheduler(optimizer,
       result.schedule(kind, steps_per_epoch, **schedule_kwargs))`` stepping after every
       optimizer step (``interval="step"``), where ``steps_per_epoch =
       ceil(num_training_batches / accumulate_grad_batches)``; ``"onecycle"`` also gets
       ``total_steps = trainer.estimated_stepping_batches`` (which fits confirmed bounds
       to the run's length), and so do the cyclical kinds when that is known and
       ``schedule_kwargs`` sets no ``step_size_up``: whole cycles with half cycles of 2 to
       10 epochs, the closest to ``epochs_per_half_cycle`` (4), ending at ``base_lr``
       with the run, as :meth:`~cyclr.RangeTestResult.schedule` fits them (a run whose
       step count splits into no such cycles keeps ``epochs_per_half_cycle``, with a
       warning). The schedule then sets the LR; step 3 is still applied first.

    **Confirmation** (``confirm=None``, the default, or ``True``). A range test sees each
    LR for a step or two; :func:`cyclr.torch.range_test` with ``held_out=`` then trains
    five candidates around the curve's suggestion for 40 steps each, from the restored
    state, and reads the LR from their held-out losses (see
    :mod:`cyclr.rangetest.confirm`). The held-out batches are the first
    ``held_out_batches`` batches of the trainer's validation dataloader(s) (all of them
    if there are fewer), set up as the validation loop sets them up
    (``limit_val_batches`` and the batch transfer hooks apply) and reused by it; their
    loss is the ``training_step`` loss, in eval mode under ``no_grad``, with ``self.log``
    muted. ``confirm=True`` needs them: the module needs a ``validation_step`` and the
    trainer validation data, as Lightning needs them to validate, and a single process.
    ``confirm=None`` uses them when the trainer validates, and otherwise the train
    dataloader's first batches, held aside and never trained on
    (``range_test(..., held_out="auto")``, :mod:`cyclr._held_aside`); with several
    processes it reads the curve alone (each rank would score its own batches).
    ``result.settings["held_out"]`` says which. The result then carries
    :attr:`~cyclr.RangeTestResult.confirmation`: ``method=None`` applies the confirmed
    LR (method ``"confirmed"``), ``schedule=kind`` spans the confirmation's bounds, and
    the JSON file and the checkpoint state keep it. It costs about 200 training steps
    more. ``confirm=False`` reads the curve alone, as Smith does.

    **Resuming.** The result is kept in the callback's checkpoint state. A fit resumed
    with ``ckpt_path`` does not test again: it reinstalls the same schedule, and the
    checkpoint restores the optimizer's LR and the scheduler's step. (Strategies that
    restore checkpoints after setup, such as DeepSpeed, load the callback state too
    late and test again; the checkpoint then still restores the LR and step.)

    **Distributed.** Every rank runs the test (the losses are averaged over ranks, so
    all agree on the result); only global rank 0 writes the file. ``confirm=True`` is
    refused with more than one process; the default then reads the curve alone.

    The module must use automatic optimization with one optimizer. With
    ``trainer.fast_dev_run`` the test is skipped with a warning, as Lightning's tuner
    does. The range-test arguments are those of :func:`cyclr.torch.range_test`.

    Args:
        start_lr: Group 0's LR at the first step of the sweep.
        end_lr: Group 0's LR at the last step.
        num_steps: Optimizer steps in the sweep.
        max_steps: Longest rerun when the curve shows no clear fall (``None``:
            ``9 * num_steps``).
        sweep: ``"exp"`` or ``"linear"``.
        smoothing: EMA factor of the smoothed loss.
        diverge_factor: Divergence threshold of the stopping rule.
        sync_every: Steps between host reads of the losses.
        snapshot: ``"memory"`` or ``"disk"``: where the saved training state lives.
        method: Suggestion rule, one of :data:`cyclr.rangetest.METHODS`, ``"confirmed"``
            (only with ``confirm=True``), or ``None`` for the default: the confirmed
            LR when there is a confirmation, else the curve's default rule. A named rule
            reads the curve even when confirmed; ``schedule=`` still uses the
            confirmation's bounds.
        schedule: ``None`` (keep the suggested LR, or your own scheduler) or one of
            :data:`SCHEDULES`.
        schedule_kwargs: Overrides passed to :meth:`~cyclr.RangeTestResult.schedule`
            (``epochs_per_half_cycle``, ``gamma``, ``pct_start``, ...); not
            ``steps_per_epoch`` or ``total_steps``, which come from the trainer.
        update_attr: Whether to set the suggested LR into the module's attribute.
        attr_name: The attribute; ``""`` looks for ``lr`` then ``learning_rate`` and
            skips the update when there is neither.
        dirpath: Directory of the JSON file, or ``None`` (see above).
        filename: Name of the JSON file.
        progress: Show a progress bar: ``True``, ``False``, or ``None`` for "when the
            trainer has a progress bar and standard error is a terminal".
        confirm: ``None`` (the default): confirm the curve's suggestion on validation
            batches, or on train batches held aside when the trainer does not validate,
            on a single process (see above); ``True``: on validation batches, required;
            ``False``: the curve alone.
        held_out_batches: Most validation batches the candidates are scored on, a
            positive integer (read once and kept on the device).
        confirm_steps: Optimizer steps per confirmation candidate.

    Attributes:
        result: The :class:`~cyclr.RangeTestResult`, or ``None`` before the test.
        suggestion: The :class:`~cyclr.Suggestion` applied, or ``None``.
        total_steps: The run's length (``trainer.estimated_stepping_batches``) passed to
            a range test that confirms, which the confirmed LR is fitted to
            (``result.settings["total_steps"]``), or ``None`` when it is unknown.
        scheduler: The installed :class:`cyclr.torch.Scheduler`, or ``None``.
        path: Where the result was written (global rank 0), or ``None``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range or unknown, ``schedule_kwargs``
            is given without ``schedule`` or names a value the trainer provides, or
            ``method="confirmed"`` without ``confirm=True``. At ``on_fit_start``, before
            any training step: with ``confirm=True`` and no validation batch, or more
            than one process.

    Example:
        >>> from cyclr.lightning import RangeTestCallback
        >>> RangeTestCallback(num_steps=200, schedule="onecycle")
        RangeTestCallback(start_lr=1e-07, end_lr=10.0, num_steps=200, schedule='onecycle')
        >>> RangeTestCallback(schedule="cosine")
        Traceback (most recent call last):
        ...
        ValueError: schedule must be None or one of 'triangular', 'triangular2', \
'exp_range', 'onecycle' (got schedule='cosine')
        >>> RangeTestCallback(confirm=True, held_out_batches=4)
        RangeTestCallback(start_lr=1e-07, end_lr=10.0, num_steps=100, schedule=None, \
confirm=True, held_out_batches=4)
        >>> RangeTestCallback(confirm=False)
        RangeTestCallback(start_lr=1e-07, end_lr=10.0, num_steps=100, schedule=None, \
confirm=False)
    """

    def __init__(
        self,
        *,
        start_lr: float = DEFAULTS.start_lr,
        end_lr: float = DEFAULTS.end_lr,
        num_steps: int = DEFAULTS.num_steps,
        max_steps: int | None = None,
        sweep: str = DEFAULTS.sweep,
        smoothing: float = DEFAULTS.smoothing,
        diverge_factor: float = DEFAULTS.diverge_factor,
        sync_every: int = DEFAULTS.sync_every,
        snapshot: str = "memory",
        method: str | None = None,
        schedule: str | None = None,
        schedule_kwargs: Mapping[str, Any] | None = None,
        update_attr: bool = True,
        attr_name: str = "",
        dirpath: str | os.PathLike[str] | None = None,
        filename: str = "range_test.json",
        progress: bool | None = None,
        confirm: bool | None = None,
        held_out_batches: int = 8,
        confirm_steps: int = CONFIRM_STEPS,
    ) -> None:
        spec = RangeTestSpec.from_arguments(locals())  # validates progress too
        self._test_args: dict[str, Any] = {
            **{
                k: v
                for k, v in spec.as_arguments().items()
                if k not in ("metric_fn", "eval_every", "progress")
            },
            "snapshot": check_choice("snapshot", snapshot, _SNAPSHOTS),
        }
        check_type("confirm", confirm, (bool, type(None)), "a bool or None")
        self.held_out_batches = check_count("held_out_batches", held_out_batches)
        self.confirm_steps = check_count("confirm_steps", confirm_steps)
        if method == "confirmed" and confirm is not True:
            raise ValueError(
                "method='confirmed' needs confirm=True: without it there may be no "
                f"confirmation to apply (got confirm={confirm!r})"
            )
        if method is not None:
            check_choice("method", method, (*METHODS, "confirmed") if confirm else METHODS)
        if schedule is not None and schedule not in SCHEDULES:
            listed = ", ".join(repr(k) for k in SCHEDULES)
            raise ValueError(
                f"schedule must be None or one of {listed} (got schedule={schedule!r})"
            )
        self._schedule_kwargs = _check_schedule_kwargs(schedule, schedule_kwargs)
        check_type("update_attr", update_attr, bool, "a bool")
        check_type("attr_name", attr_name, str, "a str")
        check_type("dirpath", dirpath, (str, os.PathLike, type(None)), "a path or None")
        check_type("filename", filename, str, "a str")
        if not filename or os.sep in filename or filename in (".", ".."):
            raise ValueError(
                f"filename must be a file name without a directory (got filename={filename!r})"
            )
        self.method = method
        self.schedule_kind = schedule
        self.update_attr = update_attr
        self.attr_name = attr_name
        self.dirpath = dirpath
        self.filename = filename
        self.progress = progress
        self.confirm = confirm
        self.result: RangeTestResult | None = None
        self.suggestion: Suggestion | None = None
        self.total_steps: int | None = None
        self.scheduler: Scheduler | None = None
        self.path: Path | None = None
        self._resumed = False

    def __repr__(self) -> str:
        args = self._test_args
        text = f"start_lr={args['start_lr']!r}, end_lr={args['end_lr']!r}, "
        text += f"num_steps={args['num_steps']!r}, schedule={self.schedule_kind!r}"
        if self.confirm:
            text += f", confirm=True, held_out_batches={self.held_out_batches!r}"
        elif self.confirm is False:
            text += ", confirm=False"
        return f"{type(self).__name__}({text})"

    # ---------------------------------------------------------------- the hook
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Run the test (unless resuming), apply the LR, install the schedule."""
        if getattr(trainer, "fast_dev_run", False):
            rank_zero_warn("Skipping the cyclr range test since `fast_dev_run` is enabled.")
            return
        optimizer = _single_optimizer(trainer, pl_module)
        if self.schedule_kind is not None:
            _check_no_scheduler(trainer, optimizer, self.schedule_kind)
        if self._resumed and self.result is not None:
            self._resumed = False
            rank_zero_info("cyclr range test: resuming with the result from the checkpoint")
        else:
            self.total_steps = _run_length(trainer)
            self.result = self._run(trainer, pl_module, optimizer)
            self.path = self._save(trainer, self.result)
            self.suggestion = self.result.suggest(self.method)
            self._apply_lr(pl_module, optimizer, self.suggestion.lr, self.result)
            rank_zero_info(f"cyclr range test: learning rate set to {self.suggestion.lr:.4g}")
        if self.schedule_kind is not None:
            self.scheduler = self._install(trainer, optimizer, self.result)

    # ---------------------------------------------------------------- the steps
    def _run(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> RangeTestResult:
        if self.confirm and trainer.world_size > 1:
            raise ValueError(
                "confirm=True runs on a single process: each rank would score its own "
                f"validation batches and could keep a different LR (got trainer.world_size="
                f"{trainer.world_size}); pass confirm=False"
            )
        trainer.fit_loop.setup_data()
        loaders = trainer.train_dataloader
        if loaders is None:
            raise ValueError(
                "the range test needs a train dataloader (got trainer.train_dataloader=None: "
                "limit_train_batches=0, or no training_step)"
            )
        held_out = self._held_out(trainer)
        with_index = is_param_in_hook_signature(pl_module.training_step, "batch_idx", min_args=2)

        def step_fn(model: torch.nn.Module, item: tuple[Any, int]) -> torch.Tensor:
            batch, batch_idx = item
            if with_index:
                return _loss_of(trainer.strategy.training_step(batch, batch_idx))
            return _loss_of(trainer.strategy.training_step(batch))

        scaler = getattr(trainer.precision_plugin, "scaler", None)
        progress = self.progress
        if progress is None and trainer.progress_bar_callback is None:
            progress = False
        hook = _clip_hook(trainer, pl_module, optimizer)
        try:
            with _range_test_mode(pl_module), warnings.catch_warnings():
                if held_out == AUTO:  # the callback's choice, not the user's: the run's
                    # length going unused when nothing could be held aside is no news
                    warnings.filterwarnings(
                        "ignore", r"held_out='auto': none held aside", RuntimeWarning
                    )
                if self.total_steps is None:  # its advice is the trainer's: said below
                    warnings.filterwarnings(
                        "ignore", r"held_out: the held-out loss turned up", RuntimeWarning
                    )
                result = range_test(
                    pl_module,
                    optimizer,
                    _TrainBatches(trainer, loaders),
                    step_fn=step_fn,
                    accumulation_steps=trainer.accumulate_grad_batches,
                    scaler=scaler if isinstance(scaler, torch.amp.GradScaler) else None,
                    device=pl_module.device,
                    progress=progress,
                    held_out=held_out,
                    confirm_steps=self.confirm_steps,
                    total_steps=None if held_out is None else self.total_steps,
                    **self._test_args,
                )
        finally:
            if hook is not None:
                hook.remove()
        notice = overfitting_notice(result)
        if notice is not None:
            rank_zero_warn(
                f"cyclr range test: {notice}, and the trainer's run length is unknown "
                f"(trainer.estimated_stepping_batches={trainer.estimated_stepping_batches}): "
                "give the trainer max_steps or max_epochs, and the callback fits the LR to "
                "the run",
                category=RuntimeWarning,
            )
        return result

    def _held_out(self, trainer: pl.Trainer) -> list[tuple[Any, int]] | str | None:
        """What the range test confirms on: validation batches, ``"auto"`` or nothing."""
        if self.confirm is False or (self.confirm is None and trainer.world_size > 1):
            return None
        if self.confirm is None and not trainer.enable_validation:
            return AUTO  # train batches held aside
        held = _validation_batches(trainer, self.held_out_batches, required=bool(self.confirm))
        return held or AUTO

    def _save(self, trainer: pl.Trainer, result: RangeTestResult) -> Path:
        """Write ``result`` on global rank 0; every rank returns the same path."""
        directory = self.dirpath
        if directory is None:
            checkpoint = trainer.checkpoint_callback
            directory = getattr(checkpoint, "dirpath", None) or trainer.log_dir
        if directory is None:
            directory = trainer.default_root_dir
        path = Path(directory) / self.filename
        if trainer.is_global_zero:
            path.parent.mkdir(parents=True, exist_ok=True)
            result.to_json(path)
        return path

    def _apply_lr(
        self,
        pl_module: pl.LightningModule,
        optimizer: torch.optim.Optimizer,
        lr: float,
        result: RangeTestResult,
    ) -> None:
        scales = result.settings.get("group_scales") or [1.0]
        for group, scale in zip(optimizer.param_groups, scales, strict=False):
            value = lr * float(scale)
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(value)
            else:
                group["lr"] = value
        if not self.update_attr:
            return
        if self.attr_name:
            if not lightning_hasattr(pl_module, self.attr_name):
                raise ValueError(
                    "attr_name must name an attribute of the module or its hparams (got "
                    f"attr_name={self.attr_name!r}, not found on {type(pl_module).__name__})"
                )
            lightning_setattr(pl_module, self.attr_name, lr)
            return
        for name in _LR_ATTRS:
            if lightning_hasattr(pl_module, name):
                lightning_setattr(pl_module, name, lr)
                return

    def _install(
        self, trainer: pl.Trainer, optimizer: torch.optim.Optimizer, result: RangeTestResult
    ) -> Scheduler:
        kind = self.schedule_kind
        if kind is None:
            raise RuntimeError("no schedule to install")
        total = trainer.estimated_stepping_batches
        batches = trainer.num_training_batches
        accumulate = trainer.accumulate_grad_batches
        if kind != "onecycle" and not math.isfinite(batches):
            raise ValueError(
                f"schedule={kind!r} needs the number of batches per epoch, and the train "
                f"dataloader has no length (got num_training_batches={batches}); use "
                "schedule='onecycle' with max_steps, or a sized dataloader"
            )
        if kind == "onecycle" and not math.isfinite(total):
            raise ValueError(
                "schedule='onecycle' needs the length of the run (got "
                f"trainer.estimated_stepping_batches={total}); set max_steps or max_epochs"
            )
        steps_per_epoch = max(1, math.ceil(batches / accumulate)) if math.isfinite(batches) else 1
        kwargs = _fitted_kwargs(kind, total, steps_per_epoch, self._schedule_kwargs)
        scales = [float(s) for s in result.settings.get("group_scales") or [1.0]]
        if len(scales) != len(optimizer.param_groups):
            raise ValueError(
                "the optimizer's param groups changed since the range test (got "
                f"{len(optimizer.param_groups)} param groups for {len(scales)} in the result)"
            )
        schedules = result.group_schedules(kind, steps_per_epoch, **kwargs)
        scheduler = Scheduler(optimizer, schedules)
        trainer.strategy.lr_scheduler_configs.append(
            LRSchedulerConfig(scheduler=scheduler, name="cyclr", interval="step", frequency=1)
        )
        return scheduler

    # ---------------------------------------------------------- checkpointing
    def state_dict(self) -> dict[str, Any]:
        """The result (as its JSON text) and the applied suggestion, for resuming."""
        return {
            "result": None if self.result is None else self.result.to_json(),
            "lr": None if self.suggestion is None else self.suggestion.lr,
            "schedule": self.schedule_kind,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the result, so that a resumed ``fit`` does not test again."""
        text = state_dict.get("result")
        if text is None:
            return
        result = RangeTestResult.from_json_text(text)
        if self.method == "confirmed" and result.confirmation is None:
            raise ValueError(
                "method='confirmed' cannot resume from this checkpoint: its range-test "
                "result has no confirmation (it was saved by a RangeTestCallback without "
                "confirm=True); resume with the callback that saved it, or start a new fit"
            )
        self.result = result
        self.suggestion = result.suggest(self.method)
        self._resumed = True
