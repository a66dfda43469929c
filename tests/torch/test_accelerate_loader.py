"""An accelerate-prepared loader with a seedable sampler: its pass counters are replayed
(so batches held aside stay aside and the default confirms) and put back (so the user's
next epoch is shuffled as without the range test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from tests.torch import rangetest_support as rs

from cyclr.torch import range_test

torch.set_num_threads(1)

SWEEP: dict[str, Any] = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 60, "progress": False}


@pytest.fixture
def accelerator() -> Iterator[Any]:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import DataLoaderConfiguration

    config = DataLoaderConfiguration(use_seedable_sampler=True, data_seed=0)
    yield Accelerator(cpu=True, dataloader_config=config)
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def _loader(accelerator: Any) -> Any:
    x, y = rs.make_tensors(320)
    dataset = torch.utils.data.TensorDataset(x, y, torch.arange(320))
    return accelerator.prepare(torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True))


def test_a_seedable_loader_is_confirmed_and_its_next_epoch_is_unchanged(accelerator: Any) -> None:
    loader, twin = _loader(accelerator), _loader(accelerator)
    seen: dict[str, set[int]] = {"trained": set(), "scored": set()}

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        seen["trained" if m.training else "scored"].update(int(i) for i in batch[2])
        return rs.loss_fn(m(batch[0]), batch[1])

    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    got = range_test(model, opt, loader, step_fn=step, confirm_steps=12, **SWEEP)
    # 10 batches a pass, 60+ steps: many passes, each seeded by accelerate's pass count.
    assert got.confirmation is not None
    assert seen["scored"] and seen["scored"].isdisjoint(seen["trained"])
    assert loader.iteration == twin.iteration == 0
    assert torch.equal(next(iter(loader))[2], next(iter(twin))[2])
