"""cyclr.torch.state: snapshot / restore is exact, in place, and leaves nothing behind."""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.torch.rangetest_support import (
    assert_same,
    capture,
    make_batches,
    make_model,
    train_steps,
)

from cyclr._files import FileWriteError
from cyclr.torch.state import preserved, snapshot

torch.set_num_threads(1)

SRC = str(Path(__file__).resolve().parents[2] / "src")


def mess_up(model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    """Change every kind of state the snapshot covers."""
    train_steps(model, opt, iter(make_batches() * 2), 3)
    model.eval()
    for g in opt.param_groups:
        if isinstance(g["lr"], torch.Tensor):
            g["lr"].fill_(123.0)
        else:
            g["lr"] = 123.0
        g["extra_key"] = "added"
    torch.rand(3)
    np.random.rand(3)
    random.random()


@pytest.mark.parametrize("storage", ["memory", "disk"])
@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: torch.optim.Adam(ps, lr=1e-3, amsgrad=True),
        lambda ps: torch.optim.AdamW(ps, lr=torch.tensor(1e-3), betas=(0.8, 0.9)),
        lambda ps: torch.optim.RMSprop(ps, lr=1e-3, centered=True),
        lambda ps: torch.optim.LBFGS(ps, lr=0.1),
    ],
    ids=["sgd-momentum", "adam-amsgrad", "adamw-tensor-lr", "rmsprop", "lbfgs"],
)
def test_restore_is_bit_exact_and_in_place(storage: str, make_opt: Any) -> None:
    model = make_model()
    opt = make_opt(model.parameters())
    if not isinstance(opt, torch.optim.LBFGS):
        train_steps(model, opt, iter(make_batches()), 2)
    params = list(model.parameters())
    state_objects = {id(p): opt.state[p] for p in params if p in opt.state}
    lr_object = opt.param_groups[0]["lr"]
    before = capture(model, opt)
    snap = snapshot(model, opt, storage=storage)
    if isinstance(opt, torch.optim.LBFGS):
        x, y = make_batches()[0]

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            return loss

        opt.step(closure)
        model.eval()
    else:
        mess_up(model, opt)
    snap.restore()
    assert_same(before, capture(model, opt))
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    assert all(opt.state[p] is state_objects[id(p)] for p in params if id(p) in state_objects)
    assert opt.param_groups[0]["lr"] is lr_object
    snap.restore()  # restoring twice is fine
    assert_same(before, capture(model, opt))
    snap.close()
    with pytest.raises(RuntimeError, match="snapshot is closed"):
        snap.restore()


def test_memory_snapshot_size_is_one_copy_of_model_and_optimizer() -> None:
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_steps(model, opt, iter(make_batches()), 1)
    opt.zero_grad(set_to_none=True)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    with snapshot(model, opt) as snap:
        # params + buffers + Adam's exp_avg and exp_avg_sq (+ tiny step counters)
        assert 3 * param_bytes + buffer_bytes <= snap.nbytes <= 3 * param_bytes + buffer_bytes + 64
        assert snap.disk_bytes == 0 and snap.directory is None
    with snapshot(model, opt, storage="disk") as snap:
        assert snap.nbytes == 0 and snap.disk_bytes >= 3 * param_bytes
        assert snap.directory is not None and os.path.isdir(snap.directory)
        directory = snap.directory
    assert not os.path.exists(directory)


def test_parameters_outside_the_model_and_shared_storage() -> None:
    model = make_model()
    extra = torch.nn.Parameter(torch.randn(5))
    base = torch.randn(10)
    view = torch.nn.Parameter(base[2:7])  # a view into a larger storage
    opt = torch.optim.SGD([*model.parameters(), extra, view], lr=0.1, momentum=0.5)
    for storage in ("memory", "disk"):
        before = [extra.detach().clone(), view.detach().clone(), base.clone()]
        with snapshot(model, opt, storage=storage) as snap:
            with torch.no_grad():
                extra.add_(1.0)
                view.mul_(3.0)
            snap.restore()
        assert torch.equal(extra, before[0]) and torch.equal(view, before[1])
        assert torch.equal(base, before[2])


def test_grads_none_and_present_are_both_restored() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    first = next(iter(model.parameters()))
    first.grad = torch.ones_like(first)
    with preserved(model, opt):
        train_steps(model, opt, iter(make_batches()), 1)
        for p in model.parameters():
            p.grad = None
    assert torch.equal(first.grad, torch.ones_like(first))
    assert all(p.grad is None for p in list(model.parameters())[1:])


