"""Fault injection and bad inputs for cyclr.torch.range_test.

Whatever goes wrong (an exception or KeyboardInterrupt at any step, a NaN or infinite
loss, a data iterator that raises), the model, optimizer, GradScaler and RNG states come
back bit for bit and no temporary file remains. Every bad argument raises a
TypeError/ValueError whose message names the parameter and the value.

Run as a script to tabulate the cases (the figures in benchmarks/results/faults.md)::

    .venv/bin/python tests/torch/test_faults.py > benchmarks/results/faults.md
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.torch.range_test_bad_inputs import BAD_INPUTS, call_range_test
from tests.torch.rangetest_support import (
    assert_same,
    capture,
    loss_fn,
    make_batches,
    make_model,
    train_steps,
)

from cyclr.torch import range_test

torch.set_num_threads(1)

NUM_STEPS = 24
FAULTS = ("exception", "interrupt", "nan", "inf", "data_raises")


class InjectedError(RuntimeError):
    pass


@dataclass
class Setup:
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    before: dict[str, Any] = field(default_factory=dict)


def make_setup() -> Setup:
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=2)
    train_steps(model, opt, iter(make_batches() * 2), 3, scaler=scaler)  # populated state
    setup = Setup(model, opt, scaler)
    setup.before = capture(model, opt, scaler)
    return setup


CONFIRM_STEPS = 6
CONFIRM_FIRST = 1 + NUM_STEPS
"""The first ``step_fn`` call of the confirmation: after one held-out probe and the sweep."""
CONFIRM_CALLS = 5 * (CONFIRM_STEPS + 1)
"""``step_fn`` calls of the confirmation: per candidate its steps and one held-out batch."""
CONFIRM_FAULTS = ("exception", "interrupt", "data_raises")
"""Faults injected during the confirmation (NaN candidates: ``test_confirm_torch.py``)."""


def run_fault(fault: str, at: int, storage: str, confirm: bool = False) -> tuple[str, bool, bool]:
    """Inject ``fault`` at batch ``at``; return (outcome, restored exactly, temp clean).

    With ``confirm``, the test is given ``held_out=`` and confirms its suggestion after
    the 24-step sweep (5 candidates x 6 steps); ``at >= 24`` then lands in that stage.
    """
    workdir = tempfile.mkdtemp(prefix="cyclr-faults-")
    saved_tempdir = tempfile.tempdir
    tempfile.tempdir = workdir
    try:
        s = make_setup()
        calls = {"n": 0}

        def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
            i = calls["n"]
            calls["n"] += 1
            if i == at and fault == "exception":
                raise InjectedError(f"injected at {i}")
            if i == at and fault == "interrupt":
                raise KeyboardInterrupt
            loss = loss_fn(m(batch[0]), batch[1])
            if i >= at and fault in ("nan", "inf"):
                loss = loss * (math.nan if fault == "nan" else math.inf)
            return loss

        def batches() -> Iterator[Any]:
            for i, b in enumerate(make_batches() * 4):
                if i == at:
                    raise OSError("disk read failed")
                yield b

        data: Any = batches() if fault == "data_raises" else make_batches()
        confirming: dict[str, Any] = {"held_out": None}  # the sweep alone
        if confirm:  # a sweep up to 0.1 has a suggestion to confirm
            held = make_batches(seed=7)[:1]
            confirming = {"held_out": held, "confirm_steps": CONFIRM_STEPS, "end_lr": 0.1}
        try:
            result = range_test(
                s.model, s.opt, data, step_fn=step, scaler=s.scaler, num_steps=NUM_STEPS,
                max_steps=NUM_STEPS, snapshot=storage, sync_every=5, start_lr=1e-5,
                **{"end_lr": 1e-2, **confirming},
            )  # fmt: skip
            outcome = f"finished:{result.stop_reason}:{result.num_recorded}"
        except InjectedError:
            outcome = "raised:InjectedError"
        except KeyboardInterrupt:
            outcome = "raised:KeyboardInterrupt"
        except OSError:
            outcome = "raised:OSError"
        except ValueError as exc:  # a NaN or inf loss before any update is refused
            assert "the loss must be finite before training" in str(exc)
            outcome = "raised:ValueError"
        try:
            assert_same(s.before, capture(s.model, s.opt, s.scaler))
            restored = True
        except AssertionError:
            restored = False
        # torch itself may create its compile cache folder here on first use
        clean = not [f for f in os.listdir(workdir) if f.startswith("cyclr")]
        return outcome, restored, clean
    finally:
        tempfile.tempdir = saved_tempdir
        shutil.rmtree(workdir, ignore_errors=True)


def expected_outcome(fault: str, at: int) -> str:
    if fault == "exception":
        return "raised:InjectedError"
    if fault == "interrupt":
        return "raised:KeyboardInterrupt"
    if fault == "data_raises":
        return "raised:OSError"
    if at == 0:  # the untrained model's loss: nothing a longer test could change
        return "raised:ValueError"
    return f"finished:non_finite:{at + 1}"


@settings(max_examples=25, deadline=None)
@given(
    fault=st.sampled_from(FAULTS),
    at=st.integers(0, NUM_STEPS - 1),
    storage=st.sampled_from(["memory", "disk"]),
)
def test_any_fault_at_any_step_restores_everything(fault: str, at: int, storage: str) -> None:
    outcome, restored, clean = run_fault(fault, at, storage)
    assert outcome == expected_outcome(fault, at)
    assert restored, "state differs after the fault"
    assert clean, "a temporary file remained"


@settings(max_examples=10, deadline=None)
@given(
    fault=st.sampled_from(CONFIRM_FAULTS),
    at=st.integers(CONFIRM_FIRST, CONFIRM_FIRST + CONFIRM_CALLS - 1),
    storage=st.sampled_from(["memory", "disk"]),
)
def test_any_fault_during_the_confirmation_restores_everything(
    fault: str, at: int, storage: str
) -> None:
    at = min(at, NUM_STEPS + CONFIRM_STEPS - 1) if fault == "data_raises" else at
    outcome, restored, clean = run_fault(fault, at, storage, confirm=True)
    assert outcome == expected_outcome(fault, at)
    assert restored, "state differs after the fault"
    assert clean, "a temporary file remained"


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("over", "kind", "pattern"),
    [pytest.param(o, k, p, id=i) for i, o, k, p in BAD_INPUTS],
)
def test_bad_input_raises_a_clear_error(over: dict[str, Any], kind: type, pattern: str) -> None:
    with pytest.raises(kind) as info:
        call_range_test(**dict(over))
    assert type(info.value) is kind
    assert re.search(pattern, str(info.value)), str(info.value)


# --------------------------------------------------------------------------- script
def _report() -> str:
    """Run every bad input and a grid of faults; return the markdown for faults.md."""
    lines: list[str] = []
    clear = other = 0
    others: list[str] = []
    for case, over, kind, pattern in BAD_INPUTS:
        try:
            call_range_test(**dict(over))
            others.append(f"{case}: no error")
            other += 1
        except Exception as exc:
            if type(exc) is kind and re.search(pattern, str(exc)):
                clear += 1
            else:
                other += 1
                others.append(f"{case}: {type(exc).__name__}: {exc}")
    grid = [(f, at, s) for f in FAULTS for at in range(0, NUM_STEPS, 3) for s in ("memory", "disk")]
    as_expected = restored_n = clean_n = 0
    for fault, at, storage in grid:
        outcome, restored, clean = run_fault(fault, at, storage)
        as_expected += outcome == expected_outcome(fault, at)
        restored_n += restored
        clean_n += clean
    confirm_grid = [
        (f, at, s)
        for f in CONFIRM_FAULTS
        for at in range(CONFIRM_FIRST, CONFIRM_FIRST + CONFIRM_CALLS, 3)
        if f != "data_raises" or at < NUM_STEPS + CONFIRM_STEPS  # the batches it draws
        for s in ("memory", "disk")
    ]
    confirm_counts = [0, 0, 0]
    for fault, at, storage in confirm_grid:
        outcome, restored, clean = run_fault(fault, at, storage, confirm=True)
        confirm_counts[0] += outcome == expected_outcome(fault, at)
        confirm_counts[1] += restored
        confirm_counts[2] += clean
    lines += [
        "# Fault injection and bad inputs: `cyclr.torch.range_test`",
        "",
        "Produced by `PYTHONPATH=. .venv/bin/python tests/torch/test_faults.py >",
        f"benchmarks/results/faults.md` (torch {torch.__version__}, CPU). The same cases run",
        "under pytest in",
        "`tests/torch/test_faults.py` (the faults there at hypothesis-chosen steps).",
        "",
        "## Bad inputs",
        "",
        "| cases tried | clear error (type, parameter and value named) | anything else |",
        "|---|---|---|",
        f"| {len(BAD_INPUTS)} | {clear} | {other} |",
        "",
    ]
    lines += [f"- {o}" for o in others]
    lines += [
        "Each case also checks that the model, optimizer and RNG states are unchanged",
        "afterwards (several are only detected after the snapshot, at the first batch).",
        "",
        "## Faults during the run",
        "",
        f"Faults: {', '.join(FAULTS)}; injected at batch 0, 3, ..., {NUM_STEPS - 3} of a",
        f"{NUM_STEPS}-step test (Adam with populated state, an enabled GradScaler, BatchNorm,",
        'Dropout), with `snapshot="memory"` and `snapshot="disk"`.',
        "",
        "| runs | outcome as expected | state restored bit for bit | no temporary file left |",
        "|---|---|---|---|",
        f"| {len(grid)} | {as_expected} | {restored_n} | {clean_n} |",
        "",
        "Outcome expected: the injected exception / KeyboardInterrupt / OSError propagates",
        'unchanged; a NaN or inf loss ends the test with `stop_reason="non_finite"` at',
        "that step. Restored state: parameters, gradients, buffers, module modes, optimizer",
        "state and hyper-parameters, GradScaler state, torch / NumPy / Python RNG states.",
        "",
        "## Faults during the confirmation (`held_out=`)",
        "",
        "The same test with `held_out=` and `end_lr=0.1` scores one held-out batch before the",
        f"first step, then confirms its suggestion after the sweep: 5 candidates x {CONFIRM_STEPS}",
        f"steps, each followed by one held-out batch ({CONFIRM_CALLS} calls of `step_fn`).",
        f"Faults: {', '.join(CONFIRM_FAULTS)}, injected at call {CONFIRM_FIRST},",
        f"{CONFIRM_FIRST + 3}, ... of the whole run (`data_raises` at batch {NUM_STEPS} on, only",
        "where the confirmation draws its batches), with both snapshots.",
        "",
        "| runs | outcome as expected | state restored bit for bit | no temporary file left |",
        "|---|---|---|---|",
        "| " + " | ".join(str(n) for n in (len(confirm_grid), *confirm_counts)) + " |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(_report())
