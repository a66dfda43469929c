"""The held-out tasks: named by ``--tasks``, never part of the suite the rules were studied on."""

from __future__ import annotations

import torch
from benchmarks.suite.tasks import ALL_TASKS, HOLDOUT_TASKS, TASKS


def test_the_held_out_tasks_stay_out_of_the_suite() -> None:
    assert len(HOLDOUT_TASKS) == 4 and not set(HOLDOUT_TASKS) & set(TASKS)
    assert all(ALL_TASKS[name] is task for name, task in HOLDOUT_TASKS.items())


def test_rmsprop_is_built_with_the_task_s_settings() -> None:
    task = HOLDOUT_TASKS["fashion-mlp-rmsprop"]
    opt = task.make_optimizer([torch.nn.Parameter(torch.zeros(2))], 0.01)
    cls, kwargs = task.optimizer_factory()
    assert isinstance(opt, torch.optim.RMSprop) and cls is torch.optim.RMSprop
    assert opt.defaults["lr"] == 0.01 and kwargs == {"weight_decay": 0.0}


def test_the_first_moment_is_the_optimizer_s_momentum() -> None:
    assert HOLDOUT_TASKS["fashion-mlp-rmsprop"].first_moment == 0.0
    assert HOLDOUT_TASKS["words-gru-sgd"].first_moment == 0.9
    assert TASKS["friedman1-mlp-sgd0"].first_moment == 0.0
    assert TASKS["mnist1d-cnn-adam"].first_moment == 0.9