def test_preserved_restores_after_exception_and_interrupt() -> None:
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = capture(model, opt)
    for exc in (RuntimeError("x"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), preserved(model, opt, storage="disk") as snap:
            mess_up(model, opt)
            raise exc
        assert snap.directory is None
        assert_same(before, capture(model, opt))


def test_lr_scheduler_flags_and_scaler_are_restored() -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=1)
    called = vars(opt).get("_opt_called")
    scaler_before = scaler.state_dict()
    with preserved(model, opt, scaler=scaler):
        train_steps(model, opt, iter(make_batches()), 2, scaler=scaler)
        assert scaler.get_scale() != 8.0
    assert vars(opt).get("_opt_called") == called
    assert scaler.state_dict() == scaler_before and scaler._scale is None
    assert sched.get_last_lr() == [0.1]


def test_shape_change_is_refused() -> None:
    model = torch.nn.Linear(3, 2)
    snap = snapshot(model)
    model.weight.data = torch.zeros(4, 3)
    with pytest.raises(RuntimeError, match="shape, dtype or device changed"):
        snap.restore()
    snap.close()


def test_bad_arguments() -> None:
    model = torch.nn.Linear(2, 1)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        snapshot("model")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer"):
        snapshot(model, [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"scaler must be a torch\.amp\.GradScaler"):
        snapshot(model, scaler=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="storage must be one of 'memory', 'disk'"):
        snapshot(model, storage="gpu")


def test_disk_snapshot_directory_is_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = make_model()
    with snapshot(model, storage="disk") as snap:
        assert snap.directory is not None
        assert os.path.dirname(snap.directory) == str(tmp_path)
        assert os.stat(snap.directory).st_mode & 0o777 == 0o700
    assert os.listdir(tmp_path) == []


class _FillsUp:
    """A file object whose disk fills up after ``room`` bytes."""

    def __init__(self, f: Any, room: int) -> None:
        self._f, self._room = f, room

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if size > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= size
        return int(self._f.write(data))

    def flush(self) -> None:
        self._f.flush()


def test_a_full_disk_while_saving_the_snapshot_is_named_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f: real_save(obj, _FillsUp(f, 2000)))
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_steps(model, opt, iter(make_batches()), 2)
    before = capture(model, opt)
    with pytest.raises(FileWriteError) as info:
        snapshot(model, opt, storage="disk")
    assert str(info.value) == (
        f"no space left while saving the range-test snapshot to {tmp_path} (ENOSPC); free "
        "space there, point TMPDIR at a larger disk, or pass snapshot='memory'"
    )
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert "inline_container" in str(info.value.__cause__)  # what torch itself says
    assert_same(before, capture(model, opt))
    assert [f for f in os.listdir(tmp_path) if f.startswith("cyclr")] == []


def test_a_file_size_limit_during_a_disk_range_test_is_named_and_changes_nothing(
    tmp_path: Any,
) -> None:
    code = """
        import json, resource, signal, sys, tempfile
        import torch
        from cyclr.torch import range_test
        from cyclr.torch.state import snapshot
        tempfile.tempdir = sys.argv[1]
        torch.set_num_threads(1)
        model = torch.nn.Linear(256, 256)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        before = model.weight.detach().clone()
        batches = [(torch.randn(4, 256), torch.randn(4, 256))] * 10
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        out = []
        for call in (
            lambda: snapshot(model, opt, storage="disk"),
            lambda: range_test(model, opt, batches, loss_fn=torch.nn.functional.mse_loss,
                               num_steps=10, snapshot="disk", progress=False),
        ):
            try:
                call()
                out.append(None)
            except OSError as exc:
                out.append([type(exc).__name__, str(exc), exc.errno])
        out.append(torch.equal(model.weight, before))
        print(json.dumps(out))
        """
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    *errors, unchanged = json.loads(proc.stdout)
    expected = f"file too large while saving the range-test snapshot to {tmp_path} (EFBIG)"
    for error in errors:
        assert error is not None, proc.stderr
        assert error[0] == "FileWriteError" and error[1].startswith(expected + "; ")
        assert error[2] == errno.EFBIG
    assert unchanged is True
    assert [f for f in os.listdir(tmp_path) if f.startswith("cyclr")] == []
