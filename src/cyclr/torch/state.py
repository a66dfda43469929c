"""Exact snapshot and restore of a PyTorch training state.

A :class:`Snapshot` holds everything a few training steps change: the values of the
model's parameters, gradients and buffers, the optimizer's per-parameter state and its
``param_groups`` hyper-parameters, a ``GradScaler``'s scale and bookkeeping, every
module's ``train``/``eval`` mode, and the random-number generators of torch (CPU, plus
CUDA and MPS when in use), NumPy's global generator and Python's :mod:`random`.

:meth:`Snapshot.restore` writes the saved values back *into the same tensor objects*
(``tensor.copy_``), so references held elsewhere (the optimizer's ``params``, DDP's
gradient buckets, a user's variables) stay valid and the restored state is equal bit
for bit to the captured one.

Where the copy lives:

* ``storage="memory"``: tensors are copied to host (CPU) memory, never to the device, so a
  snapshot of a GPU model does not double GPU memory. Host cost: about one copy of the
  parameters, buffers, existing gradients and optimizer state.
* ``storage="disk"``: tensors are written with :func:`torch.save` into a private
  temporary directory (created by :func:`tempfile.mkdtemp`, mode ``0700``) and read
  back with ``torch.load(weights_only=True, mmap=True)``. :meth:`Snapshot.close`
  removes the directory; only small non-tensor values stay in memory. A full disk
  (or a file-size limit) while saving raises :class:`~cyclr._files.FileWriteError`,
  ``no space left while saving the range-test snapshot to /tmp (ENOSPC); ...``, removes
  the partial file, and leaves the training state untouched.

Example:
    >>> import torch
    >>> from cyclr.torch.state import preserved
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> before = model.weight.detach().clone()
    >>> with preserved(model, opt):
    ...     model(torch.ones(1, 2)).sum().backward()
    ...     opt.step()
    >>> torch.equal(model.weight, before), model.weight.grad is None
    (True, True)
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from .._files import atomic_writer, saving_error
from .._validate import check_choice, check_type
from ._rng import rng_preserved, rng_states, set_rng_states

__all__ = ["STORAGES", "Snapshot", "preserved", "rng_preserved", "snapshot"]

STORAGES = ("memory", "disk")
"""Where a snapshot can keep its tensors (the ``storage`` / ``snapshot`` argument)."""
_MISSING = object()


@dataclass(frozen=True)
class _TensorRef:
    """Placeholder for a saved tensor: its key in the store plus where it lived."""

    key: str
    device: torch.device
    dtype: torch.dtype


@dataclass
class _TensorStore:
    """Saved tensors, in host memory or in a private temporary directory."""

    storage: str
    _memory: dict[str, torch.Tensor] = field(default_factory=dict)
    _pending: dict[str, torch.Tensor] = field(default_factory=dict)
    directory: str | None = None
    nbytes: int = 0
    disk_bytes: int = 0

    def put(self, key: str, tensor: torch.Tensor) -> _TensorRef:
        data = tensor.detach()
        if self.storage == "memory":
            host = data.to("cpu", copy=True)
            self._memory[key] = host
            self.nbytes += host.numel() * host.element_size()
        else:
            # torch.save writes a view's whole storage: copy views that do not own it
            # (and sparse tensors, which have no storage of their own to ask).
            spans = data.layout == torch.strided and (
                data.untyped_storage().nbytes() == data.numel() * data.element_size()
            )
            self._pending[key] = data if spans and data.storage_offset() == 0 else data.clone()
        return _TensorRef(key, tensor.device, tensor.dtype)

    def commit(self) -> None:
        """Write pending tensors to disk (no-op in memory)."""
        if self.storage != "disk":
            return
        self.directory = tempfile.mkdtemp(prefix="cyclr-snapshot-")
        path = os.path.join(self.directory, "tensors.pt")
        try:
            # through a Python file object: torch then keeps the file's OSError (errno)
            # as the context of its own "enforce fail at inline_container.cc" error
            with atomic_writer(path, "wb", durable=False) as f:
                torch.save(self._pending, f)
        except BaseException as exc:
            self.close()
            error = saving_error(
                exc,
                "the range-test snapshot",
                os.path.dirname(os.path.dirname(path)),
                path,
                hint="free space there, point TMPDIR at a larger disk, or pass snapshot='memory'",
            )
            if error is None:
                raise
            raise error from exc
        finally:
            self._pending = {}
        self.disk_bytes = os.path.getsize(path)

    def load(self) -> dict[str, torch.Tensor]:
        if self.storage == "memory":
            return self._memory
        if self.directory is None:
            raise RuntimeError("snapshot is closed: its temporary directory was removed")
        path = os.path.join(self.directory, "tensors.pt")
        loaded: dict[str, torch.Tensor] = torch.load(
            path, map_location="cpu", weights_only=True, mmap=True
        )
        return loaded

    def close(self) -> None:
        self._memory = {}
        self._pending = {}
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def _pack(value: Any, store: _TensorStore, key: str) -> Any:
    """Replace tensors inside ``value`` (nested dict/list/tuple) by :class:`_TensorRef`."""
    if isinstance(value, torch.Tensor):
        return store.put(key, value)
    if isinstance(value, dict):
        return type(value)((k, _pack(v, store, f"{key}.{k}")) for k, v in value.items())
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_pack(v, store, f"{key}.{i}") for i, v in enumerate(value))
    return copy.deepcopy(value)


def _unpack(value: Any, saved: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`_pack`: fresh tensors on their original device and dtype."""
    if isinstance(value, _TensorRef):
        return saved[value.key].to(device=value.device, dtype=value.dtype, copy=True)
    if isinstance(value, dict):
        return type(value)((k, _unpack(v, saved)) for k, v in value.items())
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_unpack(v, saved) for v in value)
    return copy.deepcopy(value)


