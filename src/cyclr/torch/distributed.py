"""Keeping the ranks of a ``torch.distributed`` job in step during a range test.

Under an initialised process group, :func:`cyclr.torch.range_test` talks to the other
ranks only at its sync points (every ``sync_every`` steps, at metric evaluations and at
the end). Each rank writes a small float64 packet (its pending losses and its metric) to
the process group's key-value store and reads everyone's back; the sums are taken in
rank order, so every rank computes the same numbers bit for bit.

* Losses are averaged over the ranks: every rank records the same mean loss, so every
  rank uses the same LRs, stops at the same step and returns the same result. A NaN or
  infinite loss on any rank makes the mean non-finite and stops all.
* A rank that raises (any exception, ``KeyboardInterrupt`` included) leaves a note in
  the store, without waiting, and re-raises; the others raise
  :class:`RangeTestAbortedError` at their next sync point. Every rank restores its own
  training state.
* No collective operation is used for this: the range test's messages can never be
  mismatched with the model's own collectives (DDP's gradient all-reduce), and a failed
  rank leaves nothing pending that would keep its process from exiting.

* Leaving together: :meth:`Comm.close` (the last thing a rank does in a range-test call,
  on every path out) adds the rank to a "left" count; rank 0, which hosts the store
  under ``env://`` and ``tcp://`` initialisation, waits there until every rank has
  left, so no rank still reading its last packets (or about to read a failure note)
  loses the store: every rank ends with its result, or the failing rank with its own
  error and every other rank with :class:`RangeTestAbortedError`. A rank that leaves
  also wakes any rank that would wait at a later sync point (which happens only if a
  rank failed after the last sync point). If the store itself fails (a process was
  killed), the survivors raise :class:`RangeTestAbortedError` naming the store error.

If a rank fails while the others are inside a collective of the model itself (DDP's
backward), those ranks wait in that collective until the failed process exits (gloo and
NCCL then raise on the survivors; ``torchrun`` ends the job) or until the process
group's timeout. Rank 0 waits for the others to leave for a bounded time only
(:func:`leave_grace_s`: three times the longest interval between two sync points, plus
:data:`LEAVE_SLACK_S` seconds), so a failure of rank 0 in the middle of a collective
delays its exit by that much and no more. Every rank must call
:func:`~cyclr.torch.range_test` the same number of times, with the same settings
(checked at the start: a mismatch raises on every rank).
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import CyclrError

__all__ = [
    "FINGERPRINT_SIZE",
    "Comm",
    "RangeTestAbortedError",
    "comm_for_current_job",
    "is_distributed",
    "leave_grace_s",
]

FINGERPRINT_SIZE = 24
"""How many numbers the settings check of :meth:`Comm.agree` compares."""

LEAVE_SLACK_S = 10.0
"""Seconds rank 0 waits for the others to leave on top of three sync intervals."""

_KEY_PREFIX = "cyclr/range_test"
_calls = 0  # range_test calls in this process: the same count on every rank


class RangeTestAbortedError(CyclrError, RuntimeError):
    """Another rank of a distributed range test raised, so this rank stopped too."""


def is_distributed() -> bool:
    """Return whether a default ``torch.distributed`` process group is initialised.

    Example:
        >>> is_distributed()
        False
    """
    dist = torch.distributed
    return bool(dist.is_available() and dist.is_initialized())


class Comm:
    """The range test's view of the job: one process, or one rank of many.

    Args:
        store: The process group's key-value store, ``None`` for a single process.
        rank: This process's rank.
        world_size: Number of ranks.
        namespace: Key prefix private to this range-test call.

    Example:
        >>> comm = Comm(None)
        >>> comm.rank, comm.world_size, comm.is_main
        (0, 1, True)
        >>> comm.exchange([torch.tensor(1.5), torch.tensor(2.0)], None)
        ([1.5, 2.0], None)
    """

    def __init__(
        self, store: Any = None, rank: int = 0, world_size: int = 1, namespace: str = ""
    ) -> None:
        self._store = store
        self.rank = rank if store is not None else 0
        self.world_size = world_size if store is not None else 1
        self._namespace = namespace
        self._round = 0
        self._failed_posted = False
        self._aborted = False
        self._last_done = time.monotonic()
        self._longest_gap = 0.0

    @property
    def distributed(self) -> bool:
        """Whether there are other ranks."""
        return self._store is not None

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that shows progress)."""
        return self.rank == 0

    # --------------------------------------------------------------- protocol
    def _key(self, *parts: object) -> str:
        return "/".join([self._namespace, *(str(p) for p in parts)])

    def _gather(self, packet: np.ndarray) -> np.ndarray:
        """Publish this rank's packet for the next round and return every rank's.

        Returns:
            An array of shape ``(world_size, len(packet))``, row ``r`` from rank ``r``.

        Raises:
            RangeTestAbortedError: If a rank reported a failure or left, or if the store
                failed (its host exited, a timeout).
        """
        k = self._round
        self._round += 1
        try:
            return self._gather_round(k, packet)
        except RangeTestAbortedError:
            self._aborted = True
            raise
        except torch.distributed.DistError as exc:
            self._aborted = True
            raise RangeTestAbortedError(
                f"range test stopped on rank {self.rank}: the process group's store failed at "
                f"sync point {k} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                "another rank probably exited; the training state was restored"
            ) from exc
        finally:
            now = time.monotonic()
            self._longest_gap = max(self._longest_gap, now - self._last_done)
            self._last_done = now

    def _gather_round(self, k: int, packet: np.ndarray) -> np.ndarray:
        store = self._store
        store.set(self._key(k, self.rank), packet.astype("<f8").tobytes())
        if store.add(self._key(k, "arrived"), 1) == self.world_size:
            store.set(self._key(k, "done"), b"1")
        store.wait([self._key(k, "done")])
        abort_key = self._key(k, "abort")
        if store.check([abort_key]):
            note = store.get(abort_key).decode("utf-8", "replace")
            raise RangeTestAbortedError(
                f"range test stopped on rank {self.rank}: {note}; the training state was restored"
            )
        keys = [self._key(k, r) for r in range(self.world_size)]
        try:
            blobs = store.multi_get(keys)
        except (AttributeError, NotImplementedError, RuntimeError):
            blobs = [store.get(key) for key in keys]
        if k > 0:
            store.delete_key(self._key(k - 1, self.rank))
        return np.stack([np.frombuffer(bytes(b), dtype="<f8") for b in blobs])

    def _wake(self, rounds: Sequence[int], note: str) -> None:
        """Make the given rounds end at once with ``note``: their waiters raise."""
        for k in rounds:
            if k >= 0:
                self._store.set(self._key(k, "abort"), note.encode("utf-8"))
                self._store.set(self._key(k, "done"), b"1")

    def post_failure(self, error: BaseException) -> None:
        """Tell the other ranks this rank failed; returns at once, leaves nothing pending.

        Posted at most once per range-test call. The ranks waiting at (or arriving at)
        the current sync point wake up and raise :class:`RangeTestAbortedError`.
        """
        if self._store is None or self._failed_posted:
            return
        self._failed_posted = True
        note = f"rank {self.rank} raised {type(error).__name__}: {error}"[:500]
        try:
            # the round this rank is in (if it failed inside one) and the next one
            self._wake([self._round - 1, self._round], note)
        except Exception:  # the store is gone too: the others get the transport error
            return

    # ----------------------------------------------------------------- rounds
    def agree(self, fingerprint: Sequence[float], names: Sequence[str], *, failed: bool) -> None:
        """Check that every rank validated its arguments and uses the same settings.

        Mismatched settings would make the ranks meet at different sync points; this
        raises on every rank instead. A rank whose arguments were invalid passes
        ``failed=True`` and raises its own error afterwards; the others raise
        :class:`RangeTestAbortedError`.

        Args:
            fingerprint: At most :data:`FINGERPRINT_SIZE` numbers all ranks must share.
            names: Their names, for the error message.
            failed: Whether this rank's arguments were invalid.

        Raises:
            RangeTestAbortedError: If another rank's arguments were invalid.
            ValueError: If any rank's ``fingerprint`` differs from rank 0's.
        """
        if self._store is None:
            return
        packet = np.zeros(FINGERPRINT_SIZE + 1)
        packet[0] = 1.0 if failed else 0.0
        packet[1 : 1 + len(fingerprint)] = [float(v) for v in fingerprint]
        rows = self._gather(packet)
        bad = [r for r in range(self.world_size) if rows[r, 0] != 0.0]
        if bad:
            if failed:
                return  # this rank raises its own error
            raise RangeTestAbortedError(
                f"range test not started on rank {self.rank}: the arguments of rank(s) {bad} "
                "are invalid (see their traceback)"
            )
        for r in range(1, self.world_size):
            for j, name in enumerate(names):
                a, b = float(rows[0, j + 1]), float(rows[r, j + 1])
                if a != b and not (math.isnan(a) and math.isnan(b)):
                    raise ValueError(
                        f"range_test settings differ across ranks: {name} is {a!r} on rank 0 "
                        f"and {b!r} on rank {r}; every rank must pass the same settings "
                        "and an optimizer with the same param_groups"
                    )

    def exchange(
        self, losses: Sequence[torch.Tensor], metric: float | None
    ) -> tuple[list[float], float | None]:
        """Read the pending losses and the metric, both averaged over the ranks.

        Args:
            losses: Scalar loss tensors of the steps since the last exchange, on any
                device; every rank passes the same number.
            metric: This rank's metric for the last step, or ``None``.

        Returns:
            The mean losses as floats, and the mean metric (``None`` if not given).

        Raises:
            RangeTestAbortedError: If another rank reported a failure.
        """
        values = _host_values(losses)
        if self._store is None:
            return values, metric
        packet = np.array([math.nan if metric is None else metric, *values], dtype=np.float64)
        rows = self._gather(packet)
        mean = _rank_order_sum(rows) / self.world_size
        return mean[1:].tolist(), (None if metric is None else float(mean[0]))

    def final(self, elapsed_s: float) -> float:
        """Last round of a finished test: returns rank 0's ``elapsed_s`` on every rank.

        Raises:
            RangeTestAbortedError: If another rank reported a failure (for example
                while restoring its state).
        """
        if self._store is None:
            return elapsed_s
        rows = self._gather(np.array([elapsed_s], dtype=np.float64))
        return float(rows[0, 0])

    def close(self) -> None:
        """Leave the range test: the last call of every rank, on every path out.

        Wakes any rank waiting at a later sync point, adds this rank to the count of
        ranks that left, and on rank 0 (the host of the store under ``env://`` and
        ``tcp://`` initialisation) waits until every rank has left, for at most
        :func:`leave_grace_s` seconds: no rank can lose the store while it still reads
        from it. Errors of the store are ignored here (this runs while an error may be
        propagating); a ``KeyboardInterrupt`` during rank 0's wait ends it and propagates.
        """
        store = self._store
        if store is None:
            return
        deadline = time.monotonic() + leave_grace_s(self._longest_gap, self._last_done)
        try:
            if not (self._failed_posted or self._aborted):
                # no rank of a clean run ever enters this round: one that does (another
                # rank failed after the last sync point) is stopped instead of waiting
                self._wake([self._round], f"rank {self.rank} left the range test")
            if store.add(self._key("left"), 1) == self.world_size:
                store.set(self._key("all_left"), b"1")
            if self.rank == 0:
                wait_s = min(deadline - time.monotonic(), _timeout_s(store))
                if wait_s > 0:
                    store.wait([self._key("all_left")], datetime.timedelta(seconds=wait_s))
        except Exception:  # the store failed or the others did not leave in time
            pass
        finally:
            self._store = None


