"""The LR range test for PyTorch: train briefly at rising LRs, then put everything back.

:func:`range_test` drives the framework-free :class:`~cyclr.rangetest.RangeTest` state
machine with a real model: at step ``i`` every parameter group ``g`` trains at
``lr_i * group_scales[g]`` (the sweep, scaled by each group's initial ratio to group 0),
the loss of that step is recorded against that LR, and the test stops when the smoothed
loss diverges, a loss is NaN or infinite, or ``num_steps`` steps are done. Afterwards the
model, optimizer, ``GradScaler`` and random-number generators are exactly as before (also
after an exception or ``KeyboardInterrupt``), so the test can run in the middle of
training. A curve with no clear fall is measured again, from the restored state, with
three times the steps (up to ``max_steps``). The curve's suggestion is then confirmed by
training a few candidates around it and scoring each on batches it did not train on
(:func:`cyclr.torch.confirm`): by default the first batches of ``data`` held aside,
better a validation split passed as ``held_out=``; the result answers from that
confirmation. ``held_out=None`` keeps the curve alone.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

from .._batches import BatchStream, check_batches
from .._held_aside import (
    AUTO,
    HeldAside,
    check_held_out_choice,
    hold_aside,
    is_auto,
)
from .._validate import check_choice, check_count
from ..rangetest import RangeTest, RangeTestResult
from ..rangetest.confirm import CONFIRM_STEPS
from ..rangetest.confirm_stage import after_sweep, check_run_length
from ..rangetest.runner import Runner, Step
from ..rangetest.spec import DEFAULTS, RangeTestSpec
from . import state as _state
from ._rng import loader_rng_preserved, replaying
from .confirm import (
    check_held_out,
    check_single_process,
    confirm,
    held_out_batches,
    several_processes,
)
from .distributed import Comm, RangeTestAbortedError, comm_for_current_job
from .training import LossFn, MetricFn, StepFn, TrainingStep, derive_group_scales

__all__ = ["range_test"]


def range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    loss_fn: LossFn | None = None,
    *,
    step_fn: StepFn | None = None,
    start_lr: float = DEFAULTS.start_lr,
    end_lr: float = DEFAULTS.end_lr,
    num_steps: int = DEFAULTS.num_steps,
    max_steps: int | None = None,
    sweep: str = DEFAULTS.sweep,
    smoothing: float = DEFAULTS.smoothing,
    diverge_factor: float = DEFAULTS.diverge_factor,
    group_scales: Sequence[float] | None = None,
    metric_fn: MetricFn | None = None,
    eval_every: int | None = None,
    accumulation_steps: int = 1,
    scaler: torch.amp.GradScaler | None = None,
    device: str | torch.device | None = None,
    snapshot: str = "memory",
    progress: bool | None = None,
    sync_every: int = DEFAULTS.sync_every,
    held_out: Iterable[Any] | str | None = AUTO,
    confirm_steps: int = CONFIRM_STEPS,
    total_steps: int | None = None,
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

    **Confirmation** (on by default). A range test sees each LR for a step or two, so after
    the sweep the curve's suggestion ``lr`` is confirmed: five candidates
    ``lr * 10 ** o``, ``o = -0.5, -0.25, 0, 0.25, 0.5``, each train ``confirm_steps``
    steps from the restored state on the same batches, and the LR is read from their
    losses on held-out batches: each scores its last loss plus its largest bounce, and the
    parabola through the scores gives the LR (:func:`cyclr.torch.confirm`,
    :mod:`cyclr.rangetest.confirm`). The held-out batches are ``held_out=`` (validation
    data: the best choice) or, by default (``held_out="auto"``), the first batches of
    ``data`` held aside from the sweep and the candidates.
    ``result.suggest()`` then returns the confirmed LR (method ``"confirmed"``),
    ``result.clr_bounds()`` and ``result.schedule()`` use the confirmation's bounds,
    ``result.confirmation`` holds every candidate's held-out losses, and
    ``result.steps_spent`` counts the steps of both stages (about 300 by default; three
    times the confirmation's steps more when no candidate learned). On the benchmark
    suite (13 tasks, eight seeds) the default took the median regret from 0.72 target
    units (the curve alone) to 0.42 and the worst task from 8.9 to 4.4 (2.4 with
    ``total_steps``; a validation split: 0.17 and 2.5), at three times the steps
    (``benchmarks/RESULTS.md``). The state is restored after the confirmation too. A
    curve with no suggestion is returned unconfirmed (with a warning when validation
    batches go unused); so is a run where nothing can be held aside (``data`` an iterator,
    a pass of fewer than five batches, several processes), which
    ``result.settings["held_out"]`` says, and one whose held-aside batches cannot be
    scored in eval mode (a model with no loss there), with a warning after the sweep.
    Not run under ``torch.distributed`` with more than one process.

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
        held_out: What the confirmation scores the candidates on. ``"auto"`` (the
            default): the first batches of ``data`` held aside (a fifth of a pass at
            most, about 1,000 examples at most) and never trained on, every pass
            started under the random state of the first so a shuffling loader skips
            exactly them (:mod:`cyclr._held_aside`); nothing is held aside, and the
            curve is read alone, from an iterator (a generator: a finite one would run
            out in the candidates), a pass of fewer than five batches, under several
            processes, or (with a warning) when the batches cannot be scored in eval
            mode (``result.settings["held_out"]`` says so). Validation
            batches the model does not train on (a few; read once, kept in memory):
            better than ``"auto"`` where there are some. ``None``: no confirmation, the
            curve alone (a third of the steps; ``benchmarks/RESULTS.md`` has what it
            costs in regret).
        confirm_steps: Optimizer steps per confirmation candidate.
        total_steps: Optimizer steps of the run you will train at the suggested LR
            (not with ``held_out=None``): kept in ``result.settings["total_steps"]``, so that
            ``result.suggest()`` fits the confirmed LR to it
            (:mod:`cyclr.rangetest.horizon`); ``None``: the window's LR.

    Returns:
        A :class:`~cyclr.rangetest.RangeTestResult`: ``lrs`` (steps x groups), ``losses``,
        ``smoothed``, ``metrics``, ``stop_reason``, ``settings`` (the sweep plus the
        runner's settings, JSON-safe) and ``elapsed_s`` (the whole call, restoring
        included, the confirmation's time excepted) and, unless ``held_out=None``, the
        ``confirmation``.

    Raises:
        TypeError: If an argument, a batch or a loss has the wrong type.
        ValueError: For an argument out of range, empty or exhausted ``data``, a loss
            that is not a scalar or does not require grad, a model without trainable
            parameters, ``group_scales`` that do not match the param groups, an empty
            ``held_out``, a held-out batch the loss cannot be computed on, or
            validation batches as ``held_out`` under ``torch.distributed`` with more than
            one process, or ``total_steps`` with ``held_out=None`` (all checked before the
            first step).
        RangeTestAbortedError: If another rank of a distributed run raised.
        cyclr.errors.NoReliableSuggestionError: If every confirmation candidate
            diverged, also one window lower (the curve's suggestion is far too high to
            train at).

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
    arguments = dict(locals())
    with loader_rng_preserved(data):  # the loader's own generators, as they were
        comm = comm_for_current_job()
        try:
            try:
                spec = RangeTestSpec.from_arguments(arguments)
                training = TrainingStep(
                    model, optimizer, loss_fn, step_fn, accumulation_steps, scaler, device
                )
                check_batches(data, refuse=(torch.Tensor,))
                check_count("confirm_steps", confirm_steps)
                check_held_out_choice(held_out)
                run_length = check_run_length(total_steps, held_out)
                held, aside = None, None
                if is_auto(held_out):
                    aside = _held_aside(data).scorable(lambda b: check_held_out(training, b))
                    data, held = aside.data, aside.held or None
                elif held_out is not None:
                    check_single_process("held_out= (the confirmation)")
                    held = held_out_batches(held_out)
                    check_held_out(training, held)
                runner = _TorchRunner(
                    spec,
                    training,
                    data,
                    snapshot=check_choice("snapshot", snapshot, _state.STORAGES),
                    group_scales=derive_group_scales(optimizer, group_scales),
                    comm=comm,
                )
            except Exception:
                comm.agree([], [], failed=True)
                raise
            result = runner.run()
        finally:
            comm.close()
        run = (
            None
            if held is None
            else lambda lr, steps: confirm(
                model,
                optimizer,
                data,
                loss_fn,
                lr=lr,
                held_out=held,
                steps=steps,
                step_fn=step_fn,
                accumulation_steps=accumulation_steps,
                scaler=scaler,
                device=device,
                snapshot=snapshot,
                group_scales=group_scales,
            )
        )
        return after_sweep(result, aside, run, confirm_steps, run_length)


def _held_aside(data: Iterable[Any]) -> HeldAside:
    """``held_out="auto"``: the first batches of ``data`` held aside (none under DDP)."""
    if several_processes():
        return HeldAside([], data, "none held aside: torch.distributed with several processes")
    return hold_aside(data, replaying(data))


class _TorchRunner(Runner):
    """The range-test skeleton with a PyTorch model, optimizer and (maybe) process group."""

    name = "cyclr.torch.range_test"

    def __init__(
        self,
        spec: RangeTestSpec,
        training: TrainingStep,
        data: Iterable[Any],
        *,
        snapshot: str,
        group_scales: Sequence[float],
        comm: Comm,
    ) -> None:
        super().__init__(spec, group_scales)
        self.training = training
        self.data = data
        self.snapshot = snapshot
        self.comm = comm
        self.shows_progress = comm.is_main
        self.read = comm.exchange

    def fingerprint(self) -> tuple[list[float], list[str]]:
        """Settings every rank must share, as numbers (for the cross-rank check)."""
        values = self.spec.fingerprint()
        values["accumulation_steps"] = self.training.accumulation_steps
        values["num_param_groups"] = len(self.group_scales)
        values.update({f"group_scales[{g}]": s for g, s in enumerate(self.group_scales[:8])})
        return [float(v) for v in values.values()], list(values)

    def before_test(self) -> None:
        self.comm.agree(*self.fingerprint(), failed=False)

    @contextlib.contextmanager
    def session(self, rt: RangeTest) -> Iterator[Step]:
        training = self.training
        snap = _state.snapshot(
            training.model, training.optimizer, scaler=training.scaler, storage=self.snapshot
        )
        batches: BatchStream | None = None
        try:
            batches = BatchStream(self.data, fewer="num_steps * accumulation_steps")
            stream = batches

            def step(i: int, lrs: tuple[float, ...]) -> torch.Tensor:
                training.set_lrs(lrs)
                return training.step(stream)

            yield step
        finally:
            if batches is not None:
                self.data_restarts = batches.restarts
                batches.close()
            try:
                snap.restore()
            finally:
                snap.close()

    def metric(self) -> float:
        metric_fn = self.spec.metric_fn
        if metric_fn is None:  # pragma: no cover - the skeleton calls it only with one
            raise RuntimeError("no metric_fn to evaluate")
        return self.training.metric(metric_fn)

    def on_failure(self, error: BaseException) -> None:
        if not isinstance(error, RangeTestAbortedError):
            self.comm.post_failure(error)

    def agree_elapsed(self, seconds: float) -> float:
        return self.comm.final(seconds)

    def framework_settings(self) -> dict[str, Any]:
        training = self.training
        scaler = training.scaler
        batch_size = getattr(self.data, "batch_size", None)
        return {
            "model": type(training.model).__name__,
            "optimizer": type(training.optimizer).__name__,
            "loss": training.loss_source,
            "accumulation_steps": training.accumulation_steps,
            "batch_size": batch_size if isinstance(batch_size, int) else None,
            "scaler": scaler is not None and scaler.is_enabled(),
            "snapshot": self.snapshot,
            "device": training.device.type,
            "world_size": self.comm.world_size,
            "torch_version": torch.__version__,
        }
