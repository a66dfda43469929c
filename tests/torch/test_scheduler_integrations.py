"""cyclr.torch.Scheduler inside torch's SequentialLR and a Lightning Trainer."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scheduler_support import make_model, train

import cyclr
from cyclr.torch.scheduler import Scheduler

torch.set_num_threads(1)


# --- integrations --------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["warmup-first", "cyclr-first"])
def test_inside_sequential_lr_after_a_linear_warmup(order: str) -> None:
    schedule = cyclr.Triangular2(0.001, 0.006, 4)
    warm_steps, total = 6, 30
    model = make_model()
    # Either scheduler keeps the optimizer's LR as initial_lr, which LinearLR warms up to.
    optimizer = torch.optim.SGD(model.parameters(), lr=schedule(0), momentum=0.9)
    keys = set(optimizer.param_groups[0])
    if order == "warmup-first":
        warm = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=0.1, total_iters=warm_steps
        )
        main = Scheduler(optimizer, schedule)
    else:
        main = Scheduler(optimizer, schedule)
        warm = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=0.1, total_iters=warm_steps
        )
    sequential = torch.optim.lr_scheduler.SequentialLR(
        optimizer, [warm, main], milestones=[warm_steps]
    )
    seen = train(model, optimizer, sequential, total)
    expected_warm = [schedule(0) * (0.1 + 0.9 * i / warm_steps) for i in range(warm_steps)]
    np.testing.assert_allclose(seen[:warm_steps], expected_warm, rtol=1e-12)
    assert seen[warm_steps:] == [schedule(i) for i in range(total - warm_steps)]
    # Both add torch's initial_lr, nothing else.
    assert set(optimizer.param_groups[0]) == keys | {"initial_lr"}
    assert optimizer.param_groups[0]["initial_lr"] == schedule(0)


def test_sequential_lr_resume_leaves_a_successor_lr_alone() -> None:
    def build() -> tuple[
        torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.SequentialLR
    ]:
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        first = Scheduler(optimizer, cyclr.Linear(0.001, 0.01, 5))
        then = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
        return (
            model,
            optimizer,
            torch.optim.lr_scheduler.SequentialLR(optimizer, [first, then], milestones=[5]),
        )

    model, optimizer, sequential = build()
    reference = train(model, optimizer, sequential, 9)
    saved = (copy.deepcopy(optimizer.state_dict()), copy.deepcopy(sequential.state_dict()))
    reference += train(model, optimizer, sequential, 6)

    model, optimizer, sequential = build()
    optimizer.load_state_dict(saved[0])
    sequential.load_state_dict(saved[1])
    assert train(model, optimizer, sequential, 6) == pytest.approx(reference[9:], rel=1e-15)


class _Module:
    """Built lazily so that importing this test module does not import Lightning."""

    @staticmethod
    def make(schedule: cyclr.Schedule) -> Any:
        import lightning

        class Module(lightning.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(0)
                self.layer = torch.nn.Linear(4, 1)
                self.seen: list[tuple[float, float]] = []

            def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
                group = self.trainer.optimizers[0].param_groups[0]
                self.seen.append((group["lr"], group["momentum"]))
                x, y = batch
                return torch.nn.functional.mse_loss(self.layer(x), y)

            def configure_optimizers(self) -> Any:
                optimizer = torch.optim.SGD(self.parameters(), lr=0.5, momentum=0.9)
                scheduler = Scheduler(optimizer, schedule, momentum=schedule.momentum())
                return {
                    "optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
                }

        return Module()


def _lightning_trainer(root: Path, max_steps: int) -> Any:
    from tests.lightning.lightning_support import make_trainer

    return make_trainer(root, [], max_steps=max_steps, max_epochs=None)


def _lightning_data() -> torch.utils.data.DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(
        torch.randn(24, 4, generator=generator), torch.randn(24, 1, generator=generator)
    )
    return torch.utils.data.DataLoader(data, batch_size=4)


# Lightning 2.6 on torch 2.13: torch's LeafSpec deprecation, and advice about workers.
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")
@pytest.mark.filterwarnings("ignore:.*does not have many workers.*")
def test_lightning_steps_the_scheduler_every_step_and_resumes(tmp_path: Path) -> None:
    schedule = cyclr.OneCycle(0.1, total_steps=10)
    momentum = schedule.momentum()
    expected = [(schedule(i), momentum(i)) for i in range(18)]
    module = _Module.make(schedule)
    trainer = _lightning_trainer(tmp_path, max_steps=12)  # two epochs of 6 batches
    trainer.fit(module, _lightning_data())
    assert module.seen == expected[:12]
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert isinstance(scheduler, Scheduler)
    assert scheduler.last_epoch == 12
    assert "initial_lr" in trainer.optimizers[0].param_groups[0]  # torch's convention

    checkpoint = tmp_path / "run.ckpt"
    trainer.save_checkpoint(checkpoint)
    resumed = _Module.make(schedule)
    _lightning_trainer(tmp_path, max_steps=18).fit(resumed, _lightning_data(), ckpt_path=checkpoint)
    assert resumed.seen == expected[12:]
