"""The held-out tasks: named by ``--tasks``, never part of the suite the rules were studied on."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from benchmarks.suite import data
from benchmarks.suite.tasks import ALL_TASKS, HOLDOUT_TASKS, TASKS, TEN_TIMES_TASKS
from benchmarks.suite.tasks_holdout import SECOND_HOLDOUT_TASKS


def test_the_held_out_tasks_stay_out_of_the_suite() -> None:
    assert len(HOLDOUT_TASKS) == 9 and not set(HOLDOUT_TASKS) & set(TASKS)
    assert all(ALL_TASKS[name] is task for name, task in HOLDOUT_TASKS.items())
    assert {t.name for t in SECOND_HOLDOUT_TASKS} <= set(HOLDOUT_TASKS)


def test_ten_times_tasks_differ_from_the_suite_s_only_in_budget_and_name() -> None:
    assert len(TEN_TIMES_TASKS) == 6 and not set(TEN_TIMES_TASKS) & set(TASKS)
    for name, task in TEN_TIMES_TASKS.items():
        base = TASKS[name.removesuffix("-x10")]
        assert task.steps == 10 * base.steps and ALL_TASKS[name] is task
        same = dataclasses.replace(task, name=base.name, steps=base.steps, notes=base.notes)
        assert same == base and task.fingerprint() != base.fingerprint()


def test_the_breast_cancer_split_is_standardised_on_its_training_part() -> None:
    d = data.load_breast_cancer()
    assert d.x_train.shape == (455, 30) and d.x_test.shape == (114, 30)
    assert set(np.unique(d.y_train)) == {0, 1} and d.y_train.dtype == np.int64
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(d.x_train.std(axis=0), 1.0, atol=1e-3)


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
