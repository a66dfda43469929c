"""Keras optimizers whose momentum can follow a cyclr schedule (Smith's cyclical momentum).

Keras 3's built-in optimizers take their momentum as a fixed Python float: ``SGD``
validates ``momentum`` as a float and branches on ``momentum != 0`` in Python, and
``Adam`` casts ``beta_1`` to a tensor as it is. A callback that rewrites that float
between batches does nothing on the JAX backend, where the train step is compiled once
with the float baked in. These subclasses instead evaluate the momentum schedule inside
the update from the optimizer's step counter, exactly as Keras evaluates a learning-rate
schedule, so it changes every step on every backend and inside compiled steps.

Plain floats keep the parent optimizer's behaviour. Other Keras optimizers (``RMSprop``,
``Nadam``, ``Lion``, ...) have no scheduled momentum: passing a schedule to them raises
an error instead of being silently ignored.

References:
    L. N. Smith, "A disciplined approach to neural network hyper-parameters: Part 1",
    https://arxiv.org/abs/1803.09820
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
from keras import ops

from .._validate import describe
from ..schedules import Momentum
from ..schedules import Schedule as CyclrSchedule
from .schedule import Schedule, evaluate

__all__ = ["SGD", "Adam", "AdamW"]


def _check_learning_rate(learning_rate: Any) -> None:
    """Refuse, at construction, a learning rate Keras would only fail on inside ``fit``."""
    if isinstance(learning_rate, Schedule):
        learning_rate = learning_rate.schedule
        if isinstance(learning_rate, Momentum):
            raise TypeError(
                "learning_rate must be a learning-rate schedule, not a momentum schedule: "
                "pass the momentum as momentum= (SGD) or beta_1= (Adam, AdamW) "
                f"(got learning_rate={describe(learning_rate)})"
            )
    elif isinstance(learning_rate, CyclrSchedule):
        raise TypeError(
            "learning_rate must be a float or a Keras schedule: wrap a cyclr schedule as "
            "cyclr.keras.Schedule(schedule), since Keras calls a plain callable with no step "
            f"(got learning_rate={describe(learning_rate)})"
        )


def _split(name: str, value: Any, *, sgd: bool) -> tuple[Any, CyclrSchedule | None]:
    """Return ``(value for the parent optimizer, schedule or None)``, checking a number."""
    if isinstance(value, Schedule):
        value = value.schedule
    if isinstance(value, CyclrSchedule):
        first = value(0)
        if not 0.0 < first < 1.0:
            raise ValueError(
                f"{name} must stay in (0, 1) (got a {name} schedule starting at {first!r})"
            )
        return first, value
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    tensor_or_callable = callable(value) or hasattr(value, "dtype")  # as Keras' Adam takes
    if (sgd and not isinstance(value, float)) or not (number or tensor_or_callable):
        kinds = "a float in [0, 1]" if sgd else "a float in [0, 1), a tensor, a callable"
        raise TypeError(
            f"{name} must be {kinds} or a cyclr schedule (got {name}={describe(value)})"
        )
    if number:
        inside = 0.0 <= float(value) <= 1.0 if sgd else 0.0 <= float(value) < 1.0
        if not inside:
            interval = "[0, 1]" if sgd else "[0, 1)"
            raise ValueError(f"{name} must be in {interval} (got {name}={describe(value)})")
    return value, None


def _serialize(schedule: CyclrSchedule) -> Any:
    return keras.saving.serialize_keras_object(Schedule(schedule))


def _deserialize(config: dict[str, Any], key: str, custom_objects: Any) -> dict[str, Any]:
    config = dict(config)
    value = config.get(key)
    if isinstance(value, dict):
        config[key] = keras.saving.deserialize_keras_object(value, custom_objects=custom_objects)
    return config


@keras.saving.register_keras_serializable(package="cyclr", name="SGD")
class SGD(keras.optimizers.SGD):  # type: ignore[misc]
    """Keras SGD whose ``momentum`` may be a cyclr schedule.

    With a schedule, update ``i`` uses ``momentum(i)`` (the step count Keras passes
    to the LR schedule), computed in the update itself; the update rule is Keras':
    ``v = m * v - lr * g; w = w + v`` (Nesterov: ``w = w + m * v - lr * g``).

    Args:
        learning_rate: A float, a Keras schedule or a :class:`cyclr.keras.Schedule`.
        momentum: A float in ``[0, 1]``, or a cyclr schedule (``lr.momentum(0.85,
            0.95)``), bare or wrapped in :class:`cyclr.keras.Schedule`.
        nesterov: Use Nesterov momentum.
        **kwargs: Passed to ``keras.optimizers.SGD``.

    Raises:
        TypeError: If ``learning_rate`` is a bare cyclr schedule (wrap it in
            :class:`cyclr.keras.Schedule`) or a momentum schedule, or ``momentum`` is
            neither a float nor a schedule.
        ValueError: If ``momentum`` is outside ``[0, 1]`` or a momentum schedule starts
            outside ``(0, 1)``.

    Example:
        >>> from cyclr import OneCycle
        >>> from cyclr.keras import SGD, Schedule
        >>> lr = OneCycle(max_lr=0.1, total_steps=1000)
        >>> opt = SGD(learning_rate=Schedule(lr), momentum=lr.momentum(0.85, 0.95))
        >>> opt.momentum_schedule == lr.momentum(0.85, 0.95)
        True
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: Any = 0.0,
        nesterov: bool = False,
        **kwargs: Any,
    ) -> None:
        _check_learning_rate(learning_rate)
        first, schedule = _split("momentum", momentum, sgd=True)
        super().__init__(learning_rate=learning_rate, momentum=first, nesterov=nesterov, **kwargs)
        self.momentum_schedule = schedule
        self._cyclr_momentum: Any = None

    def _backend_update_step(self, grads: Any, trainable_variables: Any, learning_rate: Any) -> Any:
        if self.momentum_schedule is None:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        self._cyclr_momentum = evaluate(self.momentum_schedule, self._iterations)
        try:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._cyclr_momentum = None

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Keras' SGD update with this step's scheduled momentum."""
        if self._cyclr_momentum is None:
            super().update_step(gradient, variable, learning_rate)
            return
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        momentum = ops.cast(self._cyclr_momentum, variable.dtype)
        m = self.momentums[self._get_variable_index(variable)]
        step = ops.multiply(gradient, lr)
        self.assign(m, ops.subtract(ops.multiply(m, momentum), step))
        if self.nesterov:
            self.assign_add(variable, ops.subtract(ops.multiply(m, momentum), step))
        else:
            self.assign_add(variable, m)

    def get_config(self) -> dict[str, Any]:
        """Keras' config, with the momentum schedule serialized in place of the float."""
        config: dict[str, Any] = super().get_config()
        if self.momentum_schedule is not None:
            config["momentum"] = _serialize(self.momentum_schedule)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> SGD:
        """Rebuild from :meth:`get_config` output."""
        config = _deserialize(config, "momentum", custom_objects)
        return super().from_config(config, custom_objects=custom_objects)  # type: ignore[no-any-return]


