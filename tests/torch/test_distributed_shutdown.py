"""Two gloo ranks end every range test with the same outcome, however they leave.

The store lives on rank 0 and is torn down the moment rank 0 returns or raises; rank 1
is slower (it sleeps in its steps, and in one scenario in every read from the store).
The harness is the one of ``benchmarks/bench_distributed_shutdown.py``: one spawned
2-process job runs every scenario a few times, each trial in a fresh process group.
"""

from __future__ import annotations

import datetime
import time

import pytest
import torch
from benchmarks.bench_distributed_shutdown import EXPECTED, SCENARIOS, as_expected, run_trials

from cyclr.torch.distributed import LEAVE_SLACK_S, Comm, RangeTestAbortedError, leave_grace_s

REPEATS = 3


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[dict, dict]]]:
    return run_trials(SCENARIOS, REPEATS, tmp_path_factory.mktemp("shutdown"), deadline_s=120.0)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_both_ranks_end_with_the_documented_outcome(
    trials: dict[str, list[tuple[dict, dict]]], scenario: str
) -> None:
    pairs = trials[scenario]
    assert len(pairs) == REPEATS
    for pair in pairs:
        outcomes = (pair[0]["outcome"], pair[1]["outcome"])
        assert as_expected(scenario, pair), (outcomes, [p.get("trace") for p in pair])
        assert outcomes == EXPECTED[scenario]
    if scenario.startswith(("raise", "interrupt")):
        failing = int(scenario[-1])
        for pair in pairs:
            note = pair[1 - failing]["message"]
            assert f"rank {failing} raised" in note, note
    if scenario in ("succeed", "slow_read"):
        first = pairs[0][0]
        assert len(first["lrs"]) == 30
        for pair in pairs:  # and every trial the same numbers
            assert all(pair[r]["losses"] == first["losses"] for r in (0, 1))


def test_a_rank_entering_a_round_after_another_left_is_stopped() -> None:
    store = torch.distributed.HashStore()
    store.set_timeout(datetime.timedelta(seconds=5))
    r0, r1 = Comm(store, 0, 2, "t"), Comm(store, 1, 2, "t")
    # rank 1 leaves after no sync point at all; rank 0 then waits at its first one
    r1.close()
    with pytest.raises(RangeTestAbortedError, match="rank 1 left the range test"):
        r0.exchange([torch.tensor(1.0)], None)
    started = time.monotonic()
    r0.close()  # both left: rank 0 does not wait
    assert time.monotonic() - started < 1.0
    assert store.check(["t/all_left"])


def test_a_failure_wakes_a_rank_waiting_in_the_same_round() -> None:
    store = torch.distributed.HashStore()
    store.set_timeout(datetime.timedelta(seconds=5))
    r0, r1 = Comm(store, 0, 2, "t"), Comm(store, 1, 2, "t")
    r1.post_failure(ValueError("bad batch"))
    with pytest.raises(RangeTestAbortedError, match="rank 1 raised ValueError: bad batch"):
        r0.final(1.0)


def test_rank_0_waits_for_the_others_but_only_for_the_grace() -> None:
    store = torch.distributed.HashStore()
    store.set_timeout(datetime.timedelta(seconds=0.3))  # the store's timeout bounds the wait
    r0 = Comm(store, 0, 2, "t")
    started = time.monotonic()
    r0.close()  # rank 1 never leaves
    assert 0.25 < time.monotonic() - started < 3.0
    assert not store.check(["t/all_left"])


def test_the_grace_covers_three_sync_intervals_after_the_last_sync_point() -> None:
    now = time.monotonic()
    assert leave_grace_s(0.0, now) == pytest.approx(LEAVE_SLACK_S, abs=0.01)
    assert leave_grace_s(5.0, now) == pytest.approx(15.0 + LEAVE_SLACK_S, abs=0.01)
    assert leave_grace_s(5.0, now - 20.0) == pytest.approx(LEAVE_SLACK_S)


def test_a_broken_store_becomes_a_range_test_aborted_error() -> None:
    class Broken:
        def set(self, *args: object) -> None:
            raise torch.distributed.DistNetworkError("Connection reset by peer")

    comm = Comm(Broken(), 1, 2, "t")
    with pytest.raises(RangeTestAbortedError, match=r"store failed at sync point 0 .*reset"):
        comm.exchange([torch.tensor(1.0)], None)
    comm.close()  # ignores the broken store
