"""RangeTestResult: validation, immutability, JSON (exact, versioned, strict) and CSV."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rangetest_curves import drive, falling

from cyclr.rangetest import RangeTest, RangeTestResult
from cyclr.rangetest.result import FORMAT, SCHEMA_VERSION


@pytest.fixture
def result() -> RangeTestResult:
    rt = RangeTest(1e-6, 1.0, 40, group_scales=(1.0, 0.5))
    for i, _ in enumerate(rt):
        rt.record(2.0 - math.tanh(i / 8 - 2.5) if i < 30 else math.nan)
        if i % 5 == 0:
            rt.record_metric(0.1 + i / 100)
    return rt.result(elapsed_s=3.25, settings={"model": "mlp", "batch_size": 32})


# -- JSON ------------------------------------------------------------------------------------


def test_json_round_trip_is_exact_with_nan_and_metrics(
    result: RangeTestResult, tmp_path: Path
) -> None:
    path = tmp_path / "rt.json"
    text = result.to_json(path)
    assert path.read_text(encoding="utf-8") == text + "\n"
    for again in (
        RangeTestResult.from_json(path),
        RangeTestResult.from_json(str(path)),
        RangeTestResult.from_json_text(text),
    ):
        assert again == result
        assert again.lrs.tolist() == result.lrs.tolist()
        assert again.stop_reason == "non_finite" and again.settings["model"] == "mlp"
    data = json.loads(text)
    assert data["format"] == FORMAT and data["version"] == SCHEMA_VERSION
    assert data["losses"][-1] is None  # NaN as null
    assert data["groups"] == 2


def test_json_keeps_infinities_apart_from_nan() -> None:
    lrs = [1e-3, 1e-2, 1e-1]
    r = RangeTestResult(lrs, [1.0, math.inf, -math.inf], [1.0, 2.0, math.nan], None, None, {}, None)
    data = json.loads(r.to_json())
    assert data["losses"] == [1.0, "inf", "-inf"] and data["smoothed"][2] is None
    again = RangeTestResult.from_json_text(r.to_json())
    assert again.losses.tolist() == [1.0, math.inf, -math.inf]
    assert again == r


def _mutated(result: RangeTestResult, **changes: Any) -> str:
    data = json.loads(result.to_json())
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"version": 2}, "schema version 2; this cyclr reads version 1 .*newer"),
        ({"version": "1"}, "schema version '1'"),
        ({"version": True}, "schema version True"),
        ({"version": KeyError}, "schema version None"),
        ({"format": "something"}, "not a cyclr range-test result"),
        ({"losses": KeyError}, r"missing fields \['losses'\]"),
        ({"extra": 1}, r"unknown fields \['extra'\]"),
        ({"losses": "1,2,3"}, "field 'losses' must be a list"),
        ({"losses": [1.0, "x"]}, r"field 'losses'\[1\] must be a number"),
        ({"losses": [True] * 30}, r"field 'losses'\[0\] must be a number"),
        ({"losses": [1.0]}, "losses must have one value per step"),
        ({"metrics": [0.5] * 3}, "metrics must have one value per step"),
        ({"lrs": [[1.0]] * 30}, r"field 'lrs'\[0\] must have one LR per parameter group"),
        ({"lrs": [1.0] * 30}, "field 'lrs' must be a list of lists"),
        ({"lrs": [[1.0, 1.0]] * 30}, "group 0 must increase strictly"),
        ({"lrs": [[-1.0, 1.0]] + [[1.0, 1.0]] * 29}, "lrs must be positive and finite"),
        ({"groups": 0}, "field 'groups' must be a positive integer"),
        ({"stop_reason": "boom"}, "stop_reason must be one of"),
        ({"stop_reason": 3}, "field 'stop_reason' must be a string or null"),
        ({"elapsed_s": -1.0}, "elapsed_s must be finite and non-negative"),
        ({"elapsed_s": "1s"}, "field 'elapsed_s' must be a number or null"),
        ({"settings": []}, "field 'settings' must be an object"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_from_json_rejects_malformed_files(
    result: RangeTestResult, changes: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        RangeTestResult.from_json_text(_mutated(result, **changes))


def test_from_json_rejects_truncated_and_non_json(result: RangeTestResult, tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(result.to_json()[:200])
    with pytest.raises(ValueError, match=r"not valid JSON .* may be truncated"):
        RangeTestResult.from_json(path)
    with pytest.raises(ValueError, match="not a cyclr range-test result"):
        RangeTestResult.from_json_text("[1, 2, 3]")
    with pytest.raises(ValueError, match="empty string"):
        RangeTestResult.from_json_text("  ")
    with pytest.raises(TypeError, match=r"for JSON text use RangeTestResult\.from_json_text"):
        RangeTestResult.from_json('{"format": 1}')
    with pytest.raises(FileNotFoundError):
        RangeTestResult.from_json(tmp_path / "missing.json")
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike"):
        RangeTestResult.from_json(42)  # type: ignore[arg-type]


# -- construction and immutability -------------------------------------------------------


def test_result_is_frozen_and_its_arrays_read_only(result: RangeTestResult) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.stop_reason = "diverged"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        result.losses[0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        result.lrs[0, 0] = 0.0
    with pytest.raises(TypeError, match="unhashable"):
        hash(result)


def test_construction_validates_and_normalises() -> None:
    r = RangeTestResult([1e-3, 1e-2], [1.0, 0.5], [1.0, 0.7], None, "num_steps", {"g": (1, 2)}, 2)
    assert r.lrs.shape == (2, 1) and r.lrs.dtype == np.float64
    assert r.settings == {"g": [1, 2]} and r.elapsed_s == 2.0
    assert r.num_recorded == 2 and "2 steps x 1 groups" in repr(r)
    with pytest.raises(ValueError, match="losses must have one value per step"):
        RangeTestResult([1e-3, 1e-2], [1.0], [1.0, 0.7], None, None, {}, None)
    with pytest.raises(ValueError, match="lrs must be"):
        RangeTestResult(np.ones((2, 2, 2)), [1.0, 1.0], [1.0, 1.0], None, None, {}, None)
    with pytest.raises(ValueError, match="metrics must be finite"):
        RangeTestResult([1e-3, 1e-2], [1.0, 1.0], [1.0, 1.0], [0.0, math.inf], None, {}, None)
    with pytest.raises(TypeError, match="JSON-safe"):
        RangeTestResult([1e-3], [1.0], [1.0], None, None, {"f": object()}, None)
    with pytest.raises(ValueError, match=r"settings\['x'\] must be finite"):
        RangeTestResult([1e-3], [1.0], [1.0], None, None, {"x": math.nan}, None)
    with pytest.raises(TypeError, match="settings must be a mapping"):
        RangeTestResult([1e-3], [1.0], [1.0], None, None, [], None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="losses must be an array of real numbers"):
        RangeTestResult([1e-3], ["a"], [1.0], None, None, {}, None)


def test_equality_compares_every_field(result: RangeTestResult) -> None:
    same = RangeTestResult.from_json_text(result.to_json())
    assert same == result
    assert dataclasses.replace(result, elapsed_s=1.0) != result
    assert dataclasses.replace(result, metrics=None) != result
    assert dataclasses.replace(result, settings={}) != result
    assert result != "a result"


# -- CSV ----------------------------------------------------------------------------------------


def test_csv_has_one_row_per_step(result: RangeTestResult, tmp_path: Path) -> None:
    path = tmp_path / "rt.csv"
    result.to_csv(path)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step", "lr_0", "lr_1", "loss", "smoothed", "metric"]
    assert len(rows) == result.num_recorded + 1
    for i, row in enumerate(rows[1:]):
        assert int(row[0]) == i
        assert [float(v) for v in row[1:3]] == result.lrs[i].tolist()
        assert np.array_equal(
            [float(v) for v in row[3:]],
            [result.losses[i], result.smoothed[i], result.metrics[i]],  # type: ignore[index]
            equal_nan=True,
        )
    assert rows[-1][3] == "nan"


def test_csv_single_group_without_metric(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    drive(falling(), num_steps=30).to_csv(path)
    header = path.read_text().splitlines()[0]
    assert header == "step,lr,loss,smoothed"