@keras.saving.register_keras_serializable(package="cyclr", name="Adam")
class Adam(keras.optimizers.Adam):  # type: ignore[misc]
    """Keras Adam whose ``beta_1`` may be a cyclr schedule (fastai's cycled betas).

    With a schedule, update ``i`` runs Keras' Adam update with ``beta_1 = beta_1(i)``;
    the bias correction ``1 - beta_1 ** t`` uses the current ``beta_1``, as optax's
    ``inject_hyperparams`` does.

    Args:
        learning_rate: A float, a Keras schedule or a :class:`cyclr.keras.Schedule`.
        beta_1: A float, or a cyclr schedule (``lr.momentum(0.85, 0.95)``), bare or
            wrapped in :class:`cyclr.keras.Schedule`.
        beta_2: As in ``keras.optimizers.Adam``.
        epsilon: As in ``keras.optimizers.Adam``.
        amsgrad: As in ``keras.optimizers.Adam``.
        **kwargs: Passed to ``keras.optimizers.Adam``.

    Raises:
        TypeError: If ``learning_rate`` is a bare cyclr schedule (wrap it in
            :class:`cyclr.keras.Schedule`) or a momentum schedule.
        ValueError: If a number ``beta_1`` is outside ``[0, 1)`` or a ``beta_1`` schedule
            starts outside ``(0, 1)``.

    Example:
        >>> from cyclr import OneCycle
        >>> from cyclr.keras import Adam, Schedule
        >>> lr = OneCycle(max_lr=0.003, total_steps=1000)
        >>> opt = Adam(learning_rate=Schedule(lr), beta_1=lr.momentum(0.85, 0.95))
        >>> opt.beta_1
        0.95
    """

    beta_1: Any

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: Any = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        _check_learning_rate(learning_rate)
        first, schedule = _split("beta_1", beta_1, sgd=False)
        super().__init__(
            learning_rate=learning_rate,
            beta_1=first,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            **kwargs,
        )
        self.beta_1_schedule = schedule

    def _backend_update_step(self, grads: Any, trainable_variables: Any, learning_rate: Any) -> Any:
        if self.beta_1_schedule is None:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        fixed = self.beta_1
        self.beta_1 = evaluate(self.beta_1_schedule, self._iterations)
        try:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self.beta_1 = fixed

    def get_config(self) -> dict[str, Any]:
        """Keras' config, with the ``beta_1`` schedule serialized in place of the float."""
        config: dict[str, Any] = super().get_config()
        if self.beta_1_schedule is not None:
            config["beta_1"] = _serialize(self.beta_1_schedule)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Adam:
        """Rebuild from :meth:`get_config` output."""
        config = _deserialize(config, "beta_1", custom_objects)
        return super().from_config(config, custom_objects=custom_objects)  # type: ignore[no-any-return]


@keras.saving.register_keras_serializable(package="cyclr", name="AdamW")
class AdamW(Adam, keras.optimizers.AdamW):  # type: ignore[misc]
    """Keras AdamW whose ``beta_1`` may be a cyclr schedule; see :class:`Adam`.

    Like Keras' ``AdamW``, which is a Keras ``Adam`` with decoupled weight decay, it is
    a :class:`Adam` whose update also decays the weights.

    Args:
        learning_rate: A float, a Keras schedule or a :class:`cyclr.keras.Schedule`.
        weight_decay: As in ``keras.optimizers.AdamW`` (decoupled, times the LR).
        beta_1: A float, or a cyclr schedule, bare or wrapped.
        beta_2: As in ``keras.optimizers.AdamW``.
        epsilon: As in ``keras.optimizers.AdamW``.
        amsgrad: As in ``keras.optimizers.AdamW``.
        **kwargs: Passed to ``keras.optimizers.AdamW``.

    Raises:
        TypeError: As :class:`Adam`.
        ValueError: As :class:`Adam`.
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float = 0.004,
        beta_1: Any = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )
