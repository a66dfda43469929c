"""Cost of cyclr.torch.range_test against plain training of the same model on the same data.

Run from the repository root::

    .venv/bin/python benchmarks/bench_overhead.py --write benchmarks/results/overhead.md

Timing: ``range_test`` over N steps (snapshot and restore included; the sweep is kept
low so no run stops early) against N plain training steps (zero_grad, forward, loss,
backward, optimizer.step), and torch-lr-finder's ``range_test`` + ``reset()`` when
``torch_lr_finder`` is importable. The contenders run in turn inside every repeat (the
order rotates); each repeat's time is divided by plain training's in the same repeat and
the median taken over the repeats, for the CPU time of the benchmarking thread
(``time.thread_time``, robust to other processes on a shared machine) and for wall time.

Memory: on CPU, the bytes each snapshot holds (``Snapshot.nbytes``) against the bytes of
the model and optimizer state, and the peak growth of anonymous resident memory during
the run, measured in fresh subprocesses with a larger model.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cyclr.torch import range_test
from cyclr.torch.state import snapshot

ROOT = Path(__file__).resolve().parent.parent


def make_task(
    hidden: int, batch: int, n_batches: int, seed: int = 0, model: str = "mlp"
) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any]:
    """The benchmark's model, optimizer and data.

    ``"mlp"``: 784-hidden-hidden-10 with Adam. ``"cnn"``: a small CNN on 1x28x28 (two
    conv + batch-norm + pool blocks, 16 and 32 channels) with SGD, momentum 0.9 and
    weight decay 5e-4; ``hidden`` is not used.
    """
    torch.manual_seed(seed)
    net: torch.nn.Module
    if model == "cnn":
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10),
        )  # fmt: skip
        opt: torch.optim.Optimizer = torch.optim.SGD(
            net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4
        )
        x = torch.randn(batch * n_batches, 1, 28, 28)
    else:
        net = torch.nn.Sequential(
            torch.nn.Linear(784, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 10),
        )
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.randn(batch * n_batches, 784)
    y = torch.randint(0, 10, (batch * n_batches,))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=False
    )
    return net, opt, loader


def plain(model: torch.nn.Module, opt: torch.optim.Optimizer, loader: Any, steps: int) -> None:
    crit = torch.nn.functional.cross_entropy
    it = iter(loader)
    for _ in range(steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()


def cyclr_run(**kwargs: Any) -> Callable[[torch.nn.Module, Any, Any, int], None]:
    def run(model: torch.nn.Module, opt: torch.optim.Optimizer, loader: Any, steps: int) -> None:
        result = range_test(
            model, opt, loader, torch.nn.functional.cross_entropy,
            start_lr=1e-7, end_lr=1e-5, num_steps=steps, max_steps=steps, progress=False,
            diverge_factor=1e9, held_out=None, **kwargs,
        )  # fmt: skip
        if result.num_recorded != steps:
            raise RuntimeError(f"range test stopped early: {result.stop_reason}")

    return run


def lr_finder_run(
    model: torch.nn.Module, opt: torch.optim.Optimizer, loader: Any, steps: int
) -> None:
    from torch_lr_finder import LRFinder

    for g in opt.param_groups:
        g["lr"] = 1e-7
    finder = LRFinder(model, opt, torch.nn.CrossEntropyLoss())
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bar is always on
        finder.range_test(loader, end_lr=1e-5, num_iter=steps, step_mode="exp")
    finder.reset()
    if len(finder.history["lr"]) != steps:
        raise RuntimeError("torch-lr-finder stopped early")


def time_contenders(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    contenders: dict[str, Callable[..., None]] = {
        "plain training": plain,
        "cyclr (memory snapshot)": cyclr_run(snapshot="memory"),
        "cyclr (disk snapshot)": cyclr_run(snapshot="disk"),
        "cyclr (sync_every=1)": cyclr_run(sync_every=1),
    }
    try:
        import torch_lr_finder  # noqa: F401

        contenders["torch-lr-finder 0.2.2"] = lr_finder_run
    except ImportError:
        pass
    model, opt, loader = make_task(args.hidden, args.batch, args.n_batches, model=args.model)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    names = list(contenders)
    for name in names:  # warm-up
        contenders[name](model, opt, loader, 5)
        model.load_state_dict(start)
    cpu: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            model.load_state_dict(start)
            for g in opt.param_groups:
                g["lr"] = 1e-3
            c0, w0 = time.thread_time(), time.perf_counter()
            contenders[name](model, opt, loader, args.steps)
            cpu[name].append(time.thread_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    base = cpu["plain training"]
    return {
        n: {
            "cpu_s": statistics.median(cpu[n]),
            "wall_s": statistics.median(wall[n]),
            # each repeat's time over plain training's in the same repeat: slow drifts of
            # the machine cancel; then the median over the repeats
            "cpu_ratio": statistics.median(c / b for c, b in zip(cpu[n], base, strict=True)),
            "wall_ratio": statistics.median(
                w / b for w, b in zip(wall[n], wall["plain training"], strict=True)
            ),
            "cpu_ratio_min": min(cpu[n]) / min(base),
        }
        for n in names
    }


def snapshot_sizes(args: argparse.Namespace) -> dict[str, int]:
    model, opt, loader = make_task(args.hidden, args.batch, args.n_batches, model=args.model)
    plain(model, opt, loader, 1)  # Adam state exists
    opt.zero_grad(set_to_none=True)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    state = sum(
        v.numel() * v.element_size()
        for s in opt.state.values()
        for v in s.values()
        if isinstance(v, torch.Tensor)
    )
    with snapshot(model, opt) as mem, snapshot(model, opt, storage="disk") as disk:
        return {
            "model_bytes": params,
            "optimizer_state_bytes": state,
            "memory_snapshot_bytes": mem.nbytes,
            "disk_snapshot_host_bytes": disk.nbytes,
            "disk_snapshot_file_bytes": disk.disk_bytes,
        }


def fixed_costs(args: argparse.Namespace) -> dict[str, float]:
    """Snapshot + restore time of the task's model, and the runner's per-step overhead.

    The per-step overhead is measured on a tiny model (Linear(4, 2), batch 8), where a
    training step is almost all Python, so the difference is the runner's own work.
    """
    model, opt, loader = make_task(args.hidden, args.batch, args.n_batches, model=args.model)
    plain(model, opt, loader, 1)
    times = []
    for _ in range(20):
        t0 = time.thread_time()
        with snapshot(model, opt) as snap:
            snap.restore()
        times.append(time.thread_time() - t0)
    tiny = torch.nn.Linear(4, 2)
    tiny_opt = torch.optim.SGD(tiny.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(8, 4, generator=gen), torch.randint(0, 2, (8,), generator=gen))] * 10
    n = 2000
    over = []
    for _ in range(5):
        t0 = time.thread_time()
        plain(tiny, tiny_opt, data, n)
        t1 = time.thread_time()
        cyclr_run()(tiny, tiny_opt, data, n)
        over.append((time.thread_time() - t1 - (t1 - t0)) / n)
    return {
        "snapshot_restore_ms": statistics.median(times) * 1e3,
        "per_step_overhead_us": statistics.median(over) * 1e6,
    }


def _anon_kib() -> int:
    """Anonymous resident memory of this process (Linux), in KiB; 0 elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_child(variant: str, hidden: int, steps: int) -> None:
    """In a fresh process: peak growth of anonymous memory during one variant (JSON).

    Anonymous memory, sampled every 0.2 ms by a thread, leaves out the page cache of
    files (a disk snapshot read back with mmap shows up in plain RSS, but the kernel can
    drop those pages at any time).
    """
    torch.set_num_threads(1)
    model, opt, loader = make_task(hidden, 64, 4)
    plain(model, opt, loader, 2)  # allocate grads and Adam state first
    base = _anon_kib()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _anon_kib())
            time.sleep(0.0002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if variant == "plain":
        plain(model, opt, loader, steps)
    elif variant == "lr_finder":
        lr_finder_run(model, opt, loader, steps)
    else:
        cyclr_run(snapshot=variant)(model, opt, loader, steps)
    done.set()
    sampler.join()
    print(json.dumps({"variant": variant, "peak_growth_kib": max(peak[0], _anon_kib()) - base}))


def rss_growth(args: argparse.Namespace) -> dict[str, int]:
    variants = ["plain", "memory", "disk"]
    try:
        import torch_lr_finder  # noqa: F401

        variants.append("lr_finder")
    except ImportError:
        pass
    out: dict[str, int] = {}
    for v in variants:
        proc = subprocess.run(
            [sys.executable, __file__, "--rss-child", v, "--rss-hidden", str(args.rss_hidden)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        out[v] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_growth_kib"]
    return out


def _task_name(args: argparse.Namespace) -> str:
    if args.model == "cnn":
        return "CNN conv16-bn-pool-conv32-bn-pool-linear on 1x28x28, SGD momentum 0.9, wd 5e-4"
    return f"MLP 784-{args.hidden}-{args.hidden}-10, Adam"


def report(args: argparse.Namespace) -> str:
    timing = time_contenders(args)
    fixed = fixed_costs(args)
    sizes = snapshot_sizes(args)
    rss = rss_growth(args)
    h = args.rss_hidden
    params_rss = (784 * h + h + h * h + h + 10 * h + 10) * 4
    lines = [
        "# Range-test overhead against plain training (`benchmarks/bench_overhead.py`)",
        "",
        "Command: `.venv/bin/python benchmarks/bench_overhead.py "
        f"--model {args.model} --steps {args.steps} --repeats {args.repeats} "
        f"--hidden {args.hidden} --batch {args.batch} --write {args.write}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared), "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}.",
        f"Task: {_task_name(args)} ({sizes['model_bytes'] / 1e6:.2f} MB of "
        f"float32 parameters), batch {args.batch}, {args.steps} steps, "
        f"{args.n_batches} batches (data restarted), CPU.",
        "",
        f"## Time ({args.repeats} interleaved repeats)",
        "",
        "Ratio: each repeat's time divided by plain training's time in the same repeat, "
        "median over the repeats; min ratio: fastest run over fastest plain run.",
        "",
        "| contender | median CPU s | CPU ratio | min CPU ratio | median wall s | wall ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in timing.items():
        lines.append(
            f"| {name} | {t['cpu_s']:.3f} | {t['cpu_ratio']:.3f} | {t['cpu_ratio_min']:.3f} | "
            f"{t['wall_s']:.3f} | {t['wall_ratio']:.3f} |"
        )
    lines += [
        "",
        "Target for cyclr: ratio <= 1.05. The ratio includes taking the snapshot and",
        "restoring it; the losses stay on the device and are read every `sync_every` (10)",
        "steps (on CPU a per-step read costs little; on a GPU it is a host synchronisation",
        "per step). On a shared machine the ratios move by a few percent from run to run;",
        "the fixed costs behind them, measured directly (CPU time, medians):",
        "",
        f"- snapshot + restore of this model and its optimizer state (memory): "
        f"{fixed['snapshot_restore_ms']:.1f} ms per range test;",
        f"- the runner's own work per step (tiny model, 2000 steps, against plain "
        f"training): {fixed['per_step_overhead_us']:.0f} us.",
        "",
        "## Memory",
        "",
        "Snapshot held in host memory, same task (after one optimizer step, gradients cleared):",
        "",
        "| quantity | bytes |",
        "|---|---|",
    ]
    for k, v in sizes.items():
        lines.append(f"| {k.replace('_', ' ')} | {v:,} |")
    lines += [
        "",
        "The memory snapshot is one copy of the parameters (and buffers) plus the optimizer",
        "state; the disk snapshot keeps no tensor in memory (it is written to a private",
        "temporary directory and read back with `mmap`).",
        "",
        f"Peak growth of anonymous resident memory (sampled every 0.2 ms) above the state "
        "before the run, fresh process each, gradients and Adam state allocated, MLP "
        f"784-{args.rss_hidden}-{args.rss_hidden}-10 ({params_rss / 2**20:.1f} MiB of "
        "parameters, Adam state twice that; a memory snapshot of parameters, gradients and",
        f"Adam state is {4 * params_rss / 2**20:.1f} MiB):",
        "",
        "| variant | peak growth (MiB) |",
        "|---|---|",
    ]
    names = {
        "plain": "plain training",
        "memory": "cyclr, memory snapshot",
        "disk": "cyclr, disk snapshot",
        "lr_finder": "torch-lr-finder 0.2.2 (memory cache)",
    }
    for k, v in rss.items():
        lines.append(f"| {names[k]} | {v / 1024:.1f} |")
    lines += [
        "",
        "torch-lr-finder is installed by `benchmarks/requirements.txt` (`torch-lr-finder==0.2.2`).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--n-batches", type=int, default=30)
    parser.add_argument("--rss-hidden", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.rss_child:
        _rss_child(args.rss_child, args.rss_hidden, 20)
        return 0
    text = report(args)
    if args.write:
        args.write.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
