"""The range test and one-cycle training on one CUDA GPU: host syncs, memory, per-step cost.

Run from the repository root (about a minute on one GPU)::

    .venv/bin/python benchmarks/bench_gpu.py --json benchmarks/results/gpu.json

The task: a ResNet-9-style CNN (BatchNorm, residual blocks) on synthetic 32x32 images held
on the GPU, SGD with Nesterov momentum, float16 autocast with ``torch.amp.GradScaler``.

* **Host synchronisations** (``torch.cuda.set_sync_debug_mode("warn")``): every warning
  is a synchronising CUDA call, attributed to the range-test step it happened in (the
  span from one ``step_fn`` call to the next). The goal: none in a step other than the
  host read of the losses every ``sync_every`` steps. A ``GradScaler`` reads its inf
  check on the host at every ``scaler.step`` (plain training pays it too), so the same
  count is also taken with bfloat16 autocast and no scaler, where the runner's own
  syncs stand alone.
* **Memory**: ``torch.cuda.memory_allocated`` before and after the test (equal when the
  state is restored in place) and the peak during it against the peak of plain training
  from the same start (the snapshot lives in host memory, so the peak must not grow by
  the model + optimizer state).
* **Per-step cost**: ``range_test`` over N steps (snapshot and restore included; a low
  sweep so that no run stops early) against N plain training steps, alternating, median
  over repeats.
* **One-cycle training**: N steps with ``cyclr.torch.Scheduler(opt, cyclr.OneCycle(...))``
  (momentum cycled too) against ``torch.optim.lr_scheduler.OneCycleLR`` with the same
  settings: steps per second, host time of ``scheduler.step()``, and how far the two LR
  sequences differ.

Without CUDA it says why and exits 0. ``--device cpu`` runs the same code on the CPU with
a tiny model (no sync or memory counts), so the script can be checked anywhere.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812

import cyclr
from cyclr.torch import Scheduler, range_test

SYNC_WARNING = "synchronizing CUDA operation"


# -- the task ------------------------------------------------------------------------------
def conv_bn(c_in: int, c_out: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(c_out),
        torch.nn.ReLU(inplace=True),
    )


class Residual(torch.nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def resnet9(width: int) -> torch.nn.Module:
    w = width
    return torch.nn.Sequential(
        conv_bn(3, w),
        conv_bn(w, 2 * w),
        torch.nn.MaxPool2d(2),
        Residual(2 * w),
        conv_bn(2 * w, 4 * w),
        torch.nn.MaxPool2d(2),
        conv_bn(4 * w, 8 * w),
        torch.nn.MaxPool2d(2),
        Residual(8 * w),
        torch.nn.AdaptiveMaxPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * w, 10),
    )


class Task:
    """Model, optimizer, scaler and on-device batches; ``reset`` restores the start."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        self.device = device
        # float16 + GradScaler on the GPU; on the CPU (a check only) float16 kernels are
        # slow, so bfloat16, still through an enabled GradScaler.
        self.fp16 = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.amp_dtype = self.fp16
        torch.manual_seed(0)
        self.model = resnet9(args.width).to(device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4
        )
        self.scaler = torch.amp.GradScaler(device.type)
        g = torch.Generator().manual_seed(1)
        project = torch.randn(3 * 16, 10, generator=g)
        self.batches = []
        for _ in range(args.batches):
            x = torch.randn(args.batch, 3, 32, 32, generator=g)
            y = (F.avg_pool2d(x, 8).flatten(1) @ project).argmax(1)
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            self.batches.append((x, y.to(device)))
        self._start = (
            {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            self.optimizer.state_dict(),
        )

    def reset(self) -> None:
        self.model.load_state_dict(self._start[0])
        self.optimizer.load_state_dict(self._start[1])
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler = torch.amp.GradScaler(self.device.type)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> Any:
        x, y = batch
        with torch.autocast(self.device.type, dtype=self.amp_dtype):
            return F.cross_entropy(model(x), y)

    def train(self, steps: int, scheduler: Any = None, host_times: list[float] | None = None):
        """Plain training: no host read of the loss."""
        model, opt, scaler = self.model, self.optimizer, self.scaler
        model.train()
        for batch in itertools.islice(itertools.cycle(self.batches), steps):
            opt.zero_grad(set_to_none=True)
            scaler.scale(self.loss(model, batch)).backward()
            scaler.step(opt)
            scaler.update()
            if scheduler is not None:
                started = time.perf_counter()
                scheduler.step()
                if host_times is not None:
                    host_times.append(time.perf_counter() - started)

    def range_test(self, steps: int, sync_every: int, low: bool, step_fn: Any = None) -> Any:
        """The range test; ``low``: a sweep that never diverges (for timing)."""
        return range_test(
            self.model,
            self.optimizer,
            self.batches,
            step_fn=step_fn or self.loss,
            start_lr=1e-6 if low else 1e-5,
            end_lr=1e-4 if low else 10.0,
            num_steps=steps,
            max_steps=steps,
            scaler=self.scaler if self.scaler.is_enabled() else None,
            sync_every=sync_every,
            progress=False,
            held_out=None,  # the sweep alone: its per-step cost and memory
        )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable[[], Any]) -> float:
    synchronize(device)
    started = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - started


