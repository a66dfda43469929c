"""The LR range test for PyTorch: train briefly at rising LRs, then put everything back.

:func:`range_test` drives the framework-free :class:`~cyclr.rangetest.RangeTest` state
machine with a real model: at step ``i`` every parameter group ``g`` trains at
``lr_i * group_scales[g]`` (the sweep, scaled by each group's initial ratio to group 0),
the loss of that step is recorded against that LR, and the test stops when the smoothed
loss diverges, a loss is NaN or infinite, or ``num_steps`` steps are done. Afterwards the
model, optimizer, ``GradScaler`` and random-number generators are exactly as before (also
after an exception or ``KeyboardInterrupt``), so the test can run in the middle of
training. A curve with no clear fall is measured again, from the restored state, with
three times the steps (up to ``max_steps``).

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from .._batches import BatchStream, check_batches
from .._validate import check_callable, check_choice, check_int, describe
from ..rangetest import RangeTest, RangeTestResult
from ..rangetest.driver import (
    check_loop_args,
    drive,
    extend_until_readable,
    resolve_max_steps,
    runner_settings,
)
from . import state as _state
from .distributed import Comm, RangeTestAbortedError, comm_for_current_job

__all__ = ["range_test"]

LossFn = Callable[[Any, Any], torch.Tensor]
StepFn = Callable[[torch.nn.Module, Any], torch.Tensor]
MetricFn = Callable[[torch.nn.Module], Any]

_SNAPSHOTS = ("memory", "disk")


def range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    loss_fn: LossFn | None = None,
    *,
    step_fn: StepFn | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    max_steps: int | None = None,
    sweep: str = "exp",
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    group_scales: Sequence[float] | None = None,
    metric_fn: MetricFn | None = None,
    eval_every: int | None = None,
    accumulation_steps: int = 1,
    scaler: torch.amp.GradScaler | None = None,
    device: str | torch.device | None = None,
    snapshot: str = "memory",
    progress: bool | None = None,
    sync_every: int = 10,
) -> RangeTestResult:
    r"""Run an LR range test on a PyTorch model and restore its training state afterwards.

    At step ``i = 0, 1, ...`` parameter group ``g`` trains at
    ``lr_i * group_scales[g]`` with (exp sweep, ``n = num_steps``)

    .. math:: lr_i = start\_lr \cdot (end\_lr / start\_lr)^{i / (n - 1)}

    or ``start_lr + (end_lr - start_lr) * i / (n - 1)`` for ``sweep="linear"``. The loss
    recorded for step ``i`` is the loss of the forward pass whose gradients the optimizer
    step at ``lr_i`` applies; the LR is written into the optimizer *before* that forward
    pass, so ``result.lrs[i]`` is exactly what ``optimizer.param_groups[g]["lr"]`` holds
    during step ``i``. Smoothing and the stopping rule are those of
    :class:`~cyclr.rangetest.RangeTest`.

    **Batches.** ``data`` is any iterable of batches (a ``DataLoader``, a list, a
    generator). A re-iterable (list, ``DataLoader``) is started again when it runs out;
    an iterator (a generator) that runs out raises ``ValueError``. Tensors inside the
    batch (also in nested tuples, lists and dicts) are moved to ``device``. Then, per
    batch:

    * with ``step_fn``: ``loss = step_fn(model, batch)``;
    * a ``(inputs, targets)`` pair: ``loss = loss_fn(model(inputs), targets)``;
    * a dict: ``loss = model(**batch).loss`` (Hugging Face style; ``loss_fn`` must be
      ``None``).

    The loss must be a scalar tensor that requires grad; the runner does the rest:
    ``zero_grad(set_to_none=True)``, ``backward`` (through ``scaler.scale`` when a scaler
    is given), ``optimizer.step()`` (``scaler.step`` + ``scaler.update``). ``step_fn`` must
    not call ``backward`` or step the optimizer itself. Recipes:

    * mixed precision: run the forward pass under ``torch.autocast`` inside ``step_fn``
      and pass a ``torch.amp.GradScaler`` for float16;
    * gradient clipping: register it as an optimizer pre-step hook for the duration of
      the test, ``h = optimizer.register_step_pre_hook(lambda opt, a, k:
      torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))``, then ``h.remove()``
      (with a scaler the gradients are already unscaled when the hook runs);
    * gradient accumulation: ``accumulation_steps=k`` runs ``k`` batches per optimizer
      step, back-propagates ``loss / k`` for each, and records the mean of the ``k``
      losses (a DDP model skips the gradient all-reduce on the first ``k - 1``).

    **Metric mode** (the paper's method: accuracy against LR, usually with
    ``sweep="linear"``): every ``eval_every`` optimizer steps (1 by default) the runner
    calls ``metric_fn(model)`` with the model in eval mode under ``torch.no_grad()``,
    restores every module's train/eval mode, and records the returned number
    (higher is better, e.g. validation accuracy) for that step in ``result.metrics``.

    **No per-step host synchronisation.** Losses stay on the device, detached, and are
    copied to the host together every ``sync_every`` steps (and at each metric
    evaluation); the stopping rule runs there. Up to ``sync_every - 1`` steps can
    therefore run past the step where the test stops; their losses are discarded and
    ``result.settings["steps_run"]`` counts them. ``sync_every=1`` checks after every
    step. (A ``GradScaler`` itself reads its inf check on the host at every step.)

    **Restoring.** Before the first step the parameters, gradients, buffers, module
    modes, optimizer state and hyper-parameters, the scaler's state and the torch (CPU,
    CUDA, MPS), NumPy and Python RNG states are captured (:mod:`cyclr.torch.state`);
    they are written back into the same tensor objects when the test ends, whether it
    finished, raised or was interrupted. ``snapshot="memory"`` keeps the copy in host
    memory (never on the GPU); ``snapshot="disk"`` writes it to a private temporary
    directory that is removed afterwards. Batches drawn from an iterator are consumed.

    **Distributed.** Under an initialised ``torch.distributed`` process group (DDP, plain
    replicas, ``torchrun``, Lightning Fabric), every rank must call ``range_test`` with
    the same settings. The losses are averaged over the ranks at each sync point, so
    every rank uses the same LRs, stops at the same step and returns the same result;
    a NaN on one rank stops all; only rank 0 shows progress. If one rank raises, the
    others raise :class:`~cyclr.torch.distributed.RangeTestAbortedError` at their next sync
    point (see :mod:`cyclr.torch.distributed`); every rank restores its own state.

    Args:
        model: The model; it is trained in place and restored.
        optimizer: Its optimizer (any ``torch.optim.Optimizer``; LR tensors are updated
            in place).
        data: An iterable of batches (see above).
        loss_fn: ``loss_fn(model(inputs), targets) -> loss`` for ``(inputs, targets)``
            batches.
        step_fn: ``step_fn(model, batch) -> loss`` for any other batch (replaces
            ``loss_fn``; pass one or the other).
        start_lr: Group 0's LR at step 0.
        end_lr: Group 0's LR at the last step.
        num_steps: Optimizer steps in the full sweep (at least 2).
        max_steps: If the curve shows no clear fall (no reliable suggestion: a loss
            that sits on a plateau before it falls, or one too noisy for ``num_steps``
            steps), the test is run again from the restored state with three times the
            steps while that stays within ``max_steps``; ``result.settings
            ["steps_tried"]`` lists the lengths run. ``None``: ``9 * num_steps`` (up
            to two reruns); ``max_steps=num_steps`` never reruns.
        sweep: ``"exp"`` or ``"linear"``.
        smoothing: EMA factor of the smoothed loss, in ``[0, 1)``.
        diverge_factor: Divergence threshold ``f > 1`` of the stopping rule.
        group_scales: Each param group's LR as a multiple of group 0's (first entry 1).
            By default the optimizer's current ratios ``lr_g / lr_0``, which keeps
            discriminative LRs.
        metric_fn: ``metric_fn(model) -> float`` evaluated every ``eval_every`` steps.
        eval_every: Steps between metric evaluations (requires ``metric_fn``).
        accumulation_steps: Batches per optimizer step.
        scaler: A ``torch.amp.GradScaler`` for float16 mixed precision.
        device: Where batches are moved; by default the device of the model's first
            parameter. The model itself is never moved.
        snapshot: ``"memory"`` or ``"disk"``: where the saved training state lives.
        progress: Show a tqdm bar: ``True``, ``False``, or ``None`` for "when standard
            error is a terminal".
        sync_every: Steps between host reads of the losses (and stop checks).

    Returns:
        A :class:`~cyclr.rangetest.RangeTestResult`: ``lrs`` (steps x groups), ``losses``,
        ``smoothed``, ``metrics``, ``stop_reason``, ``settings`` (the sweep plus the
        runner's settings, JSON-safe) and ``elapsed_s`` (the whole call, restoring
        included).

    Raises:
        TypeError: If an argument, a batch or a loss has the wrong type.
        ValueError: For an argument out of range, empty or exhausted ``data``, a loss
            that is not a scalar or does not require grad, a model without trainable
            parameters, or ``group_scales`` that do not match the param groups.
        RangeTestAbortedError: If another rank of a distributed run raised.

    Example:
        >>> import torch
        >>> from cyclr.torch import range_test
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x = torch.randn(64, 4)
        >>> data = [(x[i : i + 16], x[i : i + 16].sum(1, keepdim=True)) for i in range(0, 64, 16)]
        >>> before = model.weight.detach().clone()
        >>> result = range_test(model, opt, data, torch.nn.functional.mse_loss,
        ...                     start_lr=1e-3, end_lr=10.0, num_steps=60, progress=False)
        >>> result.stop_reason, float(result.lrs[0, 0]), len(result.losses) < 60
        ('diverged', 0.001, True)
        >>> torch.equal(model.weight, before), opt.param_groups[0]["lr"]
        (True, 0.1)

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
        https://arxiv.org/abs/1506.01186
    """
    args = dict(
        model=model,
        optimizer=optimizer,
        data=data,
        loss_fn=loss_fn,
        step_fn=step_fn,
        start_lr=start_lr,
        end_lr=end_lr,
        sweep=sweep,
        smoothing=smoothing,
        diverge_factor=diverge_factor,
        group_scales=group_scales,
        metric_fn=metric_fn,
        eval_every=eval_every,
        accumulation_steps=accumulation_steps,
        scaler=scaler,
        device=device,
        snapshot=snapshot,
        progress=progress,
        sync_every=sync_every,
    )
    limit = resolve_max_steps(num_steps, max_steps)
    comm = comm_for_current_job()
    try:
        return extend_until_readable(
            lambda n: _run(comm, {**args, "num_steps": n}), num_steps, limit
        )
    finally:
        comm.close()


def _run(comm: Comm, args: dict[str, Any]) -> RangeTestResult:
    """Validate (agreeing on the outcome with the other ranks), then run the test."""
    try:
        runner = _Runner(**args)
    except Exception:
        comm.agree([], [], failed=True)
        raise
    comm.agree(*runner.fingerprint(), failed=False)
    return runner.run(comm)


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


def _derive_group_scales(
    optimizer: torch.optim.Optimizer, group_scales: Sequence[float] | None
) -> tuple[float, ...]:
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


class _Runner:
    """The validated arguments of one :func:`range_test` call, and its loop."""

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        data: Any,
        loss_fn: Any,
        step_fn: Any,
        start_lr: Any,
        end_lr: Any,
        num_steps: Any,
        sweep: Any,
        smoothing: Any,
        diverge_factor: Any,
        group_scales: Any,
        metric_fn: Any,
        eval_every: Any,
        accumulation_steps: Any,
        scaler: Any,
        device: Any,
        snapshot: Any,
        progress: Any,
        sync_every: Any,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module (got model={describe(model)})")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer (got optimizer={describe(optimizer)})"
            )
        check_batches(data, refuse=(torch.Tensor,))
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
        if scaler is not None and not isinstance(scaler, torch.amp.GradScaler):
            raise TypeError(
                f"scaler must be a torch.amp.GradScaler or None (got scaler={describe(scaler)})"
            )
        if device is None:
            self.device = first.device
        elif isinstance(device, (str, torch.device)):
            try:
                self.device = torch.device(device)
            except RuntimeError as exc:
                raise ValueError(
                    f"device is not a valid torch device (got device={device!r})"
                ) from exc
        else:
            raise TypeError(
                f"device must be a str, a torch.device or None (got device={describe(device)})"
            )
        self.accumulation_steps = check_int("accumulation_steps", accumulation_steps)
        self.eval_every, self.sync_every = check_loop_args(
            metric_fn, eval_every, sync_every, progress
        )
        self.snapshot = check_choice("snapshot", snapshot, _SNAPSHOTS)
        scales = _derive_group_scales(optimizer, group_scales)
        self.rt = RangeTest(
            start_lr,
            end_lr,
            num_steps,
            sweep=sweep,
            smoothing=smoothing,
            diverge_factor=diverge_factor,
            group_scales=scales,
        )
        self.model: torch.nn.Module = model
        self.optimizer: torch.optim.Optimizer = optimizer
        self.data = data
        self.loss_fn: LossFn | None = loss_fn
        self.step_fn: StepFn | None = step_fn
        self.metric_fn: MetricFn | None = metric_fn
        self.scaler: torch.amp.GradScaler | None = scaler
        self.progress: bool | None = progress
        self.loss_source: str | None = None
        self._no_sync = isinstance(model, torch.nn.parallel.DistributedDataParallel)

    # ------------------------------------------------------------------- setup
    def fingerprint(self) -> tuple[list[float], list[str]]:
        """Settings every rank must share, as numbers (for the cross-rank check)."""
        rt = self.rt
        values = {
            "num_steps": rt.num_steps,
            "start_lr": rt.sweep.start_lr,
            "end_lr": rt.sweep.end_lr,
            "sweep": float(rt.sweep.kind == "exp"),
            "sync_every": self.sync_every,
            "eval_every": 0 if self.eval_every is None else self.eval_every,
            "accumulation_steps": self.accumulation_steps,
            "num_param_groups": len(rt.group_scales),
            "smoothing": rt.settings["smoothing"],
            "diverge_factor": rt.settings["diverge_factor"],
        }
        values.update({f"group_scales[{g}]": s for g, s in enumerate(rt.group_scales[:8])})
        return [float(v) for v in values.values()], list(values)

    def settings(self, comm: Comm, steps_run: int, batches: BatchStream | None) -> dict[str, Any]:
        scaler = self.scaler
        batch_size = getattr(self.data, "batch_size", None)
        framework = {
            "model": type(self.model).__name__,
            "optimizer": type(self.optimizer).__name__,
            "loss": self.loss_source,
            "accumulation_steps": self.accumulation_steps,
            "batch_size": batch_size if isinstance(batch_size, int) else None,
            "scaler": scaler is not None and scaler.is_enabled(),
            "snapshot": self.snapshot,
            "device": self.device.type,
            "world_size": comm.world_size,
            "torch_version": torch.__version__,
        }
        return runner_settings(
            "cyclr.torch.range_test",
            framework,
            metric_fn=self.metric_fn,
            eval_every=self.eval_every,
            sync_every=self.sync_every,
            steps_run=steps_run,
            data_restarts=0 if batches is None else batches.restarts,
        )

    # --------------------------------------------------------------------- run
    def run(self, comm: Comm) -> RangeTestResult:
        started = time.perf_counter()
        steps_run = 0
        batches: BatchStream | None = None
        try:
            snap = _state.snapshot(
                self.model, self.optimizer, scaler=self.scaler, storage=self.snapshot
            )
            try:
                batches = BatchStream(self.data, fewer="num_steps * accumulation_steps")
                steps_run = self._loop(comm, batches)
            finally:
                if batches is not None:
                    batches.close()
                try:
                    snap.restore()
                finally:
                    snap.close()
            elapsed = comm.final(time.perf_counter() - started)
        except RangeTestAbortedError:
            raise
        except BaseException as exc:
            comm.post_failure(exc)
            raise
        return self.rt.result(elapsed_s=elapsed, settings=self.settings(comm, steps_run, batches))

    def _loop(self, comm: Comm, batches: BatchStream) -> int:
        def step(i: int) -> torch.Tensor:
            self._set_lrs(self.rt.lrs_at(i))
            return self._step(batches)

        return drive(
            self.rt,
            step,
            eval_every=self.eval_every,
            metric=self._metric,
            sync_every=self.sync_every,
            read=comm.exchange,
            progress=self.progress if comm.is_main else False,
        )

    def _set_lrs(self, lrs: tuple[float, ...]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            current = group["lr"]
            if isinstance(current, torch.Tensor):
                current.fill_(lr)
            else:
                group["lr"] = lr

    def _step(self, batches: BatchStream) -> torch.Tensor:
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

    def _loss(self, batch: Any) -> torch.Tensor:
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
        return _check_loss(loss, self.loss_source)

    def _metric(self) -> float:
        if self.metric_fn is None:
            raise RuntimeError("no metric_fn to evaluate")
        modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        try:
            with torch.no_grad():
                value = self.metric_fn(self.model)
        finally:
            for module, training in modes:
                module.training = training
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


def _check_loss(loss: Any, source: str | None) -> torch.Tensor:
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
    if not loss.requires_grad:
        raise ValueError(
            f"the loss ({source}) must require grad (got a loss with requires_grad=False: "
            "computed under torch.no_grad(), detached, or from parameters that are all frozen)"
        )
    return loss