def leave_grace_s(longest_gap_s: float, last_sync_at: float) -> float:
    """Seconds from now that rank 0 waits for the other ranks to leave the range test.

    The others reach their next sync point within one sync interval of the last one,
    then restore their state and leave, so rank 0 waits until ``3 * longest_gap_s``
    after the last sync point, plus :data:`LEAVE_SLACK_S`:

        grace = max(0, last_sync_at + 3 * longest_gap_s - now) + LEAVE_SLACK_S

    Args:
        longest_gap_s: Longest interval seen between two sync points (seconds).
        last_sync_at: ``time.monotonic()`` at the end of the last sync point.

    Returns:
        The grace in seconds (at least :data:`LEAVE_SLACK_S`).

    Example:
        >>> leave_grace_s(0.0, time.monotonic()) == LEAVE_SLACK_S
        True
        >>> round(leave_grace_s(2.0, time.monotonic()))
        16
    """
    return max(0.0, last_sync_at + 3.0 * longest_gap_s - time.monotonic()) + LEAVE_SLACK_S


def _timeout_s(store: Any) -> float:
    """The store's own timeout in seconds (its waits never last longer)."""
    timeout = getattr(store, "timeout", None)
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return math.inf


def comm_for_current_job() -> Comm:
    """Return a :class:`Comm` for this call: distributed if a process group is initialised.

    Every rank must call it once per :func:`~cyclr.torch.range_test` call.

    Example:
        >>> comm_for_current_job().distributed
        False
    """
    global _calls
    _calls += 1
    if not is_distributed():
        return Comm(None)
    dist = torch.distributed
    from torch.distributed import distributed_c10d

    store = distributed_c10d._get_default_store()
    return Comm(store, dist.get_rank(), dist.get_world_size(), namespace=f"{_KEY_PREFIX}/{_calls}")


def _rank_order_sum(rows: np.ndarray) -> np.ndarray:
    """Sum the rows in rank order (the same float result on every rank)."""
    total: np.ndarray = rows[0].copy()
    for row in rows[1:]:
        total += row
    return total


def _host_values(losses: Sequence[torch.Tensor]) -> list[float]:
    """Copy scalar loss tensors to the host in one transfer and return them as floats."""
    if not losses:
        return []
    first = losses[0]
    if all(t.device == first.device and t.dtype == first.dtype for t in losses):
        stacked = torch.stack([t.reshape(()) for t in losses])
    else:
        dtype = torch.float32 if first.device.type == "mps" else torch.float64
        stacked = torch.stack([t.reshape(()).to(first.device, dtype) for t in losses])
    values: list[float] = stacked.cpu().double().tolist()
    return values
