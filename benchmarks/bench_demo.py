"""``cyclr demo`` for several seeds: the table of benchmarks/results/demo.md.

Each seed runs the real command, ``python -m cyclr demo --seed S``, in a subprocess
(imports, data generation, range test, three trainings and the figures all count in
its wall time) and the numbers are read back from the ``summary.json`` it writes.

Run from the repository root::

    .venv/bin/python benchmarks/bench_demo.py --write benchmarks/results/demo.md

The machine is described by ``platform``, the CPU count and the 1-minute load average
before and after each run (a shared machine slows the wall time, not the accuracies:
every run is seeded and single-process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LABELS = {"fixed": "fixed LR", "triangular2": "triangular2", "onecycle": "one-cycle"}


def run_seed(
    seed: int, task: str, threads: int, out: Path, extra: list[str] | None = None
) -> dict[str, Any]:
    """Run ``cyclr demo`` once and return its summary plus wall time and load."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    command = [sys.executable, "-m", "cyclr", "demo", "--task", task, "--seed", str(seed)]
    command += ["--threads", str(threads), "--out", str(out), "--no-progress", *(extra or [])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"cyclr demo --seed {seed} failed:\n{done.stdout}\n{done.stderr}")
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    summary["wall_s"] = wall
    summary["load"] = (load_before, os.getloadavg()[0])
    summary["stdout"] = done.stdout
    return summary


def thread_timing(repeats: int = 3, steps: int = 300) -> dict[int, float]:
    """Median wall seconds of ``steps`` demo training steps with 1 and with 2 torch threads.

    The two settings alternate within every repeat, so load drifts hit both alike.
    """
    import torch

    from cyclr import Constant
    from cyclr.demo import load_mnist1d
    from cyclr.demo.train import train

    task = load_mnist1d()
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            started = time.perf_counter()
            train(
                task, Constant(0.05), steps, batch_size=100, seed=0, eval_every=50, progress=False
            )
            times[threads].append(time.perf_counter() - started)
    return {threads: statistics.median(values) for threads, values in times.items()}


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if len(known) == len(values) else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _steps(value: float | None) -> str:
    return "not reached" if value is None else f"{value:,.0f}"


def observations(summaries: list[dict[str, Any]]) -> list[str]:
    """Per-run ranges over the seeds, so that the medians are not read alone."""
    lines = []
    for name in list(LABELS)[1:]:
        rows = [next(r for r in s["runs"] if r["name"] == name) for s in summaries]
        finals = [r["final_accuracy"] for r in rows]
        speeds = [r["speedup"] for r in rows]
        known = [v for v in speeds if v is not None]
        faster = sum(1 for v in known if v > 1.0)
        lines.append(
            f"- {LABELS[name]}: final accuracy {min(finals):.1%} to {max(finals):.1%} "
            f"(fixed LR: {min(s['target_accuracy'] for s in summaries):.1%} to "
            f"{max(s['target_accuracy'] for s in summaries):.1%}); speed-up "
            + (f"{min(known):.2f}x to {max(known):.2f}x" if known else "never reached")
            + f", above 1 in {faster} of {len(speeds)} seeds."
        )
    return lines


