"""range_test under torch.distributed: 2 and 3 gloo processes on CPU, with a hang timeout.

Every scenario runs in the same spawned job (one process group), each rank writes its
outcome to a JSON file, and the parent checks them. A job that does not finish within
its deadline is killed and the test fails: a hang is a failure, never a stuck suite.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import socket
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tests.torch.rangetest_support import assert_same, capture, loss_fn, make_batches, make_model

from cyclr.rangetest import RangeTestResult
from cyclr.torch import range_test

torch.set_num_threads(1)

DEADLINE_S = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _outcome(fn: Any) -> dict[str, Any]:
    try:
        value = fn()
        return {"error": None, **value}
    except BaseException as exc:
        return {
            "error": type(exc).__name__,
            "message": str(exc),
            "trace": traceback.format_exc()[-2000:],
        }


def _replica_run(
    rank: int,
    *,
    nan_at: int | None = None,
    raise_at: int | None = None,
    ddp: bool = False,
    snapshot: str = "memory",
    **kwargs: Any,
) -> dict[str, Any]:
    model = make_model(0)  # same initial weights on every rank
    net: torch.nn.Module = torch.nn.parallel.DistributedDataParallel(model) if ddp else model
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(100 + rank)
    before = capture(net, opt)
    local: list[float] = []

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        i = len(local)
        if raise_at is not None and i == raise_at:
            local.append(math.nan)
            raise RuntimeError(f"injected failure on rank {rank} at step {i}")
        loss = loss_fn(m(batch[0]), batch[1])
        if nan_at is not None and i == nan_at:
            loss = loss * math.nan
        local.append(loss.item())
        return loss

    outcome = _outcome(
        lambda: {
            "result": range_test(
                net, opt, make_batches(seed=10 + rank), step_fn=step, snapshot=snapshot, **kwargs
            ).to_json()
        }
    )
    try:
        assert_same(before, capture(net, opt))
        outcome["restored"] = True
    except AssertionError as exc:
        outcome["restored"] = str(exc)
    outcome["local"] = local
    return outcome


def _worker(rank: int, world_size: int, port: int, outdir: str, scenarios: list[str]) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=rank, world_size=world_size, timeout=datetime.timedelta(seconds=60)
    )
    tempfile.tempdir = os.path.join(outdir, f"tmp{rank}")
    os.makedirs(tempfile.tempdir)
    import cyclr.rangetest.driver as driver_module

    shown: list[Any] = []
    original_bar = driver_module.progress_bar

    def spy_bar(total: int, enabled: bool | None = None, desc: str = "") -> Any:
        shown.append(enabled)
        return original_bar(total, enabled=False)

    driver_module.progress_bar = spy_bar  # type: ignore[assignment]
    last = world_size - 1
    common: dict[str, Any] = {
        "start_lr": 1e-4, "end_lr": 10.0, "num_steps": 40, "max_steps": 40, "sync_every": 4,
    }  # fmt: skip
    for name in scenarios:
        if name == "replicas":
            out = _replica_run(rank, progress=True, **common)
        elif name == "nan":
            out = _replica_run(rank, nan_at=7 if rank == last else None, **common)
        elif name == "ddp":
            out = _replica_run(rank, ddp=True, accumulation_steps=2, snapshot="disk", **common)
        elif name == "raise":
            out = _replica_run(rank, raise_at=5 if rank == 1 else None, **common)
        elif name == "metric_raise_ddp":

            def metric(m: torch.nn.Module) -> float:
                if rank == 0:
                    raise ValueError("metric failed on rank 0")
                return 1.0

            out = _replica_run(rank, ddp=True, metric_fn=metric, eval_every=6, **common)
        elif name == "mismatch":
            out = _replica_run(rank, **{**common, "num_steps": 30 if rank == 1 else 40})
        elif name == "auto":
            out = _replica_run(rank, held_out="auto", **common)
        elif name == "invalid":
            out = _replica_run(rank, smoothing=2.0 if rank == last else 0.98, **common)
        elif name == "ddp_raise_in_forward":
            out = _replica_run(rank, ddp=True, raise_at=3 if rank == 1 else None, **common)
        else:
            raise AssertionError(name)
        out["tmp_left"] = [f for f in os.listdir(tempfile.tempdir) if f.startswith("cyclr")]
        Path(outdir, f"{name}-{rank}.json").write_text(json.dumps(out))
    Path(outdir, f"progress-{rank}.json").write_text(json.dumps(shown))
    if "ddp_raise_in_forward" in scenarios:
        # The failure inside DDP's backward leaves the gloo group broken: destroying it
        # can block, and letting the interpreter tear it down at exit can abort the
        # process ("terminate called without an active exception") after every outcome
        # above is written. Leave without running the C++ destructors.
        os._exit(0)
    dist.destroy_process_group()


def _launch(world_size: int, scenarios: list[str], outdir: Path) -> dict[str, list[dict[str, Any]]]:
    ctx = mp.start_processes(
        _worker,
        args=(world_size, _free_port(), str(outdir), scenarios),
        nprocs=world_size,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not ctx.join(timeout=1.0):
            if time.monotonic() > deadline:
                pytest.fail(f"distributed job hung (world_size={world_size}, {scenarios})")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    return {
        name: [json.loads(Path(outdir, f"{name}-{r}.json").read_text()) for r in range(world_size)]
        for name in [*scenarios, "progress"]
    }


SCENARIOS = [
    "replicas", "nan", "ddp", "raise", "metric_raise_ddp", "mismatch", "auto", "invalid",
]  # fmt: skip


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_agree_stop_together_and_never_hang(world_size: int, tmp_path: Path) -> None:
    # the 2-process job ends with a failure inside DDP's backward (it breaks the group)
    last = ["ddp_raise_in_forward"] if world_size == 2 else []
    out = _launch(world_size, SCENARIOS + last, tmp_path)
    for name in SCENARIOS + last:
        for r, o in enumerate(out[name]):
            assert o["restored"] is True, (name, r, o["restored"])
            assert o["tmp_left"] == [], (name, r)

    # plain replicas, different data per rank: the mean loss, identical results everywhere
    runs = out["replicas"]
    assert all(o["error"] is None for o in runs), [o.get("trace") for o in runs]
    results = [RangeTestResult.from_json_text(o["result"]) for o in runs]
    assert all(res == results[0] for res in results)
    first = results[0]
    assert first.settings["world_size"] == world_size
    n = first.num_recorded
    local = np.array([o["local"][:n] for o in runs])
    assert not np.allclose(local[0], local[1])  # the ranks really saw different data
    np.testing.assert_allclose(first.losses, local.mean(axis=0), rtol=1e-12)
    assert out["progress"][0][0] is True and all(p[0] is False for p in out["progress"][1:])

    # a NaN on the last rank only stops every rank at that step
    runs = out["nan"]
    results = [RangeTestResult.from_json_text(o["result"]) for o in runs]
    assert all(res == results[0] for res in results)
    assert results[0].stop_reason == "non_finite" and results[0].num_recorded == 8

    # DDP with accumulation and a disk snapshot on every rank
    runs = out["ddp"]
    assert all(o["error"] is None for o in runs), [o.get("trace") for o in runs]
    results = [RangeTestResult.from_json_text(o["result"]) for o in runs]
    assert all(res == results[0] for res in results) and results[0].num_recorded >= 10

    # an exception on rank 1: it raises its own error, every other rank stops cleanly
    runs = out["raise"]
    assert runs[1]["error"] == "RuntimeError" and "injected failure" in runs[1]["message"]
    for r, o in enumerate(runs):
        if r != 1:
            assert o["error"] == "RangeTestAbortedError"
            assert "rank 1 raised RuntimeError: injected failure" in o["message"]

    runs = out["metric_raise_ddp"]
    assert runs[0]["error"] == "ValueError" and "metric failed" in runs[0]["message"]
    assert all(o["error"] == "RangeTestAbortedError" for o in runs[1:])

    # different settings on one rank: every rank refuses instead of hanging
    for o in out["mismatch"]:
        assert o["error"] == "ValueError" and "num_steps is 40.0 on rank 0 and 30.0" in o["message"]
    # held_out="auto" holds nothing aside with several processes (each rank would hold
    # its own batches and could keep a different LR): the curve's result, the same on all
    runs = out["auto"]
    assert all(o["error"] is None for o in runs), [o.get("trace") for o in runs]
    results = [RangeTestResult.from_json_text(o["result"]) for o in runs]
    assert all(res == results[0] for res in results) and results[0].confirmation is None
    note = "none held aside: torch.distributed with several processes"
    assert results[0].settings["held_out"] == note

    runs = out["invalid"]
    assert runs[-1]["error"] == "ValueError" and "smoothing" in runs[-1]["message"]
    assert all(o["error"] == "RangeTestAbortedError" for o in runs[:-1])

    if last:
        # rank 1 fails before its backward while rank 0 waits in DDP's gradient all-reduce;
        # rank 1's process then ends (nothing of the range test keeps it), and rank 0 gets
        # an error from gloo instead of hanging
        runs = out["ddp_raise_in_forward"]
        assert runs[1]["error"] == "RuntimeError" and "injected failure" in runs[1]["message"]
        assert runs[0]["error"] is not None
