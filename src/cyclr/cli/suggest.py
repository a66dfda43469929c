"""``cyclr suggest RESULT``: every suggestion, the CLR bounds and a snippet to paste."""

from __future__ import annotations

import argparse
import warnings
from typing import TYPE_CHECKING, Any

from .common import CliError, add_command, fmt, load_result, positive_int

if TYPE_CHECKING:
    from ..rangetest import RangeTestResult
    from ..rangetest.rules import Suggestion

__all__ = ["add_parser", "report", "snippet"]

EPILOG = """\
Prints every method's suggestion (bottom, steepest, valley, minimum, consensus; first,
as the default, the confirmed LR of a test that ran its confirmation) with its interval and
evidence, the CLR bounds (base_lr, max_lr), and Python that builds the triangular2 and
one-cycle schedules from them. RESULT is a file written by RangeTestResult.to_json or
to_csv.

With --total-steps (the length of the run at a fixed LR), a confirmed LR is fitted to
the run: lowered where the candidates' held-out losses turned up within the
confirmation, so that the run reaches the held-out minimum at its end.

examples:
  cyclr suggest cyclr-demo/range_test.json
  cyclr suggest lr.json --steps-per-epoch 391
  cyclr suggest lr.json --total-steps 12000
"""


_READ_BY = {
    "fitted": "the LR is the vertex of the parabola through the scores",
    "fitted, at an end": "the parabola through the scores falls to the end candidate",
    "lowest score": "the LR is the best-scoring candidate",
    "given": "the LR was set by hand",
}
"""How ``cyclr suggest`` words :attr:`~cyclr.rangetest.confirm.Confirmation.chosen_by`."""


def snippet(base_lr: float, max_lr: float, steps_per_epoch: int | None = None) -> str:
    """Python that builds the triangular2 and one-cycle schedules for these bounds.

    Args:
        base_lr: Lower CLR bound.
        max_lr: Upper CLR bound.
        steps_per_epoch: Optimizer steps per epoch, or ``None`` for a placeholder.

    Returns:
        The code, ready to paste.

    Example:
        >>> namespace: dict[str, object] = {}
        >>> exec(snippet(0.001, 0.01, steps_per_epoch=50), namespace)
        >>> namespace["schedule"].step_size_up
        200
    """
    spe = "100  # set to len(train_loader)" if steps_per_epoch is None else str(steps_per_epoch)
    return (
        "from cyclr import OneCycle, Triangular2\n"
        "\n"
        f"steps_per_epoch = {spe}\n"
        "epochs = 24  # a whole number of cycles: 8 epochs per cycle below\n"
        f"schedule = Triangular2(base_lr={fmt(base_lr)}, max_lr={fmt(max_lr)}, "
        "step_size_up=4 * steps_per_epoch)\n"
        "# or one cycle over the whole run, starting at base_lr:\n"
        f"one_cycle = OneCycle(max_lr={fmt(max_lr)}, total_steps=epochs * steps_per_epoch, "
        f"div_factor={fmt(max_lr / base_lr)})\n"
        "# PyTorch: scheduler = cyclr.torch.Scheduler(optimizer, schedule), and\n"
        "# scheduler.step() after every optimizer.step()\n"
    )