def _restore_into(current: Any, packed: Any, saved: Mapping[str, torch.Tensor]) -> Any:
    """Return the restored value, writing into ``current`` in place when it is compatible."""
    if isinstance(packed, _TensorRef) and isinstance(current, torch.Tensor):
        source = saved[packed.key]
        if (
            current.shape == source.shape
            and current.dtype == packed.dtype
            and current.device == packed.device
        ):
            with torch.no_grad():
                current.copy_(source)
            return current
    return _unpack(packed, saved)


def _same_place(tensor: torch.Tensor, ref: _TensorRef, source: torch.Tensor) -> bool:
    return (
        tensor.shape == source.shape and tensor.dtype == ref.dtype and tensor.device == ref.device
    )


def _copy_back(
    tensor: torch.Tensor, ref: _TensorRef, saved: Mapping[str, torch.Tensor], what: str
) -> None:
    """Copy the saved value of ``ref`` into ``tensor`` in place (``what`` names it in errors).

    Raises:
        RuntimeError: If the tensor's shape, dtype or device changed since the snapshot.
    """
    source = saved[ref.key]
    if not _same_place(tensor, ref, source):
        raise RuntimeError(
            f"cannot restore a {what} whose shape, dtype or device changed "
            f"(saved {tuple(source.shape)} {ref.dtype} on {ref.device}, "
            f"now {tuple(tensor.shape)} {tensor.dtype} on {tensor.device})"
        )
    tensor.copy_(source)


