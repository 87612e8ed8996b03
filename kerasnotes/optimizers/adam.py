"""Adam: momentum on the gradient, RMSprop on its square, both bias-corrected."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation
from kerasnotes.optimizers.base import NotesOptimizer


@keras.saving.register_keras_serializable(package="kerasnotes")
class Adam(NotesOptimizer):
    """Adam: the notes' EMA momentum and RMSprop combined, with bias correction.

    Notes F5, with ``g`` the gradient, ``α`` the learning rate and ``t`` the
    update count (1 for the first update), element-wise:

    ```
    m ← β₁·m + (1 − β₁)·g                   (first moment, "momentum")
    v ← β₂·v + (1 − β₂)·g²                  (second moment, "velocity")
    amsgrad:  v̂ ← max(v̂, v), then v̂ is used in place of v
    α_t = α·√(1 − β₂^t) / (1 − β₁^t)         (bias correction folded into α)
    w ← w − α_t·m / (√v + ε)
    ```

    This is Keras's placement of ε (outside the root, applied to the raw ``v``):
    it equals the paper's ``α·m̂/(√v̂ + ε̂)`` with ``ε̂ = ε·√(1 − β₂^t)``.

    ``inspect(w)`` returns ``"momentum"`` (``m``), ``"velocity"`` (``v``),
    ``"velocity_hat"`` (``v̂``, with amsgrad) and ``"effective_learning_rate"``
    = ``α_t / (√v + ε)`` (``v̂`` with amsgrad), the factor applied to ``m``,
    with ``t`` the number of updates so far (1 before the first update).

    Args:
        learning_rate: α, a float >= 0, a ``LearningRateSchedule`` or a callable.
            Defaults to 0.001.
        beta_1: β₁ in [0, 1), decay of the first moment. Defaults to 0.9.
        beta_2: β₂ in [0, 1), decay of the second moment. Defaults to 0.999.
        epsilon: ε > 0. Defaults to 1e-7.
        amsgrad: use the running maximum of ``v`` (AMSGrad). Defaults to False.
        **kwargs: the other ``keras.optimizers.Optimizer`` arguments, passed on
            unchanged (the list is in :class:`NotesOptimizer`).

    Difference from ``keras.optimizers.Adam``: same rule and defaults; adds
    ``inspect``; ``beta_1`` and ``beta_2`` must be numbers in [0, 1) (Keras also
    takes callables and does not check the range).

    Example:
        >>> import keras, kerasnotes as kn
        >>> w = keras.Variable([1.0])
        >>> opt = kn.optimizers.Adam(learning_rate=0.1)
        >>> opt.apply([keras.ops.convert_to_tensor([5.0])], [w])
        >>> round(float(w.numpy()[0]), 4)  # the first Adam step has size α
        0.9
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            own_arguments={
                "beta_1": _validation.in_range("beta_1", beta_1, 0, 1, include_high=False),
                "beta_2": _validation.in_range("beta_2", beta_2, 0, 1, include_high=False),
                "epsilon": _validation.positive_number("epsilon", epsilon),
                "amsgrad": _validation.boolean("amsgrad", amsgrad),
            },
            **kwargs,
        )

    def build(self, var_list: list[keras.Variable]) -> None:
        """Creates the first and second moments (and ``v̂`` with amsgrad)."""
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        self._velocity_hats = []
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        """Applies one update to ``variable`` (the rule in the class docstring)."""
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        local_step = ops.cast(self.iterations + 1, variable.dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, variable.dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        # m + (g - m)(1 - β) is β·m + (1 - β)·g, written as Keras writes it so
        # the float32 rounding is the same.
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, _maximum(v_hat, v))
            v = v_hat
        self.assign_sub(
            variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon))
        )

    def _step_scalars(self, learning_rate: Any, dtype: str) -> dict[str, Any]:
        lr = ops.cast(learning_rate, dtype)
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), local_step)
        return {"alpha": lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)}

    def _eager_update_step(self, gradient: Any, variable: keras.Variable, scalars: dict) -> None:
        # In place, same operations and rounding as update_step (see base.py);
        # ``x ** 0.5`` is the backend's sqrt kernel, without an ops call.
        index = self._get_variable_index(variable)
        first = self._momentums[index].value
        first += (gradient - first) * (1 - self.beta_1)  # m + (g − m)(1 − β₁)
        second = self._velocities[index].value
        second += (gradient * gradient - second) * (1 - self.beta_2)
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, _maximum(v_hat.value, second))
            second = v_hat.value
        self._subtract_from(variable, (first * scalars["alpha"]) / (second**0.5 + self.epsilon))

    def _state_slots(self) -> dict[str, list[Any]]:
        return {
            "momentum": self._momentums,
            "velocity": self._velocities,
            "velocity_hat": self._velocity_hats,
        }

    def _effective_learning_rate(
        self, learning_rate: float, state: dict[str, np.ndarray], shape: tuple[int, ...]
    ) -> np.ndarray:
        t = max(self._iterations_now(), 1)
        alpha = learning_rate * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        second_moment = state["velocity_hat"] if self.amsgrad else state["velocity"]
        return alpha / (np.sqrt(second_moment) + self.epsilon)


def _maximum(a: Any, b: Any) -> Any:
    """max(a, b) element-wise in the operands' own dtype, NaN propagating like ``maximum``.

    Keras's torch ``maximum`` promotes float64 to float32, which kept AMSGrad's v̂
    at float32 precision for float64 variables; ``where`` keeps the dtype. Where
    ``maximum`` keeps it (every other case) it is used, the graph Keras's own Adam builds.
    """
    dtype = keras.backend.standardize_dtype(a.dtype)
    if keras.backend.result_type(dtype, b.dtype) == dtype:
        return ops.maximum(a, b)
    return ops.where(ops.logical_or(ops.less(a, b), ops.isnan(b)), b, a)