def state_bytes(task: Task) -> int:
    tensors = list(task.model.state_dict().values())
    for state in task.optimizer.state.values():
        tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors if t.device.type == "cuda")


# -- the measurements ----------------------------------------------------------------------
def count_syncs(task: Task, steps: int, sync_every: int, amp: torch.dtype) -> dict[str, Any]:
    """Synchronising calls per range-test step, and per plain training step."""
    task.reset()
    task.amp_dtype = amp
    if amp != torch.float16:
        task.scaler = torch.amp.GradScaler(task.device.type, enabled=False)
    task.train(3)  # warm up: cuDNN autotuning and lazy initialisation are not counted
    task.optimizer.zero_grad(set_to_none=True)
    marks: list[int] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")

        def step_fn(model: torch.nn.Module, batch: Any) -> Any:
            marks.append(len(records))
            return task.loss(model, batch)

        torch.cuda.set_sync_debug_mode("warn")
        try:
            result = task.range_test(steps, sync_every, low=True, step_fn=step_fn)
            in_test = len(records)
            task.train(steps)
        finally:
            torch.cuda.set_sync_debug_mode(0)
    syncs = [r for r in records if SYNC_WARNING in str(r.message)]
    if len(syncs) != len(records):
        others = {str(r.message)[:80] for r in records if SYNC_WARNING not in str(r.message)}
        print(f"bench_gpu: other warnings during the count: {sorted(others)}", file=sys.stderr)

    def count(lo: int, hi: int) -> int:
        return sum(1 for r in records[lo:hi] if SYNC_WARNING in str(r.message))

    bounds = [*marks, in_test]
    per_step = [count(a, b) for a, b in itertools.pairwise(bounds)]
    plain = count(in_test, len(records)) / steps
    reads = [i for i in range(len(per_step)) if (i + 1) % sync_every == 0]
    excess = [n - plain for n in per_step]
    sites = collections.Counter(f"{Path(r.filename).name}:{r.lineno}" for r in syncs)
    scaler = task.scaler.is_enabled()
    task.amp_dtype = task.fp16
    return {
        "autocast": str(amp).removeprefix("torch."),
        "scaler": scaler,
        "steps_run": result.settings["steps_run"],
        "sync_every": sync_every,
        "before_first_step": count(0, marks[0]) if marks else None,
        "per_step": per_step,
        "plain_per_step": plain,
        "steps_with_extra_syncs": [i for i, e in enumerate(excess[:-1]) if e > 0],
        "extra_at_read_steps": sum(excess[i] for i in reads if i < len(excess) - 1),
        "extra_elsewhere": sum(e for i, e in enumerate(excess[:-1]) if i not in reads),
        "last_step_and_restore": per_step[-1] if per_step else None,
        "sites": dict(sites.most_common(8)),
    }


def memory(task: Task, steps: int, sync_every: int) -> dict[str, Any]:
    """Allocated bytes around the range test; its peak against plain training's."""
    task.reset()
    task.train(3)
    task.optimizer.zero_grad(set_to_none=True)
    synchronize(task.device)
    start = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    task.train(steps)
    synchronize(task.device)
    peak_plain = torch.cuda.max_memory_allocated() - start
    task.optimizer.zero_grad(set_to_none=True)
    synchronize(task.device)
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    task.range_test(steps, sync_every, low=True)
    synchronize(task.device)
    after = torch.cuda.memory_allocated()
    peak_test = torch.cuda.max_memory_allocated() - before
    return {
        "state_bytes": state_bytes(task),
        "allocated_before": before,
        "allocated_after": after,
        "peak_growth_plain": peak_plain,
        "peak_growth_range_test": peak_test,
        "peak_extra_bytes": peak_test - peak_plain,
    }


