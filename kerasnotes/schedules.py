"""The notes' learning-rate decays (F6, F7) as Keras ``LearningRateSchedule`` objects.

Both map a step count to a learning rate through ``t = step / steps_per_unit``:
with ``steps_per_unit=1`` the unit is an optimizer update; with
``steps_per_unit=len(batches per epoch)`` it is an epoch. Pass one as any
optimizer's ``learning_rate`` (Keras evaluates it at ``optimizer.iterations``),
or call it yourself with a plain int/float (``schedule(epoch)``) to get a float.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
from keras import ops

from kerasnotes.optimizers._checks import check_non_negative, check_positive


def _is_python_number(step: Any) -> bool:
    return isinstance(step, numbers.Real) and not isinstance(step, bool)


@keras.saving.register_keras_serializable(package="kerasnotes")
class ExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Exponential decay of the learning rate, continuous in ``t``.

    Notes F6:

    ```
    t   = step / steps_per_unit
    α_t = α₀ · e^(−γ·t)
    ```

    Args:
        initial_learning_rate: α₀, a finite float >= 0.
        gamma: γ, the decay rate per unit of ``t``, a finite float >= 0.
        steps_per_unit: how many steps make one unit of ``t`` (e.g. batches per
            epoch for a per-epoch γ), > 0. Defaults to 1.

    Called with a tensor (Keras passes ``optimizer.iterations``) it returns a
    float32 tensor computed with ``keras.ops``; called with a Python or numpy
    number it returns a Python float computed in float64.

    Difference from ``keras.optimizers.schedules.ExponentialDecay``: Keras's is
    ``α₀·decay_rate^(step/decay_steps)``; this one takes the notes' γ directly
    (``decay_rate = e^(−γ)``, ``decay_steps = steps_per_unit``) and has no staircase.

    Example:
        >>> import kerasnotes as kn
        >>> schedule = kn.schedules.ExponentialDecay(0.1, gamma=0.5, steps_per_unit=10)
        >>> round(schedule(20), 6)  # 0.1 * exp(-0.5 * 2)
        0.036788
    """

    def __init__(
        self, initial_learning_rate: float, gamma: float, steps_per_unit: float = 1
    ) -> None:
        super().__init__()
        self.initial_learning_rate = check_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.gamma = check_non_negative("gamma", gamma)
        self.steps_per_unit = _check_count_like("steps_per_unit", steps_per_unit)

    def __call__(self, step: Any) -> Any:
        """The learning rate at ``step`` (a tensor, or a number for a Python float)."""
        if _is_python_number(step):
            t = float(step) / self.steps_per_unit
            return self.initial_learning_rate * math.exp(-self.gamma * t)
        # γ / steps_per_unit folded in float64 first: one float32 rounding fewer.
        rate = ops.cast(-self.gamma / self.steps_per_unit, "float32")
        return ops.multiply(
            ops.cast(self.initial_learning_rate, "float32"),
            ops.exp(ops.multiply(rate, ops.cast(step, "float32"))),
        )

    def get_config(self) -> dict[str, Any]:
        """The three constructor arguments."""
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "gamma": self.gamma,
            "steps_per_unit": self.steps_per_unit,
        }


@keras.saving.register_keras_serializable(package="kerasnotes")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Step decay: the learning rate is multiplied by ``drop`` every ``every`` units.

    Notes F7:

    ```
    t   = step / steps_per_unit
    α_t = α₀ · drop^⌊t / every⌋
    ```

    When ``steps_per_unit * every`` is a whole number and the step is an
    integer (as ``optimizer.iterations`` is), ``⌊t / every⌋`` is computed with
    integer division, so the drops happen exactly on the boundary steps.

    Args:
        initial_learning_rate: α₀, a finite float >= 0.
        drop: the factor applied at each boundary, in (0, 1]. Defaults to 0.5.
        every: units of ``t`` between drops, > 0. Defaults to 10.
        steps_per_unit: how many steps make one unit of ``t``, > 0. Defaults to 1.

    Called with a tensor it returns a float32 tensor computed with
    ``keras.ops``; called with a Python or numpy number it returns a Python float.

    Difference from Keras: Keras has no step decay schedule; its
    ``ExponentialDecay(..., staircase=True)`` is the same rule with
    ``decay_rate = drop`` and ``decay_steps = every * steps_per_unit``.

    Example:
        >>> import kerasnotes as kn
        >>> schedule = kn.schedules.StepDecay(0.1, drop=0.5, every=10)
        >>> schedule(9), schedule(10), schedule(25)
        (0.1, 0.05, 0.025)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        drop: float = 0.5,
        every: float = 10,
        steps_per_unit: float = 1,
    ) -> None:
        super().__init__()
        self.initial_learning_rate = check_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        drop = check_positive("drop", drop)
        if drop > 1:
            raise ValueError(f"`drop` must be in (0, 1]; received drop={drop!r}.")
        self.drop = drop
        self.every = _check_count_like("every", every)
        self.steps_per_unit = _check_count_like("steps_per_unit", steps_per_unit)

    @property
    def _period(self) -> float:
        """Steps between drops."""
        return float(self.every) * float(self.steps_per_unit)

    def __call__(self, step: Any) -> Any:
        """The learning rate at ``step`` (a tensor, or a number for a Python float)."""
        period = self._period
        whole_period = period.is_integer()
        if _is_python_number(step):
            if whole_period and float(step).is_integer():
                drops = int(step) // int(period)
            else:
                drops = math.floor(float(step) / period)
            return self.initial_learning_rate * self.drop**drops
        step = ops.convert_to_tensor(step)
        if whole_period and "int" in keras.backend.standardize_dtype(step.dtype):
            drops = ops.floor_divide(ops.cast(step, "int64"), int(period))
        else:
            drops = ops.floor(ops.divide(ops.cast(step, "float32"), period))
        return ops.multiply(
            ops.cast(self.initial_learning_rate, "float32"),
            ops.power(ops.cast(self.drop, "float32"), ops.cast(drops, "float32")),
        )

    def get_config(self) -> dict[str, Any]:
        """The four constructor arguments."""
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "drop": self.drop,
            "every": self.every,
            "steps_per_unit": self.steps_per_unit,
        }


def _check_count_like(name: str, value: Any) -> float | int:
    """A positive finite number; ints stay ints so configs read naturally."""
    checked = check_positive(name, value)
    return int(checked) if isinstance(value, numbers.Integral) else checked
