"""How two gloo ranks end a distributed range test: the same outcome on both, every time?

Run from the repository root::

    .venv/bin/python benchmarks/bench_distributed_shutdown.py --repeats 20

Two spawned CPU processes run many range tests one after the other. Each trial gets a
fresh process group whose store lives on rank 0 (``tcp://`` init) and is torn down
(``destroy_process_group``) as soon as the trial returns or raises on that rank, exactly
like a process that exits: a rank still talking to the store then sees the store vanish.

Scenarios (rank 1 sleeps 5 ms per step, so rank 0 is ahead):

* ``succeed``: both ranks finish; expected: the same result (LRs and losses) on both.
* ``slow_read``: the same, but every read of rank 1 from the store takes 20 ms longer
  (a rank descheduled on a busy machine while it reads its last packets).
* ``raise0`` / ``raise1``: that rank's step raises ``RuntimeError`` at step 9; expected:
  it re-raises its error, the other raises ``RangeTestAbortedError``.
* ``interrupt0`` / ``interrupt1``: the same with ``KeyboardInterrupt``.

The table counts each rank's outcomes and the trials that ended as expected. The
functions here are also used by ``tests/torch/test_distributed_shutdown.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed import distributed_c10d

SCENARIOS = ["succeed", "slow_read", "raise0", "raise1", "interrupt0", "interrupt1"]
FAIL_AT = 9
SLOW_S = 0.005  # rank 1 sleeps this long in every step
SLOW_READ_S = 0.02  # and this long in every read from the store in "slow_read"
EXPECTED: dict[str, tuple[str, str]] = {
    "succeed": ("result", "result"),
    "slow_read": ("result", "result"),
    "raise0": ("RuntimeError", "RangeTestAbortedError"),
    "raise1": ("RangeTestAbortedError", "RuntimeError"),
    "interrupt0": ("KeyboardInterrupt", "RangeTestAbortedError"),
    "interrupt1": ("RangeTestAbortedError", "KeyboardInterrupt"),
}


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class _SlowReads:
    """A store whose reads take ``SLOW_READ_S`` longer (everything else is passed on)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def itself(self) -> _SlowReads:
        return self

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name not in ("get", "multi_get", "check", "delete_key"):
            return attr

        def slow(*args: Any) -> Any:
            time.sleep(SLOW_READ_S)
            return attr(*args)

        return slow


def _trial(rank: int, scenario: str) -> dict[str, Any]:
    from cyclr.torch import range_test

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(10 + rank)
    batches = [(torch.randn(16, 8, generator=g), torch.randint(0, 2, (16,), generator=g))]
    steps = [0]

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        i = steps[0]
        steps[0] += 1
        if i == FAIL_AT and scenario in (f"raise{rank}", f"interrupt{rank}"):
            if scenario.startswith("raise"):
                raise RuntimeError(f"injected failure on rank {rank} at step {i}")
            raise KeyboardInterrupt
        if rank == 1:
            time.sleep(SLOW_S)
        return torch.nn.functional.cross_entropy(m(batch[0]), batch[1])

    try:
        result = range_test(
            model,
            opt,
            batches * 40,
            step_fn=step,
            start_lr=1e-4,
            end_lr=1.0,
            num_steps=30,
            max_steps=30,
            sync_every=4,
            progress=False,
        )
        return {"outcome": "result", "lrs": result.lrs.tolist(), "losses": result.losses.tolist()}
    except BaseException as exc:
        return {
            "outcome": type(exc).__name__,
            "message": str(exc)[:300],
            "trace": traceback.format_exc()[-1500:],
        }


def _worker(rank: int, ports: list[int], plan: list[str], outdir: str) -> None:
    torch.set_num_threads(1)
    out = Path(outdir, f"rank{rank}.jsonl")
    for i, (port, scenario) in enumerate(zip(ports, plan, strict=True)):
        started = time.perf_counter()
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=2,
            timeout=datetime.timedelta(seconds=20),
        )
        original = distributed_c10d._get_default_store
        if scenario == "slow_read" and rank == 1:
            slow = _SlowReads(original())
            distributed_c10d._get_default_store = slow.itself  # type: ignore[method-assign]
        try:
            record = {"trial": i, "scenario": scenario, **_trial(rank, scenario)}
        finally:
            distributed_c10d._get_default_store = original  # type: ignore[assignment]
        try:
            dist.destroy_process_group()  # on rank 0 this ends the store, as an exit would
        except Exception as exc:  # keep going with the next trial
            record["destroy"] = repr(exc)[:200]
        record["seconds"] = time.perf_counter() - started
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")


def run_trials(
    scenarios: list[str], repeats: int, outdir: Path, deadline_s: float
) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Run every scenario ``repeats`` times (interleaved) in one 2-process job.

    Returns:
        For each scenario, one ``(rank 0 record, rank 1 record)`` pair per trial; a
        trial missing on a rank (the job hung and was killed) has outcome ``"missing"``.
    """
    plan = [s for _ in range(repeats) for s in scenarios]
    ports = _free_ports(len(plan))
    ctx = mp.start_processes(
        _worker, args=(ports, plan, str(outdir)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + deadline_s
    try:
        while not ctx.join(timeout=0.5):
            if time.monotonic() > deadline:
                break
    except Exception:  # a worker died: read what it left
        pass
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    records: list[dict[int, dict[str, Any]]] = [{}, {}]
    for rank in range(2):
        path = Path(outdir, f"rank{rank}.jsonl")
        if path.exists():
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                records[rank][rec["trial"]] = rec
    out: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {s: [] for s in scenarios}
    for i, scenario in enumerate(plan):
        pair = tuple(records[r].get(i, {"outcome": "missing"}) for r in range(2))
        out[scenario].append((pair[0], pair[1]))
    return out


def as_expected(scenario: str, pair: tuple[dict[str, Any], dict[str, Any]]) -> bool:
    """Whether a trial ended as documented (and, on success, with equal results)."""
    if (pair[0]["outcome"], pair[1]["outcome"]) != EXPECTED[scenario]:
        return False
    if scenario == "succeed":
        return bool(pair[0]["lrs"] == pair[1]["lrs"] and pair[0]["losses"] == pair[1]["losses"])
    return True


def table(results: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]) -> str:
    lines = [
        "| scenario | trials | rank 0 outcomes | rank 1 outcomes | as expected |",
        "|---|---|---|---|---|",
    ]
    for scenario, pairs in results.items():
        cells = []
        for r in range(2):
            counts = Counter(p[r]["outcome"] for p in pairs)
            cells.append(", ".join(f"{k} {v}" for k, v in counts.most_common()))
        ok = sum(as_expected(scenario, p) for p in pairs)
        lines.append(f"| {scenario} | {len(pairs)} | {cells[0]} | {cells[1]} | {ok}/{len(pairs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--scenarios", nargs="+", default=SCENARIOS, choices=SCENARIOS)
    parser.add_argument("--show-errors", action="store_true", help="print unexpected traces")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        results = run_trials(args.scenarios, args.repeats, Path(tmp), deadline_s=900.0)
        elapsed = time.perf_counter() - started
    print(table(results))
    print(f"\n{elapsed:.1f} s, torch {torch.__version__}, {os.cpu_count()} CPUs")
    if args.show_errors:
        for scenario, pairs in results.items():
            for pair in pairs:
                if not as_expected(scenario, pair):
                    for r, rec in enumerate(pair):
                        print(f"--- {scenario} rank {r}: {rec['outcome']}")
                        print(rec.get("trace", rec.get("message", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
