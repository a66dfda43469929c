"""benchmarks.suite.replicate_noise: two calls of the same seed read from a cache."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from benchmarks.suite.replicate_noise import pairs, spread_chances, table
from benchmarks.suite.tasks import ALL_TASKS

from cyclr.rangetest.confirm import Confirmation
from cyclr.rangetest.storage import _confirmation_data

TASK = "digits-mlp-sgd"


def _write(
    cache: Path, family: str, tag: str, seed: int, anchor: float, lr: float, task: str = TASK
) -> None:
    c = Confirmation(lr, anchor, (anchor / 10, anchor, anchor * 10), (1.2, 1.0, 1.3), 40, 120)
    folder = cache / f"{task}-{ALL_TASKS[task].fingerprint()}" / "finder"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"confirmation": _confirmation_data(dataclasses.replace(c, start_loss=2.0))}
    path = folder / f"{family}-{tag}-seed={seed}-scale=1.0-shift=0.0.json"
    path.write_text(json.dumps(record))


def test_pairs_are_the_two_families_ratios_of_one_seed(tmp_path: Path) -> None:
    _write(tmp_path, "cyclr-auto", "a", 0, 0.01, 0.02)
    _write(tmp_path, "cyclr-confirm", "a", 0, 0.04, 0.01)
    _write(tmp_path, "cyclr-auto", "a", 1, 0.01, 0.02)  # no partner: not a pair
    _write(tmp_path, "cyclr-auto", "b", 0, 0.01, 0.02)  # seed 0 again under a later tag
    _write(tmp_path, "cyclr-confirm", "b", 0, 0.01, 0.02)
    found = pairs(["a", "b"], tmp_path)
    assert list(found) == [TASK] and len(found[TASK]) == 1
    pair = found[TASK][0]
    assert pair.anchor == pytest.approx(math.log10(4.0))
    assert pair.lr == pytest.approx(math.log10(0.5))
    assert "| digits-mlp-sgd | 1 | 4.00x, 4.0x | 2.00x, 2.0x |" in table("a,b", tmp_path)


def test_no_pair_is_an_error_naming_the_tags(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="under tags x,y"):
        table("x,y", tmp_path)


def test_the_simulated_spread_grows_with_the_noise() -> None:
    rng = np.random.default_rng(0)
    assert spread_chances(0.0, 3, rng) == (1.0, 0.0)
    median, over = spread_chances(1.0, 3, rng)
    assert median > 10.0 and over > 0.9
    assert spread_chances(0.1, 8, rng)[1] < spread_chances(0.2, 8, rng)[1]


def test_the_confirmed_lr_s_share_of_the_anchor_s_error(tmp_path: Path) -> None:
    for seed, ratio in enumerate((2.0, 0.5, 4.0, 0.25)):  # the LR keeps half of it (in logs)
        _write(tmp_path, "cyclr-auto", "a", seed, 0.01, 0.01)
        _write(tmp_path, "cyclr-confirm", "a", seed, 0.01 * ratio, 0.01 * math.sqrt(ratio))
    text = table("a", tmp_path)
    assert "(slope) | | 0.50 |" in text
    assert "exact anchor) | | 0.000: over 2x over 3 calls 0% per task |" in text


def test_one_call_s_sigma_is_the_median_difference_over_0_6745_root_2(tmp_path: Path) -> None:
    for seed, ratio in enumerate((2.0, 2.0, 2.0)):  # d = log10 2 for every pair
        _write(tmp_path, "cyclr-auto", "a", seed, 0.01, 0.01)
        _write(tmp_path, "cyclr-confirm", "a", seed, 0.01 * ratio, 0.01 * ratio)
    text = table("a", tmp_path)
    sigma = math.log10(2.0) / (0.6745 * math.sqrt(2.0))
    assert f"| sigma of one call (decades) | {sigma:.3f} | {sigma:.3f} |" in text  # 0.316
    rms = math.log10(2.0) / math.sqrt(2.0)
    assert f"| (from the mean square instead) | {rms:.3f} | {rms:.3f} |" in text  # 0.213
    assert "| signed median log10 ratio (bias) | +0.301 | +0.301 |" in text
    assert "(slope)" not in text  # every anchor ratio the same: no line to fit


def test_longer_budget_variants_do_not_count_the_same_pair_again(tmp_path: Path) -> None:
    for task in (TASK, "diabetes-mlp-adam-x10"):
        _write(tmp_path, "cyclr-auto", "a", 0, 0.01, 0.02, task)
        _write(tmp_path, "cyclr-confirm", "a", 0, 0.04, 0.01, task)
    assert list(pairs(["a"], tmp_path)) == [TASK]
