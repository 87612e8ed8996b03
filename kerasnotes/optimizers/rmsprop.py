"""RMSprop: the step is divided by a moving root-mean-square of recent gradients."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation
from kerasnotes.optimizers.base import NotesOptimizer


@keras.saving.register_keras_serializable(package="kerasnotes")
class RMSprop(NotesOptimizer):
    """RMSprop: Adagrad with a moving average of squared gradients instead of a sum.

    Notes F4, with ``g`` the gradient, ``α`` the learning rate, ``ρ`` the decay
    (the notes' β), element-wise:

    ```
    s ← ρ·s + (1 − ρ)·g²                    (E[g²], "velocity")
    d = √(s + ε)                            (centered: a ← ρ·a + (1 − ρ)·g;  d = √(s − a² + ε))
    momentum == 0:  w ← w − α·g / d
    momentum  > 0:  m ← μ·m + α·g / d;   w ← w − m
    ```

    Old gradients fade with weight ρ^k, so the step does not decay to zero as
    Adagrad's does (claim C5).

    ``inspect(w)`` returns ``"velocity"`` (``s``), ``"momentum"`` (``m``, when
    ``momentum > 0``), ``"average_gradient"`` (``a``, when centered) and
    ``"effective_learning_rate"`` = ``α / d``, with ε inside the root (Keras's
    placement).

    Args:
        learning_rate: α, a float >= 0, a ``LearningRateSchedule`` or a callable.
            Defaults to 0.001.
        rho: ρ in [0, 1), the decay of the moving averages. Defaults to 0.9.
        momentum: μ in [0, 1), heavy-ball momentum on the scaled step. Defaults to 0.0.
        epsilon: ε > 0. Defaults to 1e-7.
        centered: divide by the moving standard deviation of ``g`` instead of its
            root mean square. Defaults to False.
        **kwargs: the other ``keras.optimizers.Optimizer`` arguments, passed on
            unchanged (the list is in :class:`NotesOptimizer`).

    Difference from ``keras.optimizers.RMSprop``: same rule and defaults; adds
    ``inspect``; ``rho`` and ``momentum`` must lie in [0, 1) (Keras does not check).

    Example:
        >>> import keras, kerasnotes as kn
        >>> w = keras.Variable([1.0])
        >>> opt = kn.optimizers.RMSprop(learning_rate=0.1, rho=0.75)
        >>> opt.apply([keras.ops.convert_to_tensor([2.0])], [w])
        >>> round(float(w.numpy()[0]), 4)  # s = 0.25 * 4 = 1, w = 1 - 0.1 * 2 / 1
        0.8
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            own_arguments={
                "rho": _validation.in_range("rho", rho, 0, 1, include_high=False),
                "momentum": _validation.in_range("momentum", momentum, 0, 1, include_high=False),
                "epsilon": _validation.positive_number("epsilon", epsilon),
                "centered": _validation.boolean("centered", centered),
            },
            **kwargs,
        )

    def build(self, var_list: list[keras.Variable]) -> None:
        """Creates the velocities, and momentums / average gradients when used."""
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(var_list, "average_gradient")

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        """Applies one update to ``variable`` (the rule in the class docstring)."""
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        index = self._get_variable_index(variable)
        velocity = self._velocities[index]
        rho = self.rho
        self.assign(
            velocity,
            ops.add(ops.multiply(rho, velocity), ops.multiply(1 - rho, ops.square(gradient))),
        )
        if self.centered:
            average_gradient = self._average_gradients[index]
            self.assign(
                average_gradient,
                ops.add(ops.multiply(rho, average_gradient), ops.multiply(1 - rho, gradient)),
            )
            denominator = ops.add(
                ops.subtract(velocity, ops.square(average_gradient)), self.epsilon
            )
        else:
            denominator = ops.add(velocity, self.epsilon)
        increment = ops.divide(ops.multiply(lr, gradient), ops.sqrt(denominator))
        if self.momentum > 0:
            momentum = self._momentums[index]
            self.assign(momentum, ops.add(ops.multiply(self.momentum, momentum), increment))
            self.assign_sub(variable, momentum)
        else:
            self.assign_sub(variable, increment)

    def _eager_update_step(self, gradient: Any, variable: keras.Variable, scalars: dict) -> None:
        # In place, same operations and rounding as update_step (see base.py);
        # ``x ** 0.5`` is the backend's sqrt kernel, without an ops call.
        index = self._get_variable_index(variable)
        rho = self.rho
        mean_square = self._velocities[index].value
        mean_square *= rho
        mean_square += gradient * gradient * (1 - rho)  # s = ρ·s + (1 − ρ)·g²
        if self.centered:
            mean = self._average_gradients[index].value
            mean *= rho
            mean += gradient * (1 - rho)  # a = ρ·a + (1 − ρ)·g
            denominator = mean_square - mean * mean + self.epsilon
        else:
            denominator = mean_square + self.epsilon
        increment = (scalars["lr"] * gradient) / denominator**0.5
        if self.momentum > 0:
            buffer = self._momentums[index].value
            buffer *= self.momentum
            buffer += increment  # m = μ·m + α·g / d
            increment = buffer
        self._subtract_from(variable, increment)

    def _state_slots(self) -> dict[str, list[Any]]:
        return {
            "velocity": self._velocities,
            "momentum": self._momentums,
            "average_gradient": self._average_gradients,
        }

    def _effective_learning_rate(
        self, learning_rate: float, state: dict[str, np.ndarray], shape: tuple[int, ...]
    ) -> np.ndarray:
        mean_square = state["velocity"]
        if self.centered:
            mean_square = mean_square - np.square(state["average_gradient"])
        return learning_rate / np.sqrt(mean_square + self.epsilon)