def fitted_snippet(
    result: RangeTestResult, total_steps: int, steps_per_epoch: int | None = None
) -> str:
    """Python that rebuilds what ``result.schedule(kind, ...)`` gives for a run of ``total_steps``.

    One-cycle over the run, and triangular2 in whole cycles fitted to it when
    ``steps_per_epoch`` is known (else the placeholder template of :func:`snippet`):
    the schedules' own ``repr``, every number as the library computed it, bounds scaled
    to the run's length where the candidates overfit.

    Raises:
        ValueError: If ``total_steps`` fits no whole number of cycles.
        cyclr.errors.NoReliableSuggestionError: If the result gives no bounds.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a run too short for two cycles: noted below
        one_cycle = result.group_schedules(
            "onecycle", steps_per_epoch or 1, total_steps=total_steps
        )
        cyclic = (
            None
            if steps_per_epoch is None
            else result.group_schedules("triangular2", steps_per_epoch, total_steps=total_steps)
        )
    lines = [
        "from cyclr import OneCycle, Triangular2",
        "",
        f"# result.schedule(kind, steps_per_epoch, total_steps={total_steps}) for a run of "
        f"{total_steps} steps:",
    ]
    if len(one_cycle) > 1:
        scales = ", ".join(f"{float(s):g}" for s in result.settings["group_scales"])
        lines.append(f"# one schedule per param group, at the LR ratios swept ({scales}):")
    if cyclic is None:
        lines.append("# (triangular2: pass --steps-per-epoch to fit its cycles to the run)")
    else:
        lines.extend(f"# note: {w.message}" for w in caught)
        lines.append(f"schedule = {_code(cyclic)}")
        lines.append("# or one cycle over the whole run, starting at base_lr:")
    lines.append(f"one_cycle = {_code(one_cycle)}")
    name = "one_cycle" if cyclic is None else "schedule"
    lines.append(f"# PyTorch: scheduler = cyclr.torch.Scheduler(optimizer, {name}), and")
    lines.append("# scheduler.step() after every optimizer.step()")
    return "\n".join(lines) + "\n"


def _code(schedules: list[Any]) -> str:
    """One schedule's ``repr``, or a list of them (one per param group)."""
    if len(schedules) == 1:
        return repr(schedules[0])
    return "[\n" + "".join(f"    {s!r},\n" for s in schedules) + "]"


def _evidence_value(value: Any) -> str:
    """Render one evidence value: floats to four digits, pairs as ``a..b``."""
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, tuple) and len(value) == 2:
        return f"{_evidence_value(value[0])}..{_evidence_value(value[1])}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_evidence_value(v) for v in value) + "]"
    if value is None:
        return "diverged"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_evidence_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _evidence_text(evidence: Any) -> str:
    """A compact ``key=value`` rendering of a suggestion's evidence (step indices left out)."""
    return ", ".join(
        f"{key}={_evidence_value(value)}"
        for key, value in dict(evidence).items()
        if not key.endswith(("index", "indices", "points")) and value not in ({}, [], ())
    )


def _overfitting_hint(result: RangeTestResult, confirmed: Suggestion) -> list[str]:
    """A line saying how soon a run at the confirmed LR passes its held-out minimum.

    When ``range_test`` would warn of it
    (:func:`~cyclr.rangetest.confirm_stage.overfitting_notice`) and ``confirmed`` was
    read without a run length (with one, the LR is already the one whose run ends at
    the minimum).
    """
    from ..rangetest.confirm_stage import overfitting_notice

    minimum = confirmed.evidence.get("held_out_minimum_steps")
    if "total_steps" in confirmed.evidence or overfitting_notice(result) is None:
        return []
    return [
        f"  (the candidates overfit: a run at {fmt(confirmed.lr)} is past its held-out "
        f"minimum after about {minimum} steps; for a longer run pass --total-steps)"
    ]


