"""One reading of a curve: the fit, every rule's answer or its reason, the CLR bounds.

:func:`read_curve` fits the curve once (:func:`~cyclr.rangetest.fit.fit_curve`) and
applies every suggestion rule (:mod:`~cyclr.rangetest.rules`) and every bounds rule
(:mod:`~cyclr.rangetest.bounds`) to that one fit. A rule that has no answer keeps the
reason it gives, so a caller asks the :class:`CurveReading` and never refits to learn
why. :class:`~cyclr.rangetest.RangeTestResult` caches its readings; the functions of
:mod:`cyclr.rangetest.suggest` are thin wrappers around this one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TypeVar

import numpy.typing as npt

from ..errors import NoReliableSuggestionError
from .bounds import BOUNDS, check_rule
from .fit import CurveFit, fit_curve
from .rules import DEFAULT_METHOD, RULES, Suggestion, check_method

__all__ = ["CurveReading", "read_curve"]


@dataclasses.dataclass(frozen=True)
class CurveReading:
    """Everything the rules read from one curve, computed from a single fit.

    Attributes:
        fit: The :class:`~cyclr.rangetest.fit.CurveFit`, or ``None`` when the curve
            carries no evidence (then ``reason`` says why).
        reason: Why the curve could not be fitted, or ``None``.
        answers: Each method's :class:`~cyclr.rangetest.rules.Suggestion`, or the
            reason it has none (a string), in the order of
            :data:`~cyclr.rangetest.rules.METHODS`.
        bounds: Each bounds rule's ``(base_lr, max_lr)``, or the reason it has none.

    Example:
        >>> import numpy as np
        >>> lrs = np.logspace(-6, 0, 61)
        >>> reading = read_curve(lrs, 2.0 - np.tanh(np.log10(lrs) + 3.0))
        >>> f"{reading.suggestion('steepest').lr:.2g}", sorted(reading.reasons)
        ('0.001', [])
        >>> read_curve(lrs, np.ones(61)).reason
        'the loss curve is flat: no LR changes it'
    """

    fit: CurveFit | None
    reason: str | None
    answers: Mapping[str, Suggestion | str]
    bounds: Mapping[str, tuple[float, float] | str]

    @property
    def default_method(self) -> str:
        """The rule :meth:`suggestion` reads when no method is named."""
        return DEFAULT_METHOD

    @property
    def suggestions(self) -> dict[str, Suggestion]:
        """Every method that has an answer, with its suggestion."""
        return {k: v for k, v in self.answers.items() if isinstance(v, Suggestion)}

    @property
    def reasons(self) -> dict[str, str]:
        """Every method that has no answer, with the reason it gives."""
        return {k: v for k, v in self.answers.items() if isinstance(v, str)}

    def suggestion(self, method: str | None = None) -> Suggestion:
        """The suggestion of ``method`` (``None``: the default rule).

        Raises:
            cyclr.errors.NoReliableSuggestionError: With the rule's reason, if it has
                no answer.
            ValueError: If ``method`` is unknown.
        """
        return _answer_or_raise(self.answers[check_method(method)])

    def clr_bounds(self, rule: str = "smith") -> tuple[float, float]:
        """``(base_lr, max_lr)`` by ``rule`` (see :mod:`~cyclr.rangetest.bounds`).

        Raises:
            cyclr.errors.NoReliableSuggestionError: With the rule's reason, if it has
                no answer.
            ValueError: If ``rule`` is unknown.
        """
        return _answer_or_raise(self.bounds[check_rule(rule)])


_T = TypeVar("_T")


def _answer_or_raise(answer: _T | str) -> _T:
    """A rule's answer, or its reason (a string) raised as NoReliableSuggestionError."""
    if isinstance(answer, str):
        raise NoReliableSuggestionError(answer)
    return answer


def read_curve(
    lrs: npt.ArrayLike, values: npt.ArrayLike, *, higher_is_better: bool = False
) -> CurveReading:
    """Fit a curve once and read every rule from that fit.

    Args:
        lrs: Group-0 LRs of each step, positive and increasing.
        values: Losses of each step, or with ``higher_is_better=True`` a metric (NaN
            where it was not evaluated).
        higher_is_better: Read ``values`` as a metric to maximise.

    Returns:
        The :class:`CurveReading`. A curve with no evidence gives a reading whose
        ``fit`` is ``None`` and whose every answer is that reason.

    Raises:
        ValueError: If ``lrs`` and ``values`` differ in length.
    """
    try:
        fit = fit_curve(lrs, values, higher_is_better=higher_is_better)
    except NoReliableSuggestionError as exc:
        why = str(exc)
        return CurveReading(None, why, dict.fromkeys(RULES, why), dict.fromkeys(BOUNDS, why))
    answers: dict[str, Suggestion | str] = {}
    for name, rule in RULES.items():
        try:
            answers[name] = rule(fit)
        except NoReliableSuggestionError as exc:
            answers[name] = str(exc)
    bounds: dict[str, tuple[float, float] | str] = {}
    for name, bound in BOUNDS.items():
        try:
            bounds[name] = bound(fit)
        except NoReliableSuggestionError as exc:
            bounds[name] = str(exc)
    return CurveReading(fit, None, answers, bounds)
