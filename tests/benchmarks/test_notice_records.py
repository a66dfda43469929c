"""benchmarks.suite.overfitting_notice: a cached record read back as the default call."""

from __future__ import annotations

import dataclasses
import json

from benchmarks.suite.overfitting_notice import notice_steps
from tests.rangetest.test_horizon import OVERFIT, STEADY, _result


def _record(held_out: tuple[tuple[float, ...], ...]) -> dict[str, object]:
    """A suite record's fields, from a saved result (the same confirmation format)."""
    saved = json.loads(_result(held_out).to_json())
    lrs = [row[0] if isinstance(row, list) else row for row in saved["lrs"]]
    return {"confirmation": saved["confirmation"], "lrs": lrs, "losses": saved["losses"]}


def test_the_notice_is_read_as_result_suggest_gives_it() -> None:
    assert (
        notice_steps(_record(OVERFIT))
        == _result(OVERFIT).suggest().evidence["held_out_minimum_steps"]
    )
    assert notice_steps(_record(OVERFIT)) == 22
    assert notice_steps(_record(STEADY)) is None


def test_the_screened_reading_takes_the_smallest_candidate_within_the_noise() -> None:
    from benchmarks.suite.screen_readings import _within_noise

    from cyclr.rangetest.confirm import Confirmation

    record = {"losses": [2.0, 2.2, 1.8, 2.0] * 5}  # sigma0 0.145: a unit of 0.145 / sqrt(4)
    c = Confirmation(0.04, 0.02, (0.01, 0.02, 0.04), (1.10, 1.05, 1.00), 40, 120, start_loss=2.0)
    c = dataclasses.replace(c, held_out_steps=4.0)
    assert _within_noise(record, c, 0.5) == 0.04  # 0.05 above the lowest: 0.7 units
    assert _within_noise(record, c, 1.0) == 0.02
    assert _within_noise(record, c, 2.0) == 0.01
