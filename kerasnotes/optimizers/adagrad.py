"""Adagrad: each element's step shrinks with the sum of its squared gradients."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation
from kerasnotes.optimizers.base import NotesOptimizer


@keras.saving.register_keras_serializable(package="kerasnotes")
class Adagrad(NotesOptimizer):
    """Adagrad: divides the step by the root of the accumulated squared gradients.

    Notes F3, with ``g`` the gradient, ``α`` the learning rate, ``G`` the
    accumulator (starting at ``initial_accumulator_value``), element-wise:

    ```
    G ← G + g²
    w ← w − α / √(G + ε) · g
    ```

    ``G`` only grows, so every element's step only shrinks: the notes' reason
    Adagrad can stall (claim C5). The notes start ``G`` at 0
    (``initial_accumulator_value=0.0``); Keras starts it at 0.1.

    ``inspect(w)`` returns ``"accumulator"`` (``G``) and
    ``"effective_learning_rate"`` = ``α / √(G + ε)``, with ε inside the root as
    above (Keras's placement).

    Args:
        learning_rate: α, a float >= 0, a ``LearningRateSchedule`` or a callable.
            Defaults to 0.001.
        initial_accumulator_value: starting value of ``G``, >= 0. Defaults to 0.1.
        epsilon: ε > 0, keeps the division finite while ``G`` is 0. Defaults to 1e-7.
        **kwargs: the other ``keras.optimizers.Optimizer`` arguments, passed on
            unchanged (the list is in :class:`NotesOptimizer`).

    Difference from ``keras.optimizers.Adagrad``: same rule and defaults; adds
    ``inspect`` and argument checks at construction.

    Example:
        >>> import keras, kerasnotes as kn
        >>> w = keras.Variable([1.0])
        >>> opt = kn.optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.0)
        >>> opt.apply([keras.ops.convert_to_tensor([2.0])], [w])
        >>> round(float(w.numpy()[0]), 4)  # 1 - 0.1 * 2 / sqrt(4)
        0.9
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            own_arguments={
                "initial_accumulator_value": _validation.non_negative_number(
                    "initial_accumulator_value", initial_accumulator_value
                ),
                "epsilon": _validation.positive_number("epsilon", epsilon),
            },
            **kwargs,
        )

    def build(self, var_list: list[keras.Variable]) -> None:
        """Creates one accumulator per variable, filled with ``initial_accumulator_value``."""
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(
            var_list,
            "accumulator",
            initializer=keras.initializers.Constant(self.initial_accumulator_value),
        )

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        """Applies one update to ``variable`` (the rule in the class docstring)."""
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        accumulator = self._accumulators[self._get_variable_index(variable)]
        self.assign_add(accumulator, ops.square(gradient))
        self.assign_sub(
            variable,
            ops.divide(ops.multiply(lr, gradient), ops.sqrt(ops.add(accumulator, self.epsilon))),
        )

    def _eager_update_step(self, gradient: Any, variable: keras.Variable, scalars: dict) -> None:
        # In place, same operations and rounding as update_step (see base.py);
        # ``x ** 0.5`` is the backend's sqrt kernel, without an ops call.
        accumulator = self._accumulators[self._get_variable_index(variable)].value
        accumulator += gradient * gradient
        self._subtract_from(
            variable, (scalars["lr"] * gradient) / (accumulator + self.epsilon) ** 0.5
        )

    def _state_slots(self) -> dict[str, list[Any]]:
        return {"accumulator": self._accumulators}

    def _effective_learning_rate(
        self, learning_rate: float, state: dict[str, np.ndarray], shape: tuple[int, ...]
    ) -> np.ndarray:
        return learning_rate / np.sqrt(state["accumulator"] + self.epsilon)
