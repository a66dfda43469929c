"""Shared fixtures of the command-line tests: run ``python -m cyclr``, saved results."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cyclr.rangetest import RangeTestResult

RunCyclr = Callable[..., "subprocess.CompletedProcess[str]"]


def _run_cyclr(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100", "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "cyclr", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def run_cyclr() -> RunCyclr:
    """Run the real entry point, ``python -m cyclr ARGS``, in a subprocess."""
    return _run_cyclr


def synthetic_result(noise: float = 0.01, seed: int = 0) -> RangeTestResult:
    """A curve shaped like a real range test: flat, a fall over two decades, a blow-up."""
    rng = np.random.default_rng(seed)
    lrs = np.logspace(-6, 0, 120)
    x = np.log10(lrs)
    losses = 2.0 - np.tanh(x + 3.0) + np.exp(3.0 * (x + 0.5)) + rng.normal(0.0, noise, x.size)
    settings = {"start_lr": 1e-6, "end_lr": 1.0, "num_steps": 120, "sweep": "exp"}
    return RangeTestResult(lrs, losses, losses.copy(), None, "num_steps", settings, 1.0)


@pytest.fixture
def result_json(tmp_path: Path) -> Path:
    """A saved range test with a clear fall: every rule has an answer."""
    path = tmp_path / "lr.json"
    synthetic_result().to_json(path)
    return path


@pytest.fixture
def flat_result_json(tmp_path: Path) -> Path:
    """A saved range test whose loss never falls: no rule has an answer."""
    rng = np.random.default_rng(0)
    lrs = np.logspace(-6, 0, 120)
    losses = 1.0 + rng.normal(0.0, 0.01, lrs.size)
    path = tmp_path / "flat.json"
    RangeTestResult(lrs, losses, losses.copy(), None, "num_steps", {}, None).to_json(path)
    return path