class Snapshot:
    """The captured training state of a model, its optimizer and a ``GradScaler``.

    Create one with :func:`snapshot`; call :meth:`restore` (any number of times) to put
    every value back, and :meth:`close` (or use it as a context manager) to release the
    copy and remove its temporary directory.

    Attributes:
        storage: ``"memory"`` or ``"disk"``.
        nbytes: Bytes of tensor data held in host memory.
        disk_bytes: Bytes written to the temporary directory (0 in memory).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        scaler: torch.amp.GradScaler | None,
        storage: str,
    ) -> None:
        self.storage = check_choice("storage", storage, STORAGES)
        self._model = model
        self._optimizer = optimizer
        self._scaler = scaler
        self._store = _TensorStore(self.storage)
        self._closed = False
        try:
            self._capture()
            self._store.commit()
        except BaseException:
            self._store.close()
            raise

    # ----------------------------------------------------------------- capture
    def _capture(self) -> None:
        store = self._store
        params: list[torch.Tensor] = []
        seen: set[int] = set()
        sources: list[Any] = [self._model.parameters()]
        if self._optimizer is not None:
            sources.extend(group["params"] for group in self._optimizer.param_groups)
        for source in sources:
            for p in source:
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        self._params = params
        self._param_refs = [store.put(f"p{i}", p) for i, p in enumerate(params)]
        self._grad_refs = [
            None if p.grad is None else store.put(f"g{i}", p.grad) for i, p in enumerate(params)
        ]
        buffers: list[torch.Tensor] = []
        for b in self._model.buffers():
            if id(b) not in seen:
                seen.add(id(b))
                buffers.append(b)
        self._buffers = buffers
        self._buffer_refs = [store.put(f"b{i}", b) for i, b in enumerate(buffers)]
        self._modes = [(m, m.training) for m in self._model.modules()]

        self._opt_state: dict[int, Any] = {}
        self._opt_groups: list[dict[str, Any]] = []
        self._opt_attrs: dict[str, Any] = {}
        if self._optimizer is not None:
            index = {id(p): i for i, p in enumerate(params)}
            for p, state in self._optimizer.state.items():
                if id(p) in index:
                    i = index[id(p)]
                    self._opt_state[i] = _pack(dict(state), store, f"o{i}")
            for g, group in enumerate(self._optimizer.param_groups):
                hyper = {k: v for k, v in group.items() if k != "params"}
                self._opt_groups.append(_pack(hyper, store, f"h{g}"))
            # Set by torch's LRScheduler wrapper on every optimizer.step().
            self._opt_attrs["_opt_called"] = vars(self._optimizer).get("_opt_called", _MISSING)

        self._scaler_state: dict[str, Any] | None = None
        if self._scaler is not None and self._scaler.is_enabled():
            sc = self._scaler
            self._scaler_state = {
                "state_dict": sc.state_dict(),
                "lazy": getattr(sc, "_scale", None) is None,
                "per_optimizer": copy.deepcopy(getattr(sc, "_per_optimizer_states", None)),
            }

        self._rng = rng_states()

    # ----------------------------------------------------------------- restore
    def restore(self) -> None:
        """Write every captured value back, in place where the tensor still fits.

        Raises:
            RuntimeError: If the snapshot was closed.
        """
        if self._closed:
            raise RuntimeError("snapshot is closed: it can no longer be restored")
        saved = self._store.load()
        try:
            self._restore(saved)
        finally:
            del saved

    def _restore(self, saved: Mapping[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for p, ref in zip(self._params, self._param_refs, strict=True):
                _copy_back(p, ref, saved, "parameter")
            for p, gref in zip(self._params, self._grad_refs, strict=True):
                if gref is None:
                    p.grad = None
                elif p.grad is not None and _same_place(p.grad, gref, saved[gref.key]):
                    p.grad.copy_(saved[gref.key])
                else:
                    p.grad = _unpack(gref, saved)
            for b, ref in zip(self._buffers, self._buffer_refs, strict=True):
                _copy_back(b, ref, saved, "buffer")
        for module, training in self._modes:
            module.training = training

        if self._optimizer is not None:
            self._restore_optimizer(self._optimizer, saved)
        if self._scaler_state is not None and self._scaler is not None:
            self._restore_scaler(self._scaler, self._scaler_state)

        set_rng_states(self._rng)

    def _restore_optimizer(
        self, optimizer: torch.optim.Optimizer, saved: Mapping[str, torch.Tensor]
    ) -> None:
        for i, p in enumerate(self._params):
            packed = self._opt_state.get(i)
            current = optimizer.state.get(p)
            if packed is None:
                if p in optimizer.state:
                    del optimizer.state[p]
                continue
            restored = {
                k: _restore_into(current.get(k) if current is not None else None, v, saved)
                for k, v in packed.items()
            }
            if current is None:
                optimizer.state[p] = restored
            else:
                current.clear()
                current.update(restored)
        for group, packed in zip(optimizer.param_groups, self._opt_groups, strict=False):
            for key in [k for k in group if k != "params" and k not in packed]:
                del group[key]
            for key, value in packed.items():
                group[key] = _restore_into(group.get(key), value, saved)
        for name, value in self._opt_attrs.items():
            if value is _MISSING:
                vars(optimizer).pop(name, None)
            else:
                setattr(optimizer, name, value)

    @staticmethod
    def _restore_scaler(scaler: torch.amp.GradScaler, state: dict[str, Any]) -> None:
        sd = state["state_dict"]
        if state["lazy"]:
            # The scale tensor did not exist yet: the next scale() creates it from these.
            scaler.load_state_dict(sd)
            scaler._scale = None
            scaler._growth_tracker = None
            scaler._init_growth_tracker = sd["_growth_tracker"]
        else:
            scaler.load_state_dict(sd)
        if state["per_optimizer"] is not None:
            scaler._per_optimizer_states = copy.deepcopy(state["per_optimizer"])

    # --------------------------------------------------------------- lifetime
    @property
    def nbytes(self) -> int:
        """Bytes of tensor data this snapshot holds in host memory."""
        return self._store.nbytes

    @property
    def disk_bytes(self) -> int:
        """Bytes this snapshot wrote to its temporary directory (0 for memory)."""
        return self._store.disk_bytes

    @property
    def directory(self) -> str | None:
        """The private temporary directory of a disk snapshot, ``None`` otherwise."""
        return self._store.directory

    def close(self) -> None:
        """Release the saved copy and remove the temporary directory; idempotent."""
        self._closed = True
        self._store.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def snapshot(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    scaler: torch.amp.GradScaler | None = None,
    storage: str = "memory",
) -> Snapshot:
    """Capture the training state of ``model``, ``optimizer`` and ``scaler``.

    Args:
        model: The module whose parameters, gradients, buffers and modes are saved.
        optimizer: Its optimizer; its state, ``param_groups`` hyper-parameters and the
            parameters it holds (also those outside ``model``) are saved.
        scaler: A ``torch.amp.GradScaler`` whose scale and growth tracker are saved.
        storage: ``"memory"`` (host memory) or ``"disk"`` (a private temporary directory).

    Returns:
        A :class:`Snapshot`; call ``restore()`` to go back, ``close()`` when done.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``storage`` is not ``"memory"`` or ``"disk"``.
        cyclr._files.FileWriteError: If the disk snapshot cannot be written (no space left, a file
            size limit, ...); nothing is left on disk and the state is untouched.

    Example:
        >>> import torch
        >>> model = torch.nn.Linear(3, 1)
        >>> snap = snapshot(model, storage="disk")
        >>> with torch.no_grad():
        ...     _ = model.weight.add_(1.0)
        >>> snap.restore(); snap.close()
        >>> snap.directory is None
        True
    """
    check_type("model", model, torch.nn.Module, "a torch.nn.Module")
    check_type(
        "optimizer",
        optimizer,
        (torch.optim.Optimizer, type(None)),
        "a torch.optim.Optimizer or None",
    )
    check_type(
        "scaler", scaler, (torch.amp.GradScaler, type(None)), "a torch.amp.GradScaler or None"
    )
    return Snapshot(model, optimizer, scaler, storage)


@contextmanager
def preserved(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    scaler: torch.amp.GradScaler | None = None,
    storage: str = "memory",
) -> Iterator[Snapshot]:
    """Run a block and restore the training state afterwards, also on an exception.

    Args:
        model: See :func:`snapshot`.
        optimizer: See :func:`snapshot`.
        scaler: See :func:`snapshot`.
        storage: See :func:`snapshot`.

    Yields:
        The :class:`Snapshot`; it is restored and closed when the block exits, whether
        it finished, raised or was interrupted (``KeyboardInterrupt``).
    """
    snap = snapshot(model, optimizer, scaler=scaler, storage=storage)
    try:
        yield snap
    finally:
        try:
            snap.restore()
        finally:
            snap.close()