def cost(task: Task, steps: int, sync_every: int, repeats: int) -> dict[str, Any]:
    """Seconds per step: range test (snapshot and restore included) and plain training."""
    task.reset()
    task.train(5)
    test_s, plain_s, ratios, run = [], [], [], steps
    for r in range(repeats):
        order = ["test", "plain"] if r % 2 == 0 else ["plain", "test"]
        times = {}
        for name in order:
            if name == "test":
                box: list[Any] = []
                times[name] = timed(
                    task.device,
                    lambda box=box: box.append(task.range_test(steps, sync_every, True)),
                )
                run = box[0].settings["steps_run"]
            else:
                times[name] = timed(task.device, lambda: task.train(steps))
        test_s.append(times["test"] / run)
        plain_s.append(times["plain"] / steps)
        ratios.append(test_s[-1] / plain_s[-1])
    return {
        "steps": steps,
        "steps_run": run,
        "range_test_ms_per_step": 1e3 * statistics.median(test_s),
        "plain_ms_per_step": 1e3 * statistics.median(plain_s),
        "ratio": statistics.median(ratios),
    }


def one_cycle(task: Task, steps: int, repeats: int) -> dict[str, Any]:
    """cyclr's Scheduler + OneCycle against torch's OneCycleLR over the same run."""
    settings = dict(max_lr=0.2, total_steps=steps, pct_start=0.3, div_factor=25.0)
    settings["final_div_factor"] = 1e4

    def make(kind: str) -> Any:
        if kind == "cyclr":
            schedule = cyclr.OneCycle(**settings)
            return Scheduler(task.optimizer, schedule, momentum=schedule.momentum(0.85, 0.95))
        return torch.optim.lr_scheduler.OneCycleLR(task.optimizer, **settings)

    lrs: dict[str, list[float]] = {"cyclr": [], "torch": []}
    for kind in lrs:  # the LR sequences, without timing
        task.reset()
        sched = make(kind)
        for _ in range(steps):
            lrs[kind].append(float(task.optimizer.param_groups[0]["lr"]))
            task.optimizer.step()
            sched.step()
    rel = max(abs(a - b) / b for a, b in zip(lrs["cyclr"], lrs["torch"], strict=True))
    rate: dict[str, list[float]] = {"cyclr": [], "torch": []}
    host: dict[str, list[float]] = {"cyclr": [], "torch": []}
    task.reset()
    task.train(5)
    for r in range(repeats):
        for kind in ["cyclr", "torch"] if r % 2 == 0 else ["torch", "cyclr"]:
            task.reset()
            sched = make(kind)
            seconds = timed(task.device, lambda: task.train(steps, sched, host[kind]))  # noqa: B023
            rate[kind].append(steps / seconds)
    cyclr_rate, torch_rate = statistics.median(rate["cyclr"]), statistics.median(rate["torch"])
    return {
        "steps": steps,
        "cyclr_steps_per_s": cyclr_rate,
        "torch_steps_per_s": torch_rate,
        "ratio": cyclr_rate / torch_rate,
        "cyclr_step_us": 1e6 * statistics.median(host["cyclr"]),
        "torch_step_us": 1e6 * statistics.median(host["torch"]),
        "max_rel_lr_difference": rel,
    }


def sweep(task: Task, steps: int, sync_every: int) -> dict[str, Any]:
    """A real range test (1e-5 to 10) and what it suggests."""
    task.reset()
    result = task.range_test(steps, sync_every, low=False)
    out: dict[str, Any] = {"stop_reason": result.stop_reason, "recorded": result.num_recorded}
    try:
        out["suggestion"] = result.suggest().lr
        out["clr_bounds"] = list(result.clr_bounds())
    except cyclr.NoReliableSuggestionError as exc:
        out["suggestion"] = f"none: {exc}"
    out["elapsed_s"] = result.elapsed_s
    return out


