"""``held_out="auto"`` checks that every pass skips the batches it held aside.

Loaders whose passes differ (persistent workers order their first pass unlike the
later ones; samplers that draw with replacement repeat examples), a loader that changes
order in the middle of the run, and the loader's own generator put back.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from tests.torch import rangetest_support as rs

from cyclr._held_aside import CHANGED_NOTE, ORDER_NOTE, hold_aside, same_batches
from cyclr.torch import confirm, range_test

torch.set_num_threads(1)

SWEEP: dict[str, Any] = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 60, "progress": False}


def _dataset(n: int = 400) -> torch.utils.data.TensorDataset:
    x, y = rs.make_tensors(n)
    return torch.utils.data.TensorDataset(x, y, torch.arange(n))


def _recorder() -> tuple[Any, dict[str, set[int]]]:
    """A ``step_fn`` that records the examples trained on and those scored in eval mode."""
    seen: dict[str, set[int]] = {"trained": set(), "scored": set()}

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        seen["trained" if m.training else "scored"].update(int(i) for i in batch[2])
        return rs.loss_fn(m(batch[0]), batch[1])

    return step, seen


def _run(data: Any, **kwargs: Any) -> tuple[Any, dict[str, set[int]]]:
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    step, seen = _recorder()
    before = rs.capture(model, opt)
    got = range_test(model, opt, data, step_fn=step, confirm_steps=12, **SWEEP, **kwargs)
    rs.assert_same(before, rs.capture(model, opt))
    return got, seen


def test_persistent_workers_are_confirmed_on_batches_never_trained_on() -> None:
    # Such a loader orders its first pass unlike the later ones (its worker seed is drawn
    # once): the second pass's first batches are held, which every later pass skips.
    loader = torch.utils.data.DataLoader(
        _dataset(),
        batch_size=20,
        shuffle=True,
        num_workers=2,
        persistent_workers=True,
        multiprocessing_context="spawn",  # not fork: JAX may be loaded by other tests
    )
    torch.manual_seed(0)
    got, seen = _run(loader)
    assert got.confirmation is not None
    assert got.settings["held_out"] == "auto: the first 4 batches (80 examples) held aside"
    assert len(seen["scored"]) == 80 and seen["scored"].isdisjoint(seen["trained"])


@pytest.mark.parametrize(
    "sampler",
    [
        torch.utils.data.WeightedRandomSampler(torch.ones(400), 400),
        torch.utils.data.RandomSampler(range(400), replacement=True),
    ],
    ids=["weighted", "random-with-replacement"],
)
def test_a_sampler_drawing_with_replacement_holds_nothing_aside(sampler: Any) -> None:
    loader = torch.utils.data.DataLoader(_dataset(), batch_size=20, sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, seen = _run(loader)
    assert got.confirmation is None and not seen["scored"]
    assert got.settings["held_out"].startswith("none held aside: data's sampler draws with")


class _Reshuffling:
    """Batches reshuffled on every pass from a generator the runner cannot replay.

    ``steady`` passes come in one order first (as a loader would under the replayed
    random state), the later ones in another: a loader whose order changes mid-run.
    """

    def __init__(self, steady: int | None = None) -> None:
        self.dataset = _dataset()
        self.passes = 0
        self.steady = steady
        self.rng = random.Random(1)

    def __iter__(self) -> Any:
        self.passes += 1
        order = list(range(400))
        if self.steady is None or self.passes > self.steady:
            self.rng.shuffle(order)
        for i in range(0, 400, 20):
            idx = torch.tensor(order[i : i + 20])
            yield tuple(t[idx] for t in self.dataset.tensors)

    def __len__(self) -> int:
        return 20


def test_passes_that_begin_differently_hold_nothing_aside() -> None:
    aside = hold_aside(_Reshuffling())
    assert aside.held == [] and aside.note == ORDER_NOTE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, _ = _run(_Reshuffling())
    assert got.confirmation is None and got.settings["held_out"] == ORDER_NOTE


def test_a_loader_whose_order_changes_mid_run_leaves_the_curve_alone_with_a_warning() -> None:
    # Three passes in one order (the first read, the check, the sweep's first), then
    # reshuffled: a pass began with other batches, some held-aside examples may have been
    # trained on, so the result is the curve's.
    data = _Reshuffling(steady=3)
    with pytest.warns(
        RuntimeWarning, match=r"began with batches other than those held aside"
    ) as caught:
        got, _ = _run(data)
    assert [w.filename for w in caught] == [__file__]
    assert data.passes > 3
    assert got.confirmation is None and got.settings["held_out"] == CHANGED_NOTE
    assert got.suggest().method == "bottom"


@pytest.mark.parametrize("held_out", ["auto", None])
def test_the_loaders_own_generator_is_put_back(held_out: Any) -> None:
    # RandomSampler draws the permutation of a pass it will not serve when one runs out;
    # the user's next epoch must not see it.
    g = torch.Generator().manual_seed(7)
    loader = torch.utils.data.DataLoader(_dataset(), batch_size=20, shuffle=True, generator=g)
    state = g.get_state()
    _run(loader, held_out=held_out)
    assert torch.equal(g.get_state(), state)
    held = [next(iter(loader))]  # draws from g itself
    state = g.get_state()
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    confirm(model, opt, loader, step_fn=_recorder()[0], lr=0.05, held_out=held, steps=12)
    assert torch.equal(g.get_state(), state)


def test_an_interrupted_confirmation_keeps_the_sweep_on_the_exception() -> None:
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    evaluations = {"n": 0}

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        if not m.training:
            evaluations["n"] += 1
            if evaluations["n"] == 3:  # inside the confirmation, after the sweep
                raise KeyboardInterrupt
        return rs.loss_fn(m(batch[0]), batch[1])

    with pytest.raises(KeyboardInterrupt) as info:
        range_test(model, opt, rs.make_loader(400, 16), step_fn=step, **SWEEP)
    swept = info.value.result  # type: ignore[attr-defined]
    assert swept.confirmation is None and swept.num_recorded > 10


def test_same_batches_compares_values_not_objects() -> None:
    a = [(torch.tensor([1.0, math.nan]), {"y": np.array([1, 2])})]
    assert same_batches(a, [(torch.tensor([1.0, math.nan]), {"y": np.array([1, 2])})]) is True
    assert same_batches(a, [(torch.tensor([1.0, 2.0]), {"y": np.array([1, 2])})]) is False
    assert same_batches(a, [(torch.tensor([1.0]), {"y": np.array([1, 2])})]) is False
    assert same_batches(a, [(torch.tensor([1.0, math.nan]), {"z": np.array([1, 2])})]) is False
    assert same_batches(a, a + a) is False

    class Opaque:
        def __eq__(self, other: object) -> Any:
            return np.array([True, False])  # no truth value to read

    assert same_batches([Opaque()], [Opaque()]) is None


def test_the_held_out_size_is_recorded_in_steps_worth_of_examples() -> None:
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    batches = rs.make_batches(400, 20)
    held = [(batches[0][0][:10], batches[0][1][:10]), *batches[1:4]]  # 70 examples
    got = confirm(model, opt, batches[4:], rs.loss_fn, lr=0.05, held_out=held, steps=12)
    assert got.held_out_steps == pytest.approx(70 / 20)
    twice = confirm(model, opt, batches[4:], rs.loss_fn, lr=0.05, held_out=held, steps=12,
                    accumulation_steps=2)  # fmt: skip
    assert twice.held_out_steps == pytest.approx(70 / 40)


def test_unscorable_batches_and_an_unused_run_length_give_one_warning() -> None:
    def train_only(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        if not m.training:
            raise TypeError("the model returns predictions in eval mode")
        return rs.loss_fn(m(batch[0]), batch[1])

    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        range_test(model, opt, rs.make_loader(400, 16), step_fn=train_only, total_steps=300,
                   **SWEEP)  # fmt: skip
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == 1, [str(w.message) for w in runtime]
    text = str(runtime[0].message)
    assert "predictions in eval mode" in text and "total_steps=300 is not used" in text
    assert runtime[0].filename == __file__  # the caller's line, not cyclr's


def test_an_order_that_changes_in_the_candidates_gives_one_warning_and_no_confirmation() -> None:
    # The sweep's passes repeat; the candidates' pass begins otherwise. The confirmation
    # (here one that would warn that nothing learned) is dropped with its warnings.
    def flat_eval(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        loss = rs.loss_fn(m(batch[0]), batch[1])
        return loss if m.training else loss * 0 + 1.0

    steady = _Reshuffling()
    steady.steady = 10**9
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        range_test(model, opt, steady, step_fn=flat_eval, confirm_steps=12, **SWEEP)
    data = _Reshuffling(steady=steady.passes - 1)  # the last pass, the candidates', differs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = range_test(model, opt, data, step_fn=flat_eval, confirm_steps=12, total_steps=300,
                         **SWEEP)  # fmt: skip
    texts = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert got.confirmation is None and got.settings["held_out"] == CHANGED_NOTE
    assert len(texts) == 1 and "began with batches other than" in texts[0], texts
    assert "total_steps=300 is not used" in texts[0]


def test_same_batches_compares_objects_without_an_equality_by_their_fields() -> None:
    class Batch:  # a collate_fn's batch class, no __eq__ of its own
        def __init__(self, x: torch.Tensor, score: float) -> None:
            self.x, self.score = x, score

    x = torch.arange(6.0)
    assert same_batches([Batch(x, math.nan)], [Batch(x.clone(), math.nan)]) is True
    assert same_batches([Batch(x, 1.0)], [Batch(x + 1, 1.0)]) is False
    assert same_batches([1.0, math.nan], [1.0, math.nan]) is True


def test_a_wrapper_naming_its_loaders_is_looked_through() -> None:
    class Wrapper:  # as the Lightning callback's train batches name theirs
        def __init__(self, loaders: list[Any]) -> None:
            self.loaders = loaders

        def __iter__(self) -> Any:
            return iter(self.loaders[0])

    g = torch.Generator().manual_seed(2)
    shuffled = torch.utils.data.DataLoader(_dataset(), batch_size=20, shuffle=True, generator=g)
    weighted = torch.utils.data.DataLoader(
        _dataset(),
        batch_size=20,
        sampler=torch.utils.data.WeightedRandomSampler(torch.ones(400), 400),
    )
    from cyclr._held_aside import draws_with_replacement
    from cyclr.torch._rng import loader_generators

    assert loader_generators(Wrapper([shuffled])) == [g]
    assert draws_with_replacement(Wrapper([weighted])) and not draws_with_replacement(
        Wrapper([shuffled])
    )
