"""Synthetic range-test curves with known features, driven through a real RangeTest."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cyclr.rangetest import RangeTest, RangeTestResult

Curve = Callable[[float], float]


def falling(c: float = -3.0, w: float = 0.3, xe: float = -1.0) -> Curve:
    """Loss vs x = log10(lr): a plateau at 2.3, a fall of 1.9 centred (steepest) at x = c,
    a floor, then an explosion around x = xe."""

    def f(x: float) -> float:
        return 2.3 - 1.9 / (1.0 + math.exp(-(x - c) / w)) + 0.5 * math.exp((x - xe) / 0.2)

    return f


def plateau_then_fall() -> Curve:
    """A long flat start (most of the sweep), then a fall at 1e-2 and an explosion."""

    def f(x: float) -> float:
        return 2.0 - 1.5 / (1.0 + math.exp(-(x + 2.0) / 0.2)) + 0.5 * math.exp((x + 0.7) / 0.2)

    return f


def drive(
    curve: Curve,
    *,
    num_steps: int = 100,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    sigma: float = 0.0,
    seed: int = 0,
    scale: float = 1.0,
    shift: float = 0.0,
    **kwargs: Any,
) -> RangeTestResult:
    """Run a RangeTest on ``scale * (curve(log10 lr) + noise) + shift``."""
    rng = np.random.default_rng(seed)
    rt = RangeTest(start_lr, end_lr, num_steps, **kwargs)
    for lr in rt:
        value = curve(math.log10(lr)) + sigma * rng.normal()
        rt.record(scale * value + shift)
    return rt.result(elapsed_s=1.0)


def from_values(values: Any, start_lr: float = 1e-7, end_lr: float = 10.0) -> RangeTestResult:
    """A result with the given losses on an exponential sweep (no tracker involved)."""
    losses = np.asarray(values, dtype=np.float64)
    lrs = np.geomspace(start_lr, end_lr, losses.size)
    return RangeTestResult(lrs, losses, losses, None, "num_steps", {}, None)
