"""A resumable JSON cache: one file per (task, kind, key), written atomically.

Layout: ``<root>/<task>-<fingerprint>/<kind>/<key>.json``. The task fingerprint covers
everything that changes its numbers (data, model, optimizer, budget, torch version), so a
changed task never reads stale results. Fixed-LR runs of the oracle grid can also be
exported to, and read from, a committed ``benchmarks/oracle_cache.json``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from .tasks import Task

_SAFE = re.compile(r"[^A-Za-z0-9_.=+-]")


class NotCachedError(LookupError):
    """A unit of work is not in the cache and the run is read-only."""


def _safe(key: str) -> str:
    return _SAFE.sub("_", key)


class Store:
    """Per-record JSON files under ``root``, plus an optional shared oracle file."""

    def __init__(self, root: Path, oracle_file: Path | None = None) -> None:
        self.root = root
        self.oracle_file = oracle_file
        self._oracle: dict[str, Any] = {}
        if oracle_file is not None and oracle_file.exists():
            self._oracle = json.loads(oracle_file.read_text())

    def _path(self, task: Task, kind: str, key: str) -> Path:
        return self.root / f"{task.name}-{task.fingerprint()}" / kind / f"{_safe(key)}.json"

    def get(self, task: Task, kind: str, key: str) -> dict[str, Any] | None:
        """The stored record, or ``None``."""
        path = self._path(task, kind, key)
        if path.exists():
            try:
                return dict(json.loads(path.read_text()))
            except json.JSONDecodeError:
                return None
        if kind == "train":
            entry = self._oracle.get(task.name)
            if entry and entry.get("fingerprint") == task.fingerprint():
                rec = entry.get("runs", {}).get(key)
                return dict(rec) if rec is not None else None
        return None

    def put(self, task: Task, kind: str, key: str, value: dict[str, Any]) -> None:
        """Store a record (atomic replace)."""
        path = self._path(task, kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(value, sort_keys=True))

    def export_oracle(self, task: Task, runs: dict[str, dict[str, Any]], summary: Any) -> None:
        """Write a task's oracle-grid runs into the shared oracle file."""
        if self.oracle_file is None:
            return
        data: dict[str, Any] = {}
        if self.oracle_file.exists():
            data = json.loads(self.oracle_file.read_text())
        data[task.name] = {"fingerprint": task.fingerprint(), "summary": summary, "runs": runs}
        self._oracle = data
        _atomic_write(self.oracle_file, json.dumps(data, sort_keys=True, indent=1) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