def markdown(
    summaries: list[dict[str, Any]],
    command: str,
    task: str,
    threads: dict[int, float] | None = None,
) -> str:
    """The results fragment: medians first, then every seed."""
    import numpy
    import torch

    first = summaries[0]
    seeds = [s["config"]["seed"] for s in summaries]
    runs = list(LABELS)
    by_run = {
        name: [next(r for r in s["runs"] if r["name"] == name) for s in summaries] for name in runs
    }
    budget = first["total_steps"]
    lines = [
        "# `cyclr demo`: fixed LR vs triangular2 vs one-cycle",
        "",
        f"Task: {first['task_title']}; tiny 1-D CNN ({first['model_weights']:,} weights), "
        f"SGD momentum {first['config']['momentum']}, weight decay "
        f"{first['config']['weight_decay']:g}, batch {first['config']['batch_size']} "
        f"({first['steps_per_epoch']} steps/epoch). Every run: {budget:,} steps "
        f"({first['epochs']:g} epochs), the same initialization and batches per seed. "
        f"triangular2: {first['config']['cycles']} cycles of "
        f"{2 * first['config']['epochs_per_half_cycle']:g} epochs. Held-out accuracy every "
        f"{first['config']['eval_every']} steps on the test split.",
        "",
        f"Command: `{command}` (seeds {', '.join(map(str, seeds))}; each seed runs "
        f"`python -m cyclr demo --task {task} --seed S --threads {first['config']['threads']}"
        + (" --confirm" if first["config"].get("confirm") else "")
        + "`).",
        "",
        f"## Median over seeds {', '.join(map(str, seeds))}",
        "",
        "Target: the fixed-LR run's final accuracy (per seed). Steps to target: first "
        "evaluated step at or above it. Speed-up: the fixed run's steps to target divided "
        "by the run's own; in brackets the paper's reading, the fixed run's whole budget "
        "divided by the run's steps to target.",
        "",
        "| run | final accuracy | steps to target | speed-up | (budget / steps) |",
        "|---|---|---|---|---|",
    ]
    for name in runs:
        rows = by_run[name]
        finals = [r["final_accuracy"] for r in rows]
        reach = [r["steps_to_target"] for r in rows]
        speed = [r["speedup"] for r in rows]
        paper = [
            None if r["steps_to_target"] is None else budget / r["steps_to_target"] for r in rows
        ]
        lines.append(
            f"| {LABELS[name]} | {_pct(statistics.median(finals))} | {_steps(_median(reach))} "
            f"| {_x(_median(speed))} | ({_x(_median(paper))}) |"
        )
    walls = [s["wall_s"] for s in summaries]
    lines += [
        "",
        f"Wall time of the whole command (median): {statistics.median(walls):.0f} s "
        f"(per seed: {', '.join(f'{w:.0f} s' for w in walls)}).",
        "",
        "## Every seed",
        "",
        "| seed | suggestion | base_lr | max_lr | target | run | final | steps to target "
        "| speed-up | wall | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        for i, name in enumerate(runs):
            r = next(r for r in s["runs"] if r["name"] == name)
            head = (
                f"| {s['config']['seed']} "
                f"| {s['suggestion']['lr']:.3g} ({s['suggestion']['method']}) "
                f"| {s['bounds']['base_lr']:.3g} | {s['bounds']['max_lr']:.3g} "
                f"| {_pct(s['target_accuracy'])} "
                if i == 0
                else "| | | | | "
            )
            tail = (
                f"| {s['wall_s']:.0f} s | {s['load'][0]:.1f} / {s['load'][1]:.1f} |"
                if i == 0
                else "| | |"
            )
            lines.append(
                f"{head}| {LABELS[name]} | {_pct(r['final_accuracy'])} "
                f"| {_steps(r['steps_to_target'])} | {_x(r['speedup'])} {tail}"
            )
    lines += ["", "## Spread over the seeds", "", *observations(summaries)]
    if threads is not None:
        lines += [
            "",
            "## Why one torch thread",
            "",
            f"300 training steps of the demo took {threads[1]:.1f} s with one torch thread and "
            f"{threads[2]:.1f} s with two (median of 3, alternating, same run). On an idle "
            "machine a second thread helps this small model little; on a busy one the "
            "threads wait on each other (earlier runs here measured 1.4 s against 27.7 s). "
            "`cyclr demo` therefore defaults to `--threads 1`.",
        ]
    lines += [
        "",
        "Smith (2017), CIFAR-10, for comparison: the fixed-LR accuracy of 81.4% after "
        "70,000 iterations is reached by triangular2 within 25,000 (2.8x by the budget "
        "reading).",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (shared with other jobs; "
        "see the load column), Python "
        f"{platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--task", default="mnist1d", choices=("mnist1d", "digits"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", type=Path, help="write the markdown here")
    parser.add_argument(
        "--confirm", action="store_true", help="pass --confirm to cyclr demo (held_out='auto')"
    )
    parser.add_argument(
        "--no-thread-timing", action="store_true", help="skip timing 1 against 2 torch threads"
    )
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    command = "python benchmarks/bench_demo.py" + (f" --write {args.write}" if args.write else "")
    if args.task != "mnist1d":
        command += f" --task {args.task}"
    extra = ["--confirm"] if args.confirm else []
    command += "".join(f" {e}" for e in extra)
    summaries = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            summary = run_seed(seed, args.task, args.threads, Path(tmp) / f"seed{seed}", extra)
            print(
                f"seed {seed}: {summary['wall_s']:.0f} s, "
                + ", ".join(
                    f"{LABELS[r['name']]} {r['final_accuracy']:.1%}" for r in summary["runs"]
                ),
                flush=True,
            )
            summaries.append(summary)
    threads = None if args.no_thread_timing else thread_timing()
    text = markdown(summaries, command, args.task, threads)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
