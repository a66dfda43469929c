"""Bad inputs to cyclr.torch.range_test: the arguments, and the error each must get.

Shared by ``test_faults.py`` (under pytest, and as the script that tabulates
``benchmarks/results/faults.md``). Every entry of :data:`BAD_INPUTS` is a call that must
raise exactly the named exception type, with a message naming the parameter and value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from tests.torch.rangetest_support import assert_same, capture, loss_fn, make_batches, make_model

from cyclr.torch import range_test


def _frozen() -> torch.nn.Module:
    m = make_model()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


class NoLossOutput(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.lin(x)}


def _two_group_opt(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[4].parameters(), "lr": 0.01}],
        lr=0.1,
    )


def call_range_test(**over: Any) -> None:
    """range_test on the tiny model with the given arguments replaced."""
    given = over.pop("model", None)
    model = given if isinstance(given, torch.nn.Module) else make_model()
    make_opt = over.pop("make_opt", None)
    params = list(model.parameters()) or list(make_model().parameters())
    opt = make_opt(model) if make_opt else torch.optim.SGD(params, lr=0.1)
    optimizer = over.pop("optimizer", opt)
    args: dict[str, Any] = {"data": make_batches(), "loss_fn": loss_fn, "num_steps": 12}
    args.update(over)
    before = capture(model, opt)
    try:
        range_test(given if given is not None else model, optimizer, **args)
    finally:
        assert_same(before, capture(model, opt))


def _as_scalar_fn(value: Any) -> Callable[[torch.nn.Module, Any], Any]:
    return lambda m, batch: value


# (id, arguments, exception type, regex the message must match: parameter and value)
BAD_INPUTS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    (
        "held_out-empty",
        {"held_out": []},
        ValueError,
        r"held_out must hold at least one batch \(got an empty held_out\)",
    ),
    (
        "held_out-tensor",
        {"held_out": torch.zeros(4, 16)},
        TypeError,
        r"held_out must be an iterable of batches .*\(got held_out=Tensor of shape",
    ),
    (
        "held_out-string",
        {"held_out": "validation"},
        ValueError,
        r"held_out must be validation batches, 'auto' .*\(got held_out='validation'\)",
    ),
    (
        "confirm_steps-zero",
        {"held_out": make_batches()[:1], "confirm_steps": 0},
        ValueError,
        r"confirm_steps must be positive \(got confirm_steps=0\)",
    ),
    (
        "total_steps-without-held_out",
        {"total_steps": 300, "held_out": None},
        ValueError,
        r"total_steps fits .*needs the confirmation.*\(got total_steps=300, held_out=None\)",
    ),
    (
        "total_steps-zero",
        {"held_out": make_batches()[:1], "total_steps": 0},
        ValueError,
        r"total_steps must be positive \(got total_steps=0\)",
    ),
    (
        "model-str",
        {"model": "net"},
        TypeError,
        r"model must be a torch\.nn\.Module \(got model='net'\)",
    ),
    (
        "model-no-params",
        {"model": torch.nn.ReLU()},
        ValueError,
        r"model must have at least one parameter \(got model=ReLU",
    ),
    (
        "model-frozen",
        {"model": _frozen()},
        ValueError,
        r"model must have trainable parameters \(got model=Sequential",
    ),
    (
        "optimizer-none",
        {"optimizer": None},
        TypeError,
        r"optimizer must be a torch\.optim\.Optimizer \(got optimizer=None\)",
    ),
    (
        "optimizer-str",
        {"optimizer": "adam"},
        TypeError,
        r"optimizer must be .*\(got optimizer='adam'\)",
    ),
    ("data-int", {"data": 42}, TypeError, r"data must be an iterable of batches .*\(got data=42\)"),
    (
        "data-str",
        {"data": "batches"},
        TypeError,
        r"data must be an iterable .*\(got data='batches'\)",
    ),
    (
        "data-dict",
        {"data": {"x": 1}},
        TypeError,
        r"data must be an iterable .*\(got data=\{'x': 1\}\)",
    ),
    (
        "data-tensor",
        {"data": torch.zeros(3)},
        TypeError,
        r"data must be an iterable .*\(got data=Tensor of shape",
    ),
    (
        "data-empty-list",
        {"data": []},
        ValueError,
        r"data must yield at least one batch \(got data of type list",
    ),
    (
        "data-empty-generator",
        {"data": (b for b in [])},
        ValueError,
        r"data must yield at least one batch \(got data of type generator",
    ),
    (
        "data-exhausted-generator",
        {"data": (b for b in make_batches(n=64))},
        ValueError,
        r"data was exhausted after 2 batches and cannot be restarted",
    ),
    (
        "loss_fn-str",
        {"loss_fn": "mse"},
        TypeError,
        r"loss_fn must be callable or None \(got loss_fn='mse'\)",
    ),
    (
        "loss_fn-and-step_fn",
        {"step_fn": lambda m, b: None},
        ValueError,
        r"pass either loss_fn or step_fn, not both \(got loss_fn=<function",
    ),
    (
        "loss_fn-missing",
        {"loss_fn": None},
        TypeError,
        r"loss_fn is required for \(inputs, targets\) batches \(got loss_fn=None\)",
    ),
    (
        "step_fn-int",
        {"loss_fn": None, "step_fn": 3},
        TypeError,
        r"step_fn must be callable or None \(got step_fn=3\)",
    ),
    (
        "start_lr-zero",
        {"start_lr": 0.0},
        ValueError,
        r"start_lr must be positive \(got start_lr=0\.0\)",
    ),
    (
        "start_lr-negative",
        {"start_lr": -1e-3},
        ValueError,
        r"start_lr must be positive \(got start_lr=-0\.001\)",
    ),
    (
        "start_lr-nan",
        {"start_lr": math.nan},
        ValueError,
        r"start_lr must be finite \(got start_lr=nan\)",
    ),
    (
        "start_lr-inf",
        {"start_lr": math.inf},
        ValueError,
        r"start_lr must be finite \(got start_lr=inf\)",
    ),
    (
        "start_lr-str",
        {"start_lr": "1e-3"},
        TypeError,
        r"start_lr must be a real number \(got start_lr='1e-3'\)",
    ),
    (
        "start_lr-bool",
        {"start_lr": True},
        TypeError,
        r"start_lr must be a real number \(got start_lr=True\)",
    ),
    (
        "end_lr-below-start",
        {"start_lr": 1.0, "end_lr": 0.1},
        ValueError,
        r"end_lr must be greater than start_lr \(got start_lr=1\.0, end_lr=0\.1\)",
    ),
    ("end_lr-inf", {"end_lr": math.inf}, ValueError, r"end_lr must be finite \(got end_lr=inf\)"),
    ("end_lr-nan", {"end_lr": math.nan}, ValueError, r"end_lr must be finite \(got end_lr=nan\)"),
    ("num_steps-zero", {"num_steps": 0}, ValueError, r"num_steps must be >= 2 \(got num_steps=0\)"),
    ("num_steps-one", {"num_steps": 1}, ValueError, r"num_steps must be >= 2 \(got num_steps=1\)"),
    (
        "num_steps-negative",
        {"num_steps": -5},
        ValueError,
        r"num_steps must be >= 2 \(got num_steps=-5\)",
    ),
    (
        "num_steps-float",
        {"num_steps": 10.0},
        TypeError,
        r"num_steps must be an integer \(got num_steps=10\.0\)",
    ),
    (
        "num_steps-str",
        {"num_steps": "100"},
        TypeError,
        r"num_steps must be an integer \(got num_steps='100'\)",
    ),
    (
        "sweep-unknown",
        {"sweep": "log"},
        ValueError,
        r"sweep must be one of 'exp', 'linear' \(got sweep='log'\)",
    ),
    (
        "sweep-none",
        {"sweep": None},
        ValueError,
        r"sweep must be one of 'exp', 'linear' \(got sweep=None\)",
    ),
    (
        "smoothing-one",
        {"smoothing": 1.0},
        ValueError,
        r"smoothing must be in \[0, 1\) \(got smoothing=1\.0\)",
    ),
    (
        "smoothing-negative",
        {"smoothing": -0.1},
        ValueError,
        r"smoothing must be in \[0, 1\) \(got smoothing=-0\.1\)",
    ),
    (
        "smoothing-nan",
        {"smoothing": math.nan},
        ValueError,
        r"smoothing must be finite \(got smoothing=nan\)",
    ),
    (
        "diverge_factor-one",
        {"diverge_factor": 1.0},
        ValueError,
        r"diverge_factor must be greater than 1 \(got diverge_factor=1\.0\)",
    ),
    (
        "diverge_factor-inf",
        {"diverge_factor": math.inf},
        ValueError,
        r"diverge_factor must be finite \(got diverge_factor=inf\)",
    ),
    (
        "group_scales-too-long",
        {"group_scales": [1.0, 2.0]},
        ValueError,
        r"group_scales must have one entry per .* \(got 2 entries for 1 param groups",
    ),
    (
        "group_scales-too-short",
        {"make_opt": _two_group_opt, "group_scales": [1.0]},
        ValueError,
        r"group_scales must .*\(got 1 entries for 2 param groups: group_scales=\(1\.0,\)\)",
    ),
    (
        "group_scales-negative",
        {"make_opt": _two_group_opt, "group_scales": [1.0, -2.0]},
        ValueError,
        r"group_scales\[1\] must be positive \(got group_scales\[1\]=-2\.0\)",
    ),
    (
        "group_scales-nan",
        {"make_opt": _two_group_opt, "group_scales": [1.0, math.nan]},
        ValueError,
        r"group_scales\[1\] must be finite \(got group_scales\[1\]=nan\)",
    ),
    (
        "group_scales-first-not-one",
        {"make_opt": _two_group_opt, "group_scales": [2.0, 1.0]},
        ValueError,
        r"group_scales\[0\] must be 1\.0.*\(got group_scales=\(2\.0, 1\.0\)\)",
    ),
    (
        "group_scales-str",
        {"group_scales": "1"},
        TypeError,
        r"group_scales must be a sequence of numbers or None \(got group_scales='1'\)",
    ),
    (
        "group-lr-zero",
        {
            "make_opt": lambda m: torch.optim.SGD(
                [{"params": m[0].parameters()}, {"params": m[4].parameters(), "lr": 0.0}], lr=0.1
            )
        },
        ValueError,
        r"optimizer\.param_groups\[1\]\['lr'\] must be positive and finite .*\(got 0\.0\)",
    ),
    (
        "metric_fn-int",
        {"metric_fn": 5},
        TypeError,
        r"metric_fn must be callable or None \(got metric_fn=5\)",
    ),
    (
        "eval_every-without-metric",
        {"eval_every": 5},
        ValueError,
        r"eval_every needs a metric_fn \(got eval_every=5, metric_fn=None\)",
    ),
    (
        "eval_every-zero",
        {"metric_fn": lambda m: 1.0, "eval_every": 0},
        ValueError,
        r"eval_every must be positive \(got eval_every=0\)",
    ),
    (
        "eval_every-float",
        {"metric_fn": lambda m: 1.0, "eval_every": 1.5},
        TypeError,
        r"eval_every must be an integer \(got eval_every=1\.5\)",
    ),
    (
        "metric-str",
        {"metric_fn": lambda m: "good"},
        TypeError,
        r"metric_fn must return a real number \(got metric_fn\(model\)='good'\)",
    ),
    (
        "metric-nan",
        {"metric_fn": lambda m: math.nan},
        ValueError,
        r"metric_fn must return a finite number \(got metric_fn\(model\)=nan\)",
    ),
    (
        "accumulation_steps-zero",
        {"accumulation_steps": 0},
        ValueError,
        r"accumulation_steps must be positive \(got accumulation_steps=0\)",
    ),
    (
        "accumulation_steps-negative",
        {"accumulation_steps": -2},
        ValueError,
        r"accumulation_steps must be positive \(got accumulation_steps=-2\)",
    ),
    (
        "accumulation_steps-float",
        {"accumulation_steps": 2.0},
        TypeError,
        r"accumulation_steps must be an integer \(got accumulation_steps=2\.0\)",
    ),
    (
        "accumulation_steps-none",
        {"accumulation_steps": None},
        TypeError,
        r"accumulation_steps must be an integer \(got accumulation_steps=None\)",
    ),
    (
        "scaler-str",
        {"scaler": "amp"},
        TypeError,
        r"scaler must be a torch\.amp\.GradScaler or None \(got scaler='amp'\)",
    ),
    (
        "device-int",
        {"device": 5},
        TypeError,
        r"device must be a str, a torch\.device or None \(got device=5\)",
    ),
    (
        "device-unknown",
        {"device": "quantum"},
        ValueError,
        r"device is not a valid torch device \(got device='quantum'\)",
    ),
    (
        "snapshot-unknown",
        {"snapshot": "gpu"},
        ValueError,
        r"snapshot must be one of 'memory', 'disk' \(got snapshot='gpu'\)",
    ),
    (
        "progress-str",
        {"progress": "yes"},
        TypeError,
        r"progress must be a bool or None \(got progress='yes'\)",
    ),
    (
        "sync_every-zero",
        {"sync_every": 0},
        ValueError,
        r"sync_every must be positive \(got sync_every=0\)",
    ),
    (
        "sync_every-float",
        {"sync_every": 2.0},
        TypeError,
        r"sync_every must be an integer \(got sync_every=2\.0\)",
    ),
    (
        "loss-not-scalar",
        {"loss_fn": lambda o, t: torch.nn.functional.cross_entropy(o, t, reduction="none")},
        ValueError,
        r"the loss \(loss_fn\) must be a scalar tensor \(got loss of shape \(32,\)\)",
    ),
    (
        "loss-without-grad",
        {"loss_fn": None, "step_fn": _as_scalar_fn(torch.tensor(1.0))},
        ValueError,
        r"the loss \(step_fn\) must require grad \(got a loss with requires_grad=False",
    ),
    (
        "loss-float",
        {"loss_fn": None, "step_fn": _as_scalar_fn(1.0)},
        TypeError,
        r"the loss \(step_fn\) must be a scalar tensor \(got loss=1\.0 of type float\)",
    ),
    (
        "loss-integer-tensor",
        {"loss_fn": None, "step_fn": _as_scalar_fn(torch.tensor(3))},
        TypeError,
        r"the loss \(step_fn\) must be a floating-point tensor \(got dtype=torch\.int64\)",
    ),
    (
        "batch-triple",
        {"data": [(torch.zeros(2, 16), torch.zeros(2), 0)]},
        TypeError,
        r"\(got a batch of type tuple\); pass step_fn",
    ),
    (
        "dict-batch-no-loss",
        {
            "model": NoLossOutput(),
            "loss_fn": None,
            "data": [{"x": torch.zeros(2, 16), "labels": torch.zeros(2)}],
        },
        TypeError,
        r"a dict batch needs a model whose output has a \.loss .*\(got output of type dict\)",
    ),
    (
        "dict-batch-with-loss_fn",
        {"data": [{"x": torch.zeros(2, 16), "labels": torch.zeros(2)}]},
        ValueError,
        r"loss_fn is not used with dict batches.*\(got loss_fn=<function loss_fn",
    ),
]
