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
from fractions import Fraction
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation


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
        initial_learning_rate: α₀, a finite float >= 0 (finite in float32).
        gamma: γ, the decay rate per unit of ``t``, a finite float >= 0.
        steps_per_unit: how many steps make one unit of ``t`` (e.g. batches per
            epoch for a per-epoch γ), > 0. Defaults to 1. ``γ / steps_per_unit``
            must be finite in float32, else the rate would be NaN at step 0.

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
        self.initial_learning_rate = _validation.non_negative_number(
            "initial_learning_rate", initial_learning_rate
        )
        self.gamma = _validation.non_negative_number("gamma", gamma)
        self.steps_per_unit = _check_count_like("steps_per_unit", steps_per_unit)
        # The in-graph rate is float32: γ/steps_per_unit = inf there gives inf · 0 = NaN
        # at step 0, and α₀ = inf a NaN update, silently poisoning the weights.
        _check_float32_finite("initial_learning_rate", self.initial_learning_rate)
        if not self.gamma / self.steps_per_unit <= _FLOAT32_MAX:
            raise ValueError(
                "`gamma / steps_per_unit` (the decay per step) must be finite in float32, "
                f"at most {_FLOAT32_MAX:.4g}. Received: gamma={gamma!r}, "
                f"steps_per_unit={steps_per_unit!r}"
            )

    def __call__(self, step: Any) -> Any:
        """The learning rate at ``step`` (a tensor, or a number for a Python float)."""
        if _is_python_number(step):
            # γ/steps_per_unit first, as in-graph: finite by construction, so never inf · 0.
            rate = -self.gamma / self.steps_per_unit
            return self.initial_learning_rate * math.exp(rate * float(step))
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

    The exact rule. The period in steps, ``P = every · steps_per_unit``, is
    read as the fraction ``n/d`` nearest to it with ``n·d < 2³⁰`` (a decimal
    such as ``every=1.1`` is exactly 11/10, ``every=1/3`` exactly 1/3), and

    ```
    ⌊t / every⌋ = ⌊step · d / n⌋ = (step // n)·d + (step % n)·d // n
    ```

    in exact integer arithmetic, identically when called with a Python number
    and in-graph with an integer tensor (``optimizer.iterations``, exact up
    to step 2³¹ − 1), with no overflow in int32. So ``every=1.1`` drops for the 30th time at epoch 33,
    as in real arithmetic (float64 ``33 / 1.1`` is 29.999999999999996). A
    Python float step is exact too (``⌊Fraction(step) · d / n⌋``); a
    fractional float *tensor* step resolves its fractional part in float32.

    Args:
        initial_learning_rate: α₀, a finite float >= 0 (finite in float32).
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
        self.initial_learning_rate = _validation.non_negative_number(
            "initial_learning_rate", initial_learning_rate
        )
        self.drop = _validation.in_range("drop", drop, 0, 1, include_low=False)
        _check_float32_finite("initial_learning_rate", self.initial_learning_rate)
        self.every = _check_count_like("every", every)
        self.steps_per_unit = _check_count_like("steps_per_unit", steps_per_unit)

    @property
    def _period(self) -> tuple[int, int]:
        """Steps between drops as ``(n, d)``: the fraction n/d nearest to P with n·d < 2³⁰."""
        period = float(self.every) * float(self.steps_per_unit)
        # n ≈ P·d, so d ≤ √(2³⁰/P) keeps n·d, hence (step % n)·d, inside int32.
        max_denominator = max(1, min(2**30, math.isqrt(int(2**30 / period))))
        while True:
            fraction = Fraction(period).limit_denominator(max_denominator)
            n, d = fraction.numerator, fraction.denominator
            if n == 0:  # P below 1/max_denominator: the shortest period representable
                n, d = 1, max_denominator
            if n * d < 2**30 or max_denominator == 1:
                return n, d
            max_denominator //= 2

    def __call__(self, step: Any) -> Any:
        """The learning rate at ``step`` (a tensor, or a number for a Python float)."""
        n, d = self._period
        if _is_python_number(step):
            drops = math.floor(Fraction(step) * d / n)
            return self.initial_learning_rate * self.drop**drops
        step = ops.convert_to_tensor(step)
        if "int" in keras.backend.standardize_dtype(step.dtype):
            # The step's own integer dtype: a cast to int64 truncates (and warns) on JAX.
            # int32's range even for int64 steps: Keras's torch floor_divide/minimum
            # return int32 for int64 operands, and JAX has no int64 without x64.
            limit = 2**31 - 1
            if n > limit:  # no step of this dtype reaches the first boundary
                drops = ops.zeros_like(step)
            else:
                # Past (limit - d) // d whole periods the rate is 0 in float32 (or α₀ when
                # drop = 1) either way; the cap keeps the count from wrapping negative.
                # Constants in the step's dtype: Keras would make a Python int int32.
                n_, d_, cap = (
                    ops.convert_to_tensor(v, step.dtype) for v in (n, d, (limit - d) // d)
                )
                periods = ops.minimum(ops.floor_divide(step, n_), cap)
                drops = ops.add(
                    ops.multiply(periods, d_),
                    ops.floor_divide(ops.multiply(ops.mod(step, n_), d_), n_),
                )
        else:
            step = ops.cast(step, "float32")
            whole = ops.floor(step)
            remainder = ops.mod(whole, float(n))  # exact while steps fit float32's 24 bits
            drops = ops.add(
                ops.multiply(ops.floor(ops.divide(whole, float(n))), float(d)),
                ops.floor(ops.divide(ops.multiply(remainder + (step - whole), float(d)), float(n))),
            )
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


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_finite(name: str, value: float) -> None:
    """The in-graph rate is float32: a float64 value past its range would be inf."""
    if value > _FLOAT32_MAX:
        raise ValueError(
            _validation.message(name, value, f"finite in float32, at most {_FLOAT32_MAX:.4g}")
        )


def _check_count_like(name: str, value: Any) -> float | int:
    """A positive finite number; ints stay ints so configs read naturally."""
    checked = _validation.positive_number(name, value)
    return int(checked) if isinstance(value, numbers.Integral) else checked
