"""``range_test(..., held_out="auto")``: the first batches of the data held aside and never
trained on in the pass the sweep and the candidates make, the confirmation as with
validation batches, everything restored, and what could not be held aside said."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tests.torch import rangetest_support as rs

from cyclr._held_aside import AfterFirst, aside_count, hold_aside
from cyclr.torch import confirm, range_test
from cyclr.torch._rng import loader_generators, replaying

torch.set_num_threads(1)

SWEEP: dict[str, Any] = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 60, "progress": False}


def _indexed_loader(n: int = 400, batch: int = 20, **kwargs: Any) -> Any:
    """A loader of ``(x, y, index)`` batches, so a test can see which examples it gave."""
    x, y = rs.make_tensors(n)
    ds = torch.utils.data.TensorDataset(x, y, torch.arange(n))
    return torch.utils.data.DataLoader(ds, batch_size=batch, **kwargs)


def _recording_step(seen: list[set[int]]) -> Any:
    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        if m.training:  # a training step (held-out batches are scored in eval mode)
            seen.append({int(i) for i in batch[2]})
        return rs.loss_fn(m(batch[0]), batch[1])

    return step


@given(
    batch=st.integers(1, 4096) | st.none(),
    per_pass=st.integers(0, 10_000) | st.none(),
)
def test_aside_count_is_a_fifth_of_a_pass_at_most_and_about_1000_examples(
    batch: int | None, per_pass: int | None
) -> None:
    k = aside_count(batch, per_pass)
    assert k >= 0
    if per_pass is not None:
        assert k <= per_pass // 5
    if batch:
        assert (k - 1) * batch < 1000  # one batch fewer would fall short of 1,000
    else:
        assert k <= 8


def test_a_list_gives_its_first_batches_and_trains_on_the_rest_every_pass() -> None:
    batches = list(range(40))
    aside = hold_aside(batches)
    assert aside.held == list(range(8)) and "first 8 batches" in aside.note
    assert list(aside.data) == list(range(8, 40)) == list(aside.data)
    assert len(aside.data) == 32  # type: ignore[arg-type]


class _Unsized:
    """A re-iterable without ``len()`` (an ``IterableDataset``'s loader), ``n`` batches."""

    def __init__(self, n: int, batch: int = 32) -> None:
        self.batches = [(torch.full((batch, 2), float(i)), torch.zeros(batch)) for i in range(n)]

    def __iter__(self) -> Any:
        return iter(self.batches)


@pytest.mark.parametrize(("n", "held"), [(40, 8), (400, 32), (20, 4), (4, 0)])
def test_a_pass_of_unknown_length_gives_a_fifth_at_most(n: int, held: int) -> None:
    # 1,000 examples in batches of 32 would be 32 batches; a pass of 40 gives 8.
    aside = hold_aside(_Unsized(n))
    assert len(aside.held) == held
    rest = [int(b[0][0, 0]) for b in aside.data]
    assert rest == list(range(held, n)) == [int(b[0][0, 0]) for b in aside.data]


def test_an_iterator_holds_nothing_aside_and_loses_no_batch() -> None:
    # A finite generator that served the sweep alone would run out in the candidates.
    stream = iter([(torch.zeros(100, 2), torch.zeros(100)) for _ in range(30)])
    aside = hold_aside(stream)
    assert aside.held == [] and aside.data is stream and "is an iterator" in aside.note
    assert sum(1 for _ in aside.data) == 30


def test_by_default_a_finite_generator_serves_the_sweep_alone_as_before() -> None:
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    batches = rs.make_batches(60 * 32, 32)  # exactly num_steps batches
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = range_test(model, opt, iter(batches), rs.loss_fn, **SWEEP)
    assert got.confirmation is None and got.num_recorded <= 60
    assert got.settings["held_out"].startswith("none held aside: data is an iterator")


@pytest.mark.parametrize("data", [[1, 2, 3, 4], iter(range(3))])
def test_too_little_data_holds_nothing_aside_and_gives_every_batch_back(data: Any) -> None:
    expected = list(data) if isinstance(data, list) else [0, 1, 2]
    source = data if isinstance(data, list) else iter(expected)
    aside = hold_aside(source)
    assert aside.held == [] and aside.note.startswith("none held aside")
    assert list(aside.data) == expected


@pytest.mark.parametrize(
    "make",
    [
        lambda: _indexed_loader(shuffle=True),
        lambda: _indexed_loader(shuffle=True, generator=torch.Generator().manual_seed(3)),
        lambda: _indexed_loader(
            sampler=torch.utils.data.RandomSampler(
                range(400), generator=torch.Generator().manual_seed(4)
            )
        ),
    ],
    ids=["global-rng", "loader-generator", "sampler-generator"],
)
def test_every_pass_of_a_shuffling_loader_skips_exactly_the_batches_held(make: Any) -> None:
    loader = make()
    torch.manual_seed(0)
    aside = hold_aside(loader, replaying(loader))
    held = {int(i) for b in aside.held for i in b[2]}
    for _ in range(3):
        torch.rand(5)  # training draws from the global generator between passes
        trained = [int(i) for b in aside.data for i in b[2]]
        assert len(held) == 80 and len(trained) == 320  # a fifth of 20 batches of 20
        assert held.isdisjoint(trained) and held | set(trained) == set(range(400))


def test_loader_generators_finds_each_generator_once() -> None:
    g = torch.Generator()
    sampler = torch.utils.data.BatchSampler(
        torch.utils.data.RandomSampler(range(10), generator=g), 2, drop_last=False
    )
    loader = torch.utils.data.DataLoader(range(10), sampler=sampler, batch_size=None, generator=g)
    assert loader_generators(loader) == [g]
    assert loader_generators([1, 2]) == []


def test_by_default_auto_confirms_on_batches_the_candidates_never_train_on() -> None:
    loader = _indexed_loader(shuffle=True)
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(0)
    before = rs.capture(model, opt)
    seen: list[set[int]] = []
    got = range_test(
        model, opt, loader, step_fn=_recording_step(seen), confirm_steps=12, **SWEEP,
    )  # fmt: skip
    rs.assert_same(before, rs.capture(model, opt))
    c = got.confirmation
    assert c is not None and c.steps == 12 and got.suggest().method == "confirmed"
    assert got.settings["held_out"] == "auto: the first 4 batches (80 examples) held aside"
    # The held-out examples: what one pass gives first, with the RNG as it was.
    torch.manual_seed(0)
    held_batches = list(itertools.islice(iter(loader), 4))
    held = {int(i) for b in held_batches for i in b[2]}
    assert len(seen) == got.steps_spent > 16  # more than one pass of 16 batches
    assert all(held.isdisjoint(b) for b in seen)  # the sweep's passes and the candidates'
    # The same as confirming by hand on those batches, on the rest of every pass.
    torch.manual_seed(0)
    rest = AfterFirst(loader, 4, replaying(loader))
    plain = range_test(model, opt, rest, step_fn=_recording_step([]), held_out=None, **SWEEP)
    again = confirm(
        model, opt, rest, step_fn=_recording_step([]),
        lr=plain.suggest().lr, held_out=held_batches, steps=12,
    )  # fmt: skip
    assert (again.lr, again.scores) == (c.lr, c.scores)


def test_auto_with_total_steps_fits_the_confirmed_lr_to_the_run() -> None:
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    got = range_test(
        model, opt, rs.make_batches(400, 16), rs.loss_fn, held_out="auto", total_steps=500,
        confirm_steps=12, **SWEEP,
    )  # fmt: skip
    assert got.settings["total_steps"] == 500 and got.confirmation is not None
    assert got.settings["held_out"].startswith("auto: the first 5 batches")


def test_auto_without_enough_batches_reads_the_curve_and_says_why() -> None:
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    batches = rs.make_batches(128, 32)  # 4 batches: not one in five to spare
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = range_test(model, opt, batches, rs.loss_fn, held_out="auto", **SWEEP)
    assert got.confirmation is None and got.suggest().method == "bottom"
    assert got.settings["held_out"] == "none held aside: a pass has 4 batches, fewer than 5"
    with pytest.warns(RuntimeWarning, match=r"total_steps=300 is not used"):
        range_test(model, opt, batches, rs.loss_fn, held_out="auto", total_steps=300, **SWEEP)


@pytest.mark.parametrize("bad", ["val", "AUTO", b"auto"])
def test_a_string_other_than_auto_is_named(bad: Any) -> None:
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    before = rs.capture(model, opt)
    with pytest.raises(ValueError, match=rf"held_out must be .*'auto'.*\(got held_out={bad!r}\)"):
        range_test(model, opt, rs.make_batches(), rs.loss_fn, held_out=bad, **SWEEP)
    rs.assert_same(before, rs.capture(model, opt))


def test_an_interrupted_auto_confirmation_restores_everything() -> None:
    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    before = rs.capture(model, opt)
    rng = torch.get_rng_state()
    evaluations = {"n": 0}

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        if not m.training:  # the first is the check before the sweep; the third is inside
            evaluations["n"] += 1  # the confirmation
            if evaluations["n"] == 3:
                raise KeyboardInterrupt
        return rs.loss_fn(m(batch[0]), batch[1])

    with pytest.raises(KeyboardInterrupt):
        range_test(model, opt, rs.make_loader(400, 16), step_fn=step, held_out="auto", **SWEEP)
    rs.assert_same(before, rs.capture(model, opt))
    assert torch.equal(rng, torch.get_rng_state())


def test_batches_the_loss_cannot_score_in_eval_mode_are_trained_on_with_a_warning() -> None:
    # A step that has no loss in eval mode (a detection model returns predictions there):
    # the default must not break the sweep; it reads the curve alone and says why.
    seen: list[set[int]] = []
    recording = _recording_step(seen)

    def train_only(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        if not m.training:
            raise RuntimeError("the model returns predictions in eval mode")
        return recording(m, batch)

    model = rs.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    data = _indexed_loader()
    before = rs.capture(model, opt)
    with pytest.warns(
        RuntimeWarning, match=r"cannot be scored .*predictions in eval mode.*held_out=None"
    ):
        got = range_test(model, opt, data, step_fn=train_only, **SWEEP)
    rs.assert_same(before, rs.capture(model, opt))
    assert got.confirmation is None and got.suggest().method == "bottom"
    assert got.settings["held_out"].startswith("none held aside: they cannot be scored")
    assert {0, 1, 2} <= seen[0]  # the first batch, the one held aside, trained on after all
    # Validation batches given by the user are refused instead, before the first step.
    with pytest.raises(RuntimeError, match=r"predictions in eval mode"):
        range_test(model, opt, data, step_fn=train_only, held_out=rs.make_batches()[:1], **SWEEP)
