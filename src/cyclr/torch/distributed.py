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

If a rank fails while the others are inside a collective of the model itself (DDP's
backward), those ranks wait in that collective until the failed process exits (gloo and
NCCL then raise on the survivors; ``torchrun`` ends the job) or until the process
group's timeout. Every rank must call :func:`~cyclr.torch.range_test` the same number of
times, with the same settings (checked at the start: a mismatch raises on every rank).
"""

from __future__ import annotations

import math
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
]

FINGERPRINT_SIZE = 24
"""How many numbers the settings check of :meth:`Comm.agree` compares."""

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
            RangeTestAbortedError: If a rank reported a failure.
        """
        store, k = self._store, self._round
        self._round += 1
        store.set(self._key(k, self.rank), packet.astype("<f8").tobytes())
        if store.add(self._key(k, "arrived"), 1) == self.world_size:
            store.set(self._key(k, "done"), b"1")
        store.wait([self._key(k, "done")])
        failed_key = self._key("failed")
        if store.check([failed_key]):
            note = store.get(failed_key).decode("utf-8", "replace")
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
            self._store.set(self._key("failed"), note.encode("utf-8"))
            self._store.set(self._key(self._round, "done"), b"1")
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
        """Forget the store (nothing is left pending)."""
        self._store = None


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
