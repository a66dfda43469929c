"""Pieces of :class:`~cyclr.lightning.RangeTestCallback`: batches, checks, hooks."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping, ValuesView
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from lightning.pytorch.utilities.model_helpers import is_overridden

from .._validate import describe
from .._warn import warn_caller
from ..rangetest.plan import (
    DEFAULT_EPOCHS_PER_HALF_CYCLE,
    check_epochs_per_half_cycle,
    fit_cycles,
)
from ..torch.state import rng_preserved

_FROM_TRAINER = ("steps_per_epoch", "total_steps")


def _ignore(*args: Any, **kwargs: Any) -> None:
    """Stands in for ``self.log`` while the range test runs ``training_step``."""


@contextlib.contextmanager
def _range_test_mode(module: pl.LightningModule) -> Iterator[None]:
    """Train mode, and ``self.log`` / ``self.log_dict`` muted; both put back afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    own = vars(module)
    saved = {name: own[name] for name in ("log", "log_dict") if name in own}
    own["log"] = own["log_dict"] = _ignore
    module.train()
    try:
        yield
    finally:
        for name in ("log", "log_dict"):
            if name in saved:
                own[name] = saved[name]
            else:
                del own[name]
        for m, training in modes:
            m.training = training


class _TrainBatches:
    """The trainer's train dataloader(s), re-iterable, as ``(batch, batch_idx)`` on device.

    Batches are prepared as the training loop prepares them (:func:`_to_device`: the
    precision plugin's input conversion and the module's batch transfer hooks) from a
    fresh :class:`CombinedLoader` over the loaders the fit loop set up (distributed
    samplers included); the fit loop's own iterator is left alone.
    """

    def __init__(self, trainer: pl.Trainer, loaders: Any) -> None:
        self._trainer = trainer
        self._loaders = loaders
        size = getattr(loaders, "batch_size", None)
        self.batch_size = size if isinstance(size, int) else None
        collection = loaders.values() if isinstance(loaders, Mapping) else loaders
        self.loaders = (
            list(collection) if isinstance(collection, (list, tuple, ValuesView)) else [loaders]
        )
        """The data loaders drawn from (their own generators are put back afterwards)."""

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        for batch, batch_idx, _ in CombinedLoader(self._loaders, "max_size_cycle"):
            yield _to_device(self._trainer, batch, 0), batch_idx

    def __len__(self) -> int:
        """Batches per pass: the longest loader's (``TypeError`` for one without a length)."""
        return max((len(loader) for loader in self.loaders), default=0)


def _to_device(trainer: pl.Trainer, batch: Any, dataloader_idx: int) -> Any:
    """``batch`` prepared for a step as Lightning's loops prepare it.

    The precision plugin's input conversion, the module's ``on_before_batch_transfer``,
    then the strategy's ``batch_to_device`` (``transfer_batch_to_device`` and
    ``on_after_batch_transfer``).
    """
    batch = trainer.precision_plugin.convert_input(batch)
    batch = trainer.lightning_module._on_before_batch_transfer(batch, dataloader_idx=dataloader_idx)
    return trainer.strategy.batch_to_device(batch, dataloader_idx=dataloader_idx)


def _validation_batches(
    trainer: pl.Trainer, count: int, *, required: bool = True
) -> list[tuple[Any, int]]:
    """The first ``count`` batches of the trainer's validation dataloader(s), on device.

    The validation loop's data are set up as Lightning sets them up before the sanity
    check (the same ``val_dataloader()`` call, samplers, ``limit_val_batches``), so the
    loop reuses them; the batches come as ``(batch, batch_idx)`` from a fresh
    :class:`CombinedLoader` over them, fewer than ``count`` if there are fewer, moved to
    the device with the trainer in its validating stage (so transfer hooks that augment
    only in training leave them alone). The RNG states the loaders draw from are put
    back afterwards.

    Raises:
        ValueError: If there is no validation dataloader or it holds no batch (with
            ``required=False``, an empty list comes back instead when it holds none).
    """
    if not trainer.enable_validation:
        raise ValueError(
            "confirm=True needs validation batches to score the candidates on, and the "
            f"trainer does not validate (got {_why_no_validation(trainer)})"
        )
    val_loop = trainer.fit_loop.epoch_loop.val_loop
    stage = trainer.state.stage
    trainer.validating = True  # as the fit loop does when it sets up these loaders
    try:
        val_loop.setup_data()
    finally:
        trainer.state.stage = stage
    loaders = val_loop._combined_loader
    if loaders is None:  # pragma: no cover - enable_validation said it would set them up
        raise ValueError(
            "confirm=True needs validation batches to score the candidates on (got "
            "trainer.val_dataloaders=None)"
        )
    combined = CombinedLoader(loaders.iterables, loaders._mode)
    combined.limits = val_loop.max_batches
    held: list[tuple[Any, int]] = []
    stage = trainer.state.stage
    trainer.validating = True  # transfer hooks see the validating stage, as in validation
    try:
        with rng_preserved():
            for batch, batch_idx, dataloader_idx in combined:
                held.append((_to_device(trainer, batch, dataloader_idx), batch_idx))
                if len(held) >= count:
                    break
    finally:
        trainer.state.stage = stage
    if not held and required:
        raise ValueError(
            "confirm=True needs at least one validation batch to score the candidates on "
            f"(got 0 batches from the validation dataloader(s), limit_val_batches="
            f"{trainer.limit_val_batches!r})"
        )
    return held


