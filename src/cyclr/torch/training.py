"""One optimizer step of the PyTorch range test: batches on the device, the loss, the update.

:class:`TrainingStep` holds the validated model, optimizer, loss and scaler of a
:func:`~cyclr.torch.range_test` call and trains one optimizer step at given LRs; the
range-test skeleton (:class:`~cyclr.rangetest.runner.Runner`) drives it. Nothing here
waits for the device: the loss stays there, detached.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from .._batches import BatchStream, batch_weights
from .._validate import check_callable, check_int, check_type, describe
from .._warn import warn_caller

__all__ = ["LossFn", "MetricFn", "StepFn", "TrainingStep", "derive_group_scales"]

LossFn = Callable[[Any, Any], torch.Tensor]
StepFn = Callable[[torch.nn.Module, Any], torch.Tensor]
MetricFn = Callable[[torch.nn.Module], Any]


def _first_parameter(model: torch.nn.Module) -> torch.nn.Parameter:
    for p in model.parameters():
        return p
    raise ValueError(
        f"model must have at least one parameter (got model={type(model).__name__} "
        "with no parameters)"
    )


def _lr_value(group: Mapping[str, Any], g: int) -> float:
    lr = group.get("lr")
    if isinstance(lr, torch.Tensor):
        lr = lr.item()
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"optimizer.param_groups[{g}]['lr'] must be a number (got {lr!r})")
    return float(lr)


def derive_group_scales(
    optimizer: torch.optim.Optimizer, group_scales: Sequence[float] | None
) -> tuple[float, ...]:
    """Each param group's LR as a multiple of group 0's: given, or the optimizer's ratios.

    Raises:
        TypeError: If ``group_scales`` is not a sequence of numbers.
        ValueError: If it has the wrong length, or a group's LR is not positive.
    """
    groups = optimizer.param_groups
    if group_scales is not None:
        if isinstance(group_scales, (str, bytes)) or not isinstance(group_scales, Sequence):
            raise TypeError(
                "group_scales must be a sequence of numbers or None "
                f"(got group_scales={describe(group_scales)})"
            )
        if len(group_scales) != len(groups):
            raise ValueError(
                "group_scales must have one entry per optimizer param group (got "
                f"{len(group_scales)} entries for {len(groups)} param groups: "
                f"group_scales={tuple(group_scales)!r})"
            )
        return tuple(group_scales)
    lrs = [_lr_value(group, g) for g, group in enumerate(groups)]
    for g, lr in enumerate(lrs):
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(
                f"optimizer.param_groups[{g}]['lr'] must be positive and finite to keep the "
                f"per-group LR ratios (got {lr!r}); pass group_scales explicitly, or freeze "
                "the group's parameters with requires_grad=False"
            )
    return tuple(1.0 if g == 0 else lr / lrs[0] for g, lr in enumerate(lrs))


def _to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch if batch.device == device else batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(_to_device(v, device) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _accumulator_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


class TrainingStep:
    """The model, optimizer, loss and scaler of one range test, checked; one step at a time.

    Args:
        model: A ``torch.nn.Module`` with trainable parameters.
        optimizer: A ``torch.optim.Optimizer``.
        loss_fn: ``loss_fn(model(inputs), targets)`` for ``(inputs, targets)`` batches.
        step_fn: ``step_fn(model, batch) -> loss`` instead of ``loss_fn``.
        accumulation_steps: Batches per optimizer step.
        scaler: A ``torch.amp.GradScaler`` or ``None``.
        device: Where batches go; ``None``: the device of the first parameter.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range.
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Any,
        step_fn: Any,
        accumulation_steps: Any,
        scaler: Any,
        device: Any,
    ) -> None:
        check_type("model", model, torch.nn.Module, "a torch.nn.Module")
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
        check_callable("loss_fn", loss_fn)
        check_callable("step_fn", step_fn)
        if loss_fn is not None and step_fn is not None:
            raise ValueError(
                "pass either loss_fn or step_fn, not both (got loss_fn="
                f"{describe(loss_fn)}, step_fn={describe(step_fn)})"
            )
        first = _first_parameter(model)
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError(
                f"model must have trainable parameters (got model={type(model).__name__} "
                "whose parameters all have requires_grad=False)"
            )
        _check_materialised(model)
        if not model.training:
            warn_caller(
                f"model is in eval mode (got model.training=False for "
                f"{type(model).__name__}): it trains as it is, with dropout off and batch "
                "norm on its running statistics; call model.train() first, as a training "
                "loop does",
                UserWarning,
            )
        _check_optimizer_owns_model(model, optimizer)
        _check_step_takes_no_closure(optimizer)
        scaler_or_none = (torch.amp.GradScaler, type(None))
        check_type("scaler", scaler, scaler_or_none, "a torch.amp.GradScaler or None")
        self.device = _resolve_device(device, first)
        self.accumulation_steps = check_int("accumulation_steps", accumulation_steps)
        self.model: torch.nn.Module = model
        self.optimizer: torch.optim.Optimizer = optimizer
        self.loss_fn: LossFn | None = loss_fn
        self.step_fn: StepFn | None = step_fn
        self.scaler: torch.amp.GradScaler | None = scaler
        self.loss_source: str | None = None
        self._no_sync = isinstance(model, torch.nn.parallel.DistributedDataParallel)

    def set_lrs(self, lrs: tuple[float, ...]) -> None:
        """Write one LR per parameter group (in place for tensor LRs)."""
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            current = group["lr"]
            if isinstance(current, torch.Tensor):
                current.fill_(lr)
            else:
                group["lr"] = lr

    def step(self, batches: BatchStream) -> torch.Tensor:
        """One optimizer step over ``accumulation_steps`` batches; returns the mean loss.

        The loss stays on the device, detached; nothing here waits for the device.
        """
        k = self.accumulation_steps
        optimizer, scaler = self.optimizer, self.scaler
        optimizer.zero_grad(set_to_none=True)
        if k == 1:
            loss = self._loss(batches.next())
            if scaler is not None:
                scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            else:
                loss.backward()  # type: ignore[no-untyped-call]
            mean = loss.detach()
        else:
            parts = []
            for micro in range(k):
                batch = batches.next()
                skip_sync = self._no_sync and micro < k - 1
                context = self.model.no_sync() if skip_sync else contextlib.nullcontext()  # type: ignore[operator]
                with context:
                    loss = self._loss(batch)
                    scaled = (scaler.scale(loss) if scaler is not None else loss) / k
                    scaled.backward()  # type: ignore[no-untyped-call]
                parts.append(loss.detach().reshape(()).to(_accumulator_dtype(loss.device)))
            mean = torch.stack(parts).sum() / k
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        return mean

    def _loss(self, batch: Any, need_grad: bool = True) -> torch.Tensor:
        batch = _to_device(batch, self.device)
        loss: Any
        if self.step_fn is not None:
            self.loss_source = "step_fn"
            loss = self.step_fn(self.model, batch)
        elif isinstance(batch, Mapping):
            if self.loss_fn is not None:
                raise ValueError(
                    "loss_fn is not used with dict batches: the loss is model(**batch).loss "
                    f"(got loss_fn={describe(self.loss_fn)}); pass loss_fn=None, or step_fn "
                    "to compute the loss yourself"
                )
            self.loss_source = "model_output.loss"
            output = self.model(**batch)
            loss = (
                output.get("loss") if isinstance(output, Mapping) else getattr(output, "loss", None)
            )
            if loss is None:
                raise TypeError(
                    "a dict batch needs a model whose output has a .loss (Hugging Face style, "
                    f"labels in the batch) (got output of type {type(output).__name__}); pass "
                    "step_fn(model, batch) -> loss"
                )
        elif isinstance(batch, (tuple, list)) and len(batch) == 2:
            if self.loss_fn is None:
                raise TypeError(
                    "loss_fn is required for (inputs, targets) batches (got loss_fn=None); or "
                    "pass step_fn(model, batch) -> loss"
                )
            self.loss_source = "loss_fn"
            inputs, targets = batch
            loss = self.loss_fn(self.model(inputs), targets)
        else:
            raise TypeError(
                "range_test reads (inputs, targets) pairs with loss_fn and dict batches with "
                f"model(**batch).loss (got a batch of type {type(batch).__name__}); pass "
                "step_fn(model, batch) -> loss for any other batch"
            )
        return _check_loss(loss, self.loss_source, need_grad)

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode under ``no_grad``; every module's train/eval mode restored on exit."""
        modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for module, training in modes:
                module.training = training

    def held_out_loss(self, batches: Sequence[Any]) -> float:
        """Mean loss over ``batches`` in eval mode under ``no_grad`` (``inf`` if not finite).

        Each batch's loss weighs its number of examples (:func:`cyclr._batches.batch_weights`),
        so the mean is over examples. Every module's train/eval mode is restored afterwards.
        """
        weights = torch.tensor(batch_weights(list(batches)), dtype=torch.float64)
        with self._evaluating():
            losses = [self._loss(b, need_grad=False).detach().reshape(()) for b in batches]
            stacked = torch.stack(losses).double()
            mean = float((stacked * weights.to(stacked.device)).sum())  # one host read
        return mean if math.isfinite(mean) else math.inf

    def metric(self, metric_fn: MetricFn) -> float:
        """``metric_fn(model)`` in eval mode under ``no_grad``; every module's mode restored."""
        with self._evaluating():
            value = metric_fn(self.model)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"metric_fn must return a real number (got metric_fn(model)={describe(value)})"
            )
        if not math.isfinite(float(value)):
            raise ValueError(
                f"metric_fn must return a finite number (got metric_fn(model)={value!r})"
            )
        return float(value)


