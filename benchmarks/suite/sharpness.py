"""The top Hessian eigenvalue after a candidate's window, against the stability limit.

An exploration, kept so its numbers can be rerun: is a confirmed LR that fails late (the
batch-16 MLP at 0.05) already near the edge of stability after the window? Train ``k``
steps at ``lr`` on the confirmation's batches (the fit split of
:func:`~benchmarks.suite.proto_val.val_split`), then estimate the largest eigenvalue of
the training loss's Hessian on 512 fit examples by power iteration (Hessian-vector
products by double backward) and print ``lr * lambda / limit``:

* SGD with momentum ``beta``: ``limit = 2 (1 + beta)`` (``lr * lambda`` beyond it
  diverges on a quadratic);
* Adam: the preconditioned Hessian ``P^-1/2 H P^-1/2``, ``P = sqrt(v_hat) + eps``, against
  ``(2 + 2 beta1) / (1 - beta1)`` (Cohen et al. 2022, adaptive edge of stability).

Usage: ``python -m benchmarks.suite.sharpness TASK LR[,LR...] [SEEDS] [K]``, e.g.
``python -m benchmarks.suite.sharpness digits-mlp-sgd 0.01,0.0316,0.05 0,1 40``.

References:
    J. M. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar, "Gradient Descent on Neural
    Networks Typically Occurs at the Edge of Stability", ICLR 2021,
    https://arxiv.org/abs/2103.00065; J. M. Cohen et al., "Adaptive Gradient Methods at
    the Edge of Stability", 2022, https://arxiv.org/abs/2207.14484.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch

from .proto_val import train_batches, val_split
from .tasks import ALL_TASKS, Task

POWER_ITERATIONS = 30
EXAMPLES = 512


def top_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params: list[torch.Tensor],
    scale: list[torch.Tensor] | None = None,
) -> float:
    """The largest eigenvalue of ``H`` (or of ``S H S`` with ``S = diag(scale)``)."""
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    v = [torch.randn_like(p) for p in params]
    norm = math.sqrt(sum(float((x * x).sum()) for x in v))
    v = [x / norm for x in v]
    value = 0.0
    for _ in range(POWER_ITERATIONS):
        w = [x * s for x, s in zip(v, scale, strict=True)] if scale else v
        hv = list(torch.autograd.grad(grads, params, grad_outputs=w, retain_graph=True))
        if scale:
            hv = [h * s for h, s in zip(hv, scale, strict=True)]
        value = sum(float((a * b).sum()) for a, b in zip(v, hv, strict=True))
        norm = math.sqrt(sum(float((x * x).sum()) for x in hv))
        v = [x / norm for x in hv]
    return value


def stability_ratio(task: Task, seed: int, lr: float, k: int) -> float:
    """``lr * lambda / limit`` after ``k`` steps at ``lr`` (see the module docstring)."""
    x_fit, y_fit, _, _ = val_split(task)
    model = task.make_model(seed)
    opt = task.make_optimizer(model.parameters(), lr)
    batches = train_batches(task, seed, x_fit, y_fit)
    model.train()
    for _ in range(k):
        xb, yb = next(batches)
        opt.zero_grad()
        task.loss(model(xb), yb).backward()
        opt.step()
    params = [p for p in model.parameters() if p.requires_grad]
    xb, yb = x_fit[:EXAMPLES], y_fit[:EXAMPLES]

    def loss() -> torch.Tensor:
        return task.loss(model(xb), yb)

    if task.optimizer == "sgd":
        return lr * top_eigenvalue(loss, params) / (2.0 * (1.0 + task.momentum))
    beta1, beta2 = opt.defaults["betas"]
    scale = []
    for p in params:
        state = opt.state[p]
        v_hat = state["exp_avg_sq"] / (1.0 - beta2 ** float(state["step"]))
        scale.append((v_hat.sqrt() + opt.defaults["eps"]).rsqrt())
    return lr * top_eigenvalue(loss, params, scale) / ((2.0 + 2.0 * beta1) / (1.0 - beta1))


def main(argv: list[str]) -> int:
    """Print the ratio for each seed and LR."""
    torch.set_num_threads(1)
    task = ALL_TASKS[argv[0]]
    lrs = [float(v) for v in argv[1].split(",")]
    seeds = [int(s) for s in (argv[2] if len(argv) > 2 else "0").split(",")]
    k = int(argv[3]) if len(argv) > 3 else 40
    for seed in seeds:
        ratios = " ".join(f"{lr:.3g}: {stability_ratio(task, seed, lr, k):.2f}" for lr in lrs)
        print(f"{task.name} seed {seed}, {k} steps: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