def _why_no_validation(trainer: pl.Trainer) -> str:
    """What keeps ``trainer`` from validating, for an error message."""
    reasons = []
    if not is_overridden("validation_step", trainer.lightning_module):
        reasons.append(f"{type(trainer.lightning_module).__name__} has no validation_step")
    if trainer.limit_val_batches == 0:
        reasons.append(f"limit_val_batches={trainer.limit_val_batches!r}")
    if not reasons:
        reasons.append(
            "trainer.val_dataloaders=None: no val_dataloaders passed to fit and no "
            "val_dataloader() in the module or datamodule"
        )
    return "; ".join(reasons)


def _loss_of(output: Any) -> torch.Tensor:
    """The loss in what ``training_step`` returned: a tensor or a dict with ``"loss"``."""
    if isinstance(output, Mapping) and "loss" in output:
        output = output["loss"]
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            "training_step must return the loss, a tensor or a dict with 'loss', for the "
            f"range test (got training_step(...)={describe(output)})"
        )
    return output


def _check_schedule_kwargs(schedule: str | None, kwargs: Any) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise TypeError(
            "schedule_kwargs must be a mapping of argument names to values or None "
            f"(got schedule_kwargs={describe(kwargs)})"
        )
    if schedule is None:
        raise ValueError(
            "schedule_kwargs is only used with schedule=... (got schedule=None, "
            f"schedule_kwargs={describe(dict(kwargs))})"
        )
    given = [k for k in _FROM_TRAINER if k in kwargs]
    if given:
        raise ValueError(
            f"schedule_kwargs must not set {', '.join(given)}: they come from the trainer "
            f"(got schedule_kwargs={describe(dict(kwargs))})"
        )
    return dict(kwargs)


def _single_optimizer(trainer: pl.Trainer, pl_module: pl.LightningModule) -> torch.optim.Optimizer:
    if not pl_module.automatic_optimization:
        raise ValueError(
            "RangeTestCallback needs automatic optimization: the range test steps the "
            "optimizer itself (got automatic_optimization=False)"
        )
    optimizers = trainer.optimizers
    if len(optimizers) != 1:
        raise ValueError(
            f"RangeTestCallback needs exactly one optimizer (got {len(optimizers)} optimizers)"
        )
    return optimizers[0]


def _check_no_scheduler(trainer: pl.Trainer, optimizer: torch.optim.Optimizer, kind: str) -> None:
    for config in trainer.lr_scheduler_configs:
        if getattr(config.scheduler, "optimizer", None) is optimizer:
            raise ValueError(
                f"schedule={kind!r} would compete with the LR scheduler configure_optimizers "
                f"returned (got {type(config.scheduler).__name__}); pass schedule=None to "
                "keep yours, or return only the optimizer"
            )


def _clip_hook(
    trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
) -> Any:
    """Clip gradients before each range-test step as the trainer would, or ``None``."""
    value = trainer.gradient_clip_val
    if not value:
        return None
    algorithm = trainer.gradient_clip_algorithm or "norm"
    clip = float(value)

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        params = [p for p in pl_module.parameters() if p.grad is not None]
        if algorithm == "value":
            torch.nn.utils.clip_grad_value_(params, clip)
        else:
            torch.nn.utils.clip_grad_norm_(params, clip)

    return optimizer.register_step_pre_hook(hook)


def _fitted_kwargs(
    kind: str, total: float, steps_per_epoch: int, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``schedule_kwargs`` with the run's length, as ``result.schedule`` is measured with.

    One-cycle always spans the run. A cyclical kind gets ``total_steps`` (whole cycles of
    2 to 10 epochs per half cycle, ending at ``base_lr``; confirmed bounds fitted to the
    run's length) when the run's length is known and ``step_size_up``/``step_size_down``
    are not given. When the run's steps split into no whole number of such cycles, the
    half cycles keep ``epochs_per_half_cycle`` epochs and a warning says so, with the
    run lengths that would fit: a Lightning run is not refused for its step count.
    """
    out = dict(kwargs)
    if kind == "onecycle":
        out["total_steps"] = int(total)
        return out
    if not math.isfinite(total) or {"step_size_up", "step_size_down"} & out.keys():
        return out
    epochs = out.get("epochs_per_half_cycle", DEFAULT_EPOCHS_PER_HALF_CYCLE)
    epochs = check_epochs_per_half_cycle(epochs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the schedule's own call warns, once
            fit_cycles(int(total), steps_per_epoch, epochs)
    except ValueError as exc:
        warn_caller(
            f"schedule={kind!r}: {exc}; the half cycles keep {epochs:g} epochs and the run "
            "ends where it is in its cycle",
            UserWarning,
        )
        return out
    out["total_steps"] = int(total)
    return out


def _run_length(trainer: Any) -> int | None:
    """``trainer.estimated_stepping_batches`` as a positive int, or ``None`` if unknown."""
    total = trainer.estimated_stepping_batches
    if isinstance(total, (int, float)) and math.isfinite(total) and total >= 1:
        return int(total)
    return None
