"""The run's length end to end: the fitted LR puts the held-out minimum at the run's end.

A small regression that overfits: 32 training examples, an MLP with 128 hidden units,
Adam on the whole batch, a separate validation set. The confirmation's larger candidates
overfit within 80 steps; ``result.suggest(total_steps=1000)`` lowers the LR by the
gradient-flow time of their held-out minima. Trained for 1,000 steps, the fitted LR
reaches its held-out minimum at the end, and ends lower than the window's LR does.
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest
import torch

from cyclr.cli.main import main as cli_main
from cyclr.rangetest.confirm import evaluation_steps
from cyclr.rangetest.confirm_stage import learning_bar
from cyclr.torch import range_test

D, RUN = 8, 1000


def _data() -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    x, w = torch.randn(32, D), torch.randn(D, 1)
    y = x @ w + 0.5 * torch.randn(32, 1)
    x_val = torch.randn(200, D)
    return x, y, x_val, x_val @ w + 0.5 * torch.randn(200, 1)


def _model() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(D, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1))


def _held_out_curve(lr: float, data: tuple[torch.Tensor, ...]) -> list[float]:
    """Held-out loss every 50 steps of a ``RUN``-step run at ``lr`` from the same start."""
    x, y, x_val, y_val = data
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for step in range(1, RUN + 1):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        if step % 50 == 0:
            with torch.no_grad():
                curve.append(float(torch.nn.functional.mse_loss(model(x_val), y_val)))
    return curve


@pytest.fixture(scope="module")
def fitted() -> Any:
    data = _data()
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with pytest.warns(RuntimeWarning, match="past its held-out minimum") as caught:
        result = range_test(
            model,
            optimizer,
            [(data[0], data[1])],
            torch.nn.functional.mse_loss,
            held_out=[(data[2], data[3])],
            confirm_steps=80,
            progress=False,
        )
    return data, result, [str(w.message) for w in caught]


def test_the_fitted_lr_is_the_median_flow_time_over_the_run(fitted: Any) -> None:
    _, result, _ = fitted
    confirmation = result.confirmation
    at = evaluation_steps(confirmation.steps)
    bar, times = learning_bar(result), []
    for lr, losses in zip(confirmation.candidates, confirmation.held_out_losses, strict=True):
        low = losses.index(min(losses))
        later = losses[low + 1 :]
        if min(losses) < bar and len(later) >= 2 and min(later) > losses[low]:
            times.append(lr * at[low])
    suggestion = result.suggest(total_steps=RUN)
    assert len(times) >= 2 and suggestion.evidence["chosen_by"] == "the run's length"
    assert suggestion.lr == pytest.approx(statistics.median(times) / RUN)
    assert suggestion.lr < result.suggest().lr / 10


def test_a_run_at_the_fitted_lr_bottoms_out_at_its_end_and_ends_lower(fitted: Any) -> None:
    data, result, _ = fitted
    window = _held_out_curve(result.suggest().lr, data)
    run = _held_out_curve(result.suggest(total_steps=RUN).lr, data)
    assert run.index(min(run)) >= len(run) * 0.8  # the held-out minimum at the run's end
    assert window.index(min(window)) < len(window) * 0.2  # the window's LR overfits early
    assert run[-1] < window[-1]


def test_range_test_keeps_the_run_s_length_for_suggest_its_file_and_the_cli(
    fitted: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data, by_hand, _ = fitted
    model = _model()
    result = range_test(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-3),
        [(data[0], data[1])],
        torch.nn.functional.mse_loss,
        held_out=[(data[2], data[3])],
        confirm_steps=80,
        total_steps=RUN,
        progress=False,
    )
    assert result.settings["total_steps"] == RUN
    assert result.suggest() == by_hand.suggest(total_steps=RUN) == result.suggest(total_steps=RUN)
    assert result.suggest(total_steps=10).lr == by_hand.suggest().lr  # an explicit length wins
    path = tmp_path / "lr.json"
    result.to_json(path)
    assert cli_main(["suggest", str(path)]) == 0
    assert "chosen_by=the run's length" in capsys.readouterr().out


def test_without_the_run_s_length_range_test_says_when_the_window_s_lr_overfits(
    fitted: Any,
) -> None:
    data, result, messages = fitted
    steps = result.suggest().evidence["held_out_minimum_steps"]
    assert len(messages) == 1 and f"after about {steps} steps" in messages[0]
    assert "total_steps=" in messages[0]
    window = _held_out_curve(result.suggest().lr, data)  # every 50 steps of 1,000
    bottom = 50 * (window.index(min(window)) + 1)
    assert steps < RUN and bottom / 2 <= steps <= bottom * 2  # where the run bottoms out
