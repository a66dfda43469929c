"""benchmarks.suite.overfitting_notice: a cached record read back as the default call."""

from __future__ import annotations

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