# -- the report ----------------------------------------------------------------------------
def table(report: dict[str, Any]) -> str:
    rows = [("measurement", "cyclr", "baseline", "ratio / note")]
    c = report["cost"]
    rows.append(
        (
            f"ms per step: range test vs plain training ({report['amp']} + GradScaler)",
            f"{c['range_test_ms_per_step']:.3f}",
            f"{c['plain_ms_per_step']:.3f}",
            f"{c['ratio']:.3f}x (snapshot + restore included, {c['steps_run']} steps)",
        )
    )
    for s in report.get("syncs", []):
        name = f"{s['autocast']}{' + GradScaler' if s['scaler'] else ''}"
        rows.append(
            (
                f"host syncs per step, range test vs plain ({name})",
                f"{statistics.mean(s['per_step'][:-1] or [0]):.2f}",
                f"{s['plain_per_step']:.2f}",
                f"extra: {s['extra_elsewhere']:g} between reads, {s['extra_at_read_steps']:g} at "
                f"the reads (every {s['sync_every']}); {s['before_first_step']} before step 0, "
                f"{s['last_step_and_restore']} in the last step + restore",
            )
        )
    m = report.get("memory")
    if m:
        rows.append(
            (
                "GPU bytes allocated after - before the range test",
                f"{m['allocated_after'] - m['allocated_before']}",
                "0",
                f"state on the GPU: {m['state_bytes'] / 2**20:.1f} MiB",
            )
        )
        rows.append(
            (
                "peak GPU growth, range test vs plain training (MiB)",
                f"{m['peak_growth_range_test'] / 2**20:.1f}",
                f"{m['peak_growth_plain'] / 2**20:.1f}",
                f"extra {m['peak_extra_bytes'] / 2**20:.2f} MiB (a GPU snapshot would add "
                f"{m['state_bytes'] / 2**20:.1f})",
            )
        )
    o = report["one_cycle"]
    rows.append(
        (
            "one-cycle training, steps/s: cyclr Scheduler vs OneCycleLR",
            f"{o['cyclr_steps_per_s']:.1f}",
            f"{o['torch_steps_per_s']:.1f}",
            f"{o['ratio']:.3f}x over {o['steps']} steps",
        )
    )
    rows.append(
        (
            "scheduler.step() host time (us)",
            f"{o['cyclr_step_us']:.1f}",
            f"{o['torch_step_us']:.1f}",
            f"LRs differ by at most {o['max_rel_lr_difference']:.1e} (relative)",
        )
    )
    s = report["sweep"]
    suggestion = s["suggestion"]
    rows.append(
        (
            f"range test 1e-5..10 ({report['amp']} + GradScaler)",
            f"{suggestion:.3g}" if isinstance(suggestion, float) else "none",
            "",
            f"{s['stop_reason']} after {s['recorded']} steps, {s['elapsed_s']:.2f} s",
        )
    )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) + " |"
        for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--steps", type=int, default=200, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sync-every", type=int, default=10)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--batches", type=int, default=16, help="distinct batches on the GPU")
    parser.add_argument("--width", type=int, default=64, help="channels of the first conv")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a check, not a result)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.batch, args.batches, args.width = 10, 1, 8, 4, 4
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        reason = (
            f"no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
            "this benchmark needs a GPU"
        )
        print(f"bench_gpu: skipped: {reason}")
        if args.json:
            args.json.write_text(json.dumps({"skipped": reason}, indent=2) + "\n")
        return 0
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    task = Task(args, device)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "amp": str(task.fp16).removeprefix("torch."),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    with warnings.catch_warnings():
        # A GradScaler skips the first steps while it finds its scale; both schedulers
        # then see scheduler.step() before a real optimizer.step() and say so.
        warnings.filterwarnings("ignore", message=r".*lr_scheduler\.step\(\)")
        warnings.filterwarnings("ignore", message=r".*optimizer\.step\(\)")
        if device.type == "cuda":
            report["syncs"] = [
                count_syncs(task, min(args.steps, 100), args.sync_every, torch.float16),
                count_syncs(task, min(args.steps, 100), args.sync_every, torch.bfloat16),
            ]
            report["memory"] = memory(task, min(args.steps, 50), args.sync_every)
        report["cost"] = cost(task, args.steps, args.sync_every, args.repeats)
        report["one_cycle"] = one_cycle(task, args.steps, args.repeats)
        report["sweep"] = sweep(task, 100 if not args.quick else 30, args.sync_every)
    if device.type != "cuda":
        print(f"bench_gpu: {args.device} run: a check of the script, not a GPU measurement")
    print(table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
