"""benchmarks.suite.overfitting_notice: a cached record read back as the default call."""

from __future__ import annotations

import dataclasses
import json

import pytest
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


def test_a_minimum_at_the_first_evaluation_caps_the_flow_time() -> None:
    from benchmarks.suite.screen_readings import _censored

    from cyclr.rangetest.confirm import Confirmation

    record = {"losses": [2.0, 2.2, 1.8, 2.0] * 5}
    held = ((1.5, 1.3, 1.2, 1.1), (1.4, 1.0, 1.1, 1.2), (1.2, 1.3, 1.4, 1.5))  # 0.4; <= 0.5
    c = Confirmation(0.02, 0.02, (0.01, 0.02, 0.05), (1.1, 1.2, 1.5), 40, 120, held)
    c = dataclasses.replace(c, start_loss=2.0, held_out_steps=4.0)
    assert _censored(record, c, 450) == pytest.approx(0.45 / 450)  # median 0.45 <= bound 0.5
    early = ((1.5, 1.3, 1.2, 1.1), (1.4, 1.0, 1.1, 1.2), (0.9, 1.3, 1.4, 1.5))  # bound 0.5
    c = dataclasses.replace(c, held_out_losses=early)
    assert _censored(record, c, 450) == pytest.approx(0.45 / 450)
    both = ((1.5, 1.3, 1.2, 1.1), (0.9, 1.0, 1.1, 1.2), (0.9, 1.3, 1.4, 1.5))  # 0.2 and 0.5
    c = dataclasses.replace(c, held_out_losses=both)
    assert _censored(record, c, 450) == pytest.approx(0.2 / 450)  # the median 0.35, capped