def _resolve_device(device: Any, first: torch.nn.Parameter) -> torch.device:
    if device is None:
        return first.device
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str, a torch.device or None (got device={describe(device)})"
        )
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device is not a valid torch device (got device={device!r})") from exc
    if resolved.type == "meta":
        raise ValueError(
            f"device must hold data to train on; the meta device holds none (got device={device!r})"
        )
    backend = getattr(torch, resolved.type, None)
    available = getattr(backend, "is_available", None)
    if callable(available) and not available():
        raise ValueError(
            f"device is not available here: torch.{resolved.type}.is_available() is False "
            f"(got device={device!r})"
        )
    return resolved


def _check_materialised(model: torch.nn.Module) -> None:
    """Refuse a model whose parameters are on the meta device (shapes without data)."""
    meta = [name for name, p in model.named_parameters() if p.is_meta]
    if meta:
        raise ValueError(
            f"model has parameters on the meta device, with no data to train (got "
            f"{len(meta)} such parameters, the first {meta[0]!r}): materialise them first, "
            "e.g. model.to_empty(device='cpu') and initialise them"
        )


def _check_step_takes_no_closure(optimizer: torch.optim.Optimizer) -> None:
    """Refuse an optimizer whose ``step`` needs a closure (L-BFGS): one step is one batch here."""
    try:
        parameters = inspect.signature(optimizer.step).parameters
    except (TypeError, ValueError):  # no signature to read: let the first step tell
        return
    closure = parameters.get("closure")
    if closure is not None and closure.default is inspect.Parameter.empty:
        raise TypeError(
            "optimizer.step must run without a closure: the range test takes one step per "
            f"batch and has no closure to give (got optimizer={type(optimizer).__name__}, "
            "whose step(closure) re-evaluates the loss itself)"
        )


def _check_optimizer_owns_model(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Refuse an optimizer that updates none of the model's trainable parameters."""
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(id(p) in trainable for p in held):
        raise ValueError(
            "optimizer must hold the model's parameters: none of its "
            f"{len(held)} parameters belongs to model={type(model).__name__} (was it built "
            "for another model, or for a copy of this one?)"
        )


def _check_loss(loss: Any, source: str | None, need_grad: bool = True) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            f"the loss ({source}) must be a scalar tensor (got loss={describe(loss)} of type "
            f"{type(loss).__name__})"
        )
    if loss.numel() != 1:
        raise ValueError(
            f"the loss ({source}) must be a scalar tensor (got loss of shape "
            f"{tuple(loss.shape)}); reduce it, e.g. with .mean()"
        )
    if not loss.is_floating_point():
        raise TypeError(
            f"the loss ({source}) must be a floating-point tensor (got dtype={loss.dtype})"
        )
    if need_grad and not loss.requires_grad:
        raise ValueError(
            f"the loss ({source}) must require grad (got a loss with requires_grad=False: "
            "computed under torch.no_grad(), detached, or from parameters that are all frozen)"
        )
    return loss
