"""The overfitting notice as every framework's range_test gives it (shared by their tests)."""

from __future__ import annotations

import warnings
from typing import Any

SWEEP: dict[str, Any] = {
    "start_lr": 1e-5,
    "end_lr": 1.0,
    "num_steps": 100,
    "confirm_steps": 80,
    "progress": False,
}
"""The range test both frameworks' tests run: 80 confirmation steps let the candidates
turn up."""


def assert_one_notice(caught: list[warnings.WarningMessage], result: Any, caller: str) -> None:
    """One notice, at the caller's line, with the steps the evidence holds; a run 20 times
    as long gets a lower LR whose run ends at the held-out minimum."""
    notices = [n for n in caught if "held-out minimum" in str(n.message)]
    assert all(n.category is RuntimeWarning for n in notices)
    steps = result.suggest().evidence["held_out_minimum_steps"]
    assert len(notices) == 1 and f"after about {steps} steps" in str(notices[0].message)
    assert notices[0].filename == caller
    fitted = result.suggest(total_steps=20 * steps)
    assert fitted.lr < result.suggest().lr
    assert fitted.evidence["held_out_minimum_steps"] == 20 * steps
