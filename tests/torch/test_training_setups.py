"""Training setups found from outside: each refused before the first step, or handled exactly."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from tests.torch import rangetest_support as rs

from cyclr.torch import Scheduler, range_test

QUICK: dict[str, Any] = {"num_steps": 20, "max_steps": 20, "progress": False}


def _model_and_sgd() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = rs.make_model()
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _numbered_loader(**options: Any) -> torch.utils.data.DataLoader[Any]:
    x = torch.arange(256.0).repeat(rs.make_tensors(1)[0].shape[1], 1).T.contiguous()
    y = torch.arange(256) % 3
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y),
        batch_size=32,
        shuffle=True,
        generator=torch.Generator().manual_seed(4),
        **options,
    )


def _first_examples(loader: torch.utils.data.DataLoader[Any]) -> list[int]:
    return [int(x[0, 0]) for x, _ in loader]


@pytest.mark.parametrize("held_out", [None, "auto"])
def test_a_persistent_worker_loader_starts_its_next_epochs_as_without_the_test(
    held_out: str | None,
) -> None:
    options = {"num_workers": 1, "persistent_workers": True, "multiprocessing_context": "spawn"}
    tested, untouched = _numbered_loader(**options), _numbered_loader(**options)
    model, optimizer = _model_and_sgd()
    range_test(model, optimizer, tested, rs.loss_fn, held_out=held_out, **QUICK)
    assert tested._iterator is None  # the test's workers were shut down
    for _ in range(2):
        assert _first_examples(tested) == _first_examples(untouched)


def test_a_disk_snapshot_restores_a_sparse_gradient_exactly() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.EmbeddingBag(50, 8, sparse=True), torch.nn.Linear(8, 50))
    optimizer = torch.optim.SparseAdam(list(model[0].parameters()), lr=1e-2)
    tokens = torch.randint(0, 50, (256, 6))
    batches = [(tokens[i : i + 32], tokens[i : i + 32, 0]) for i in range(0, 256, 32)]
    torch.nn.functional.cross_entropy(model(batches[0][0]), batches[0][1]).backward()
    optimizer.step()  # mid-training: the embedding's gradient is sparse
    before = rs.capture(model, optimizer)
    range_test(model, optimizer, batches, rs.loss_fn, snapshot="disk", held_out=None, **QUICK)
    after = rs.capture(model, optimizer)
    assert before["grads"][0].is_sparse and after["grads"][0].is_sparse
    before["grads"][0], after["grads"][0] = (
        before["grads"][0].to_dense(),
        after["grads"][0].to_dense(),
    )
    rs.assert_same(before, after)


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("device='meta'", ValueError, r"device must hold data to train on.*\(got device='meta'\)"),
        (
            "unavailable",
            ValueError,
            r"device is not available here: torch\.\w+\.is_available\(\) is False",
        ),
        ("meta model", ValueError, r"model has parameters on the meta device.*the first 'weight'"),
        ("LBFGS", TypeError, r"optimizer\.step must run without a closure.*optimizer=LBFGS"),
    ],
)
def test_setups_it_cannot_train_are_refused_before_the_first_step(
    case: str, error: type[Exception], message: str
) -> None:
    model = torch.nn.Linear(4, 3, device="meta" if case == "meta model" else None)
    cls = torch.optim.LBFGS if case == "LBFGS" else torch.optim.SGD
    optimizer = cls(model.parameters(), lr=0.1)
    options: dict[str, Any] = {}
    if case == "device='meta'":
        options["device"] = "meta"
    if case == "unavailable":
        missing = [t for t in ("cuda", "xpu", "mps") if not getattr(torch, t).is_available()]
        if not missing:
            pytest.fail("every accelerator backend is available here; pick another case")
        options["device"] = missing[0]
    calls: list[int] = []

    def loss_fn(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return torch.nn.functional.cross_entropy(output, target)

    batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(4)]
    with pytest.raises(error, match=message):
        range_test(model, optimizer, batches, loss_fn, held_out=None, **QUICK, **options)
    assert calls == []  # refused before any forward pass


def test_a_loss_that_is_nan_before_training_is_refused_once_and_restores_the_state() -> None:
    model, optimizer = _model_and_sgd()
    x, y = rs.make_tensors(64)
    x[0, 0] = float("nan")  # one bad example: every batch holding it gives NaN
    before = rs.capture(model, optimizer)
    passes: list[int] = []

    def loss_fn(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        passes.append(1)
        return torch.nn.functional.cross_entropy(output, target)

    with pytest.raises(ValueError, match=r"the loss must be finite before training.*got loss=nan"):
        range_test(model, optimizer, [(x, y)], loss_fn, held_out=None, progress=False)
    assert len(passes) <= 10  # one test up to its first check (sync_every), not rerun longer
    rs.assert_same(before, rs.capture(model, optimizer))


def test_a_model_in_eval_mode_is_swept_as_it_is_with_a_warning_at_the_callers_line() -> None:
    model, optimizer = _model_and_sgd()
    model.eval()
    with pytest.warns(
        UserWarning, match=r"model is in eval mode \(got model.training=False"
    ) as seen:
        range_test(model, optimizer, rs.make_batches(), rs.loss_fn, held_out=None, **QUICK)
    assert seen[0].filename == __file__
    assert not model.training  # left as it was
    model.train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        range_test(model, optimizer, rs.make_batches(), rs.loss_fn, held_out=None, **QUICK)


def test_group_schedules_keep_the_param_groups_ratio_in_a_torch_run() -> None:
    model = rs.make_model()
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    optimizer = torch.optim.SGD(
        [
            {"params": layers[0].parameters(), "lr": 0.001},
            {"params": [p for m in layers[1:] for p in m.parameters()], "lr": 0.01},
        ],
        momentum=0.9,
    )
    result = range_test(model, optimizer, rs.make_loader(), rs.loss_fn, progress=False)
    assert result.settings["group_scales"] == [1.0, 10.0]
    schedules = result.group_schedules("triangular2", 8, total_steps=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one schedule per group: no flattening warning
        scheduler = Scheduler(optimizer, schedules)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
        first, second = (g["lr"] for g in optimizer.param_groups)
        assert second == pytest.approx(10.0 * first, rel=1e-12)