def report(
    result: RangeTestResult, steps_per_epoch: int | None = None, total_steps: int | None = None
) -> list[str]:
    """The lines ``cyclr suggest`` prints: the test, each suggestion, bounds, a snippet.

    Everything is read from the result's one reading of its curve
    (:attr:`~cyclr.rangetest.RangeTestResult.reading`) and, for a confirmed result, its
    confirmation (listed first, the default; the bounds are then the confirmation's).

    Args:
        result: A range-test result with at least one step.
        steps_per_epoch: Filled into the snippet when given.
        total_steps: The run's length, which the confirmed LR is fitted to
            (:meth:`~cyclr.rangetest.RangeTestResult.suggest`).

    Returns:
        The lines, without trailing newlines.

    Raises:
        CliError: If ``total_steps`` is given for a result without a confirmation.
    """
    from ..errors import NoReliableSuggestionError
    from ..rangetest.rules import DEFAULT_METHOD, Suggestion

    lrs = result.lrs[:, 0]
    lines = [
        f"range test: {result.num_recorded} steps, lr {fmt(float(lrs[0]))} to "
        f"{fmt(float(lrs[-1]))}, stopped: {result.stop_reason or 'not recorded'}"
    ]
    confirmation = result.confirmation
    if total_steps is not None and confirmation is None:
        raise CliError(
            f"--total-steps fits a confirmed LR to the run, and this result has no "
            f"confirmation (got --total-steps {total_steps}): run range_test with its "
            "confirmation (held_out='auto', the default in PyTorch and Keras, or validation "
            "batches)"
        )
    if confirmation is not None:
        lines.append(
            f"confirmation: {len(confirmation.candidates)} candidates around "
            f"{fmt(confirmation.anchor)}, {confirmation.steps} training steps each, scored on "
            f"held-out data; {_READ_BY[confirmation.chosen_by]}; "
            f"{result.steps_spent:,} training steps in all"
        )
    lines.append("suggestions (lr, then the interval about as good by the same rule):")
    answers: dict[str, Suggestion | str] = dict(result.reading.answers)
    default = DEFAULT_METHOD
    if confirmation is not None:
        answers = {"confirmed": result.suggest(total_steps=total_steps), **answers}
        default = "confirmed"
    width = max(len(m) for m in answers)
    for method, answer in answers.items():
        marker = " (default)" if method == default else ""
        if isinstance(answer, str):
            lines.append(f"  {method:<{width}}  none: {answer}")
            continue
        low, high = answer.interval
        lines.append(
            f"  {method:<{width}}  {fmt(answer.lr):>10}  [{fmt(low)}, {fmt(high)}]{marker}"
        )
        lines.append(f"  {'':<{width}}  evidence: {_evidence_text(answer.evidence)}")
        if method == "confirmed":
            lines.extend(_overfitting_hint(result, answer))
    try:
        base_lr, max_lr = result.clr_bounds()
    except NoReliableSuggestionError as exc:
        lines.append(f"CLR bounds: none: {exc}")
        return lines
    lines.append(f"CLR bounds: base_lr={fmt(base_lr)}, max_lr={fmt(max_lr)}")
    confirmed = answers.get("confirmed")
    if isinstance(confirmed, Suggestion) and "run_length_lr" in confirmed.evidence:
        lines.append(
            f"  (the candidates overfit: result.schedule(kind, steps_per_epoch, total_steps="
            f"{confirmed.evidence['total_steps']}) scales both bounds down so that the run's "
            "sum of LRs is at most their held-out minimum's)"
        )
    code = snippet(base_lr, max_lr, steps_per_epoch)
    groups = result.settings.get("group_scales") or [1.0]
    if len(groups) > 1:
        code += (
            f"# {len(groups)} param groups: for one schedule each at the swept LR ratios,\n"
            "# pass --total-steps, or use result.group_schedules(kind, ...) in Python\n"
        )
    if total_steps is not None:
        try:
            code = fitted_snippet(result, total_steps, steps_per_epoch)
        except ValueError as exc:  # a run no schedule fits: say why, keep the template
            lines.append(f"  (no schedule fitted to --total-steps {total_steps}: {exc})")
    lines.append("")
    lines.append("paste into your training script:")
    lines.extend("    " + line if line else "" for line in code.splitlines())
    return lines


def run(args: argparse.Namespace) -> int:
    """Run ``cyclr suggest``."""
    result = load_result(args.result)
    for line in report(result, args.steps_per_epoch, args.total_steps):
        print(line)
    return 0


def add_result_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments ``cyclr suggest`` and ``cyclr plot`` share."""
    parser.add_argument(
        "result", metavar="RESULT", help="a saved RangeTestResult (.json, or .csv from to_csv)"
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        metavar="N",
        help="fill this into the snippet (len(train_loader))",
    )


def add_parser(commands: Any) -> None:
    """Add ``cyclr suggest`` to the sub-command parsers."""
    summary = "suggestions, CLR bounds and a snippet"
    sub = add_command(commands, "suggest", summary, summary[0].upper() + summary[1:] + ".", EPILOG)
    add_result_arguments(sub)
    sub.add_argument(
        "--total-steps",
        type=positive_int,
        metavar="T",
        help="the run's length at a fixed LR: fit the confirmed LR to it",
    )
    sub.set_defaults(func=run)
