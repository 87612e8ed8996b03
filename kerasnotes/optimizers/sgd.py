"""Stochastic gradient descent: plain, heavy-ball momentum, Nesterov, and the notes' EMA form."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation
from kerasnotes.optimizers.base import NotesOptimizer

MOMENTUM_FORMS = ("heavy_ball", "ema")


@keras.saving.register_keras_serializable(package="kerasnotes")
class SGD(NotesOptimizer):
    """Gradient descent with optional momentum, in Keras's form or the notes' form.

    Notes F1, F2k (``momentum_form="heavy_ball"``, the default) and F2
    (``momentum_form="ema"``), with ``g`` the gradient, ``α`` the learning rate
    and ``β`` the momentum:

    ```
    momentum == 0:                     w ← w − α·g                       (F1)
    heavy_ball:  v ← β·v − α·g         w ← w + v                         (F2k)
      nesterov:  v ← β·v − α·g         w ← w + β·v − α·g
    ema:         v ← β·v + (1 − β)·g   w ← w − α·v                       (F2)
      nesterov:  v ← β·v + (1 − β)·g   w ← w − α·(β·v + (1 − β)·g)
    ```

    The EMA form is the heavy-ball form with the learning rate scaled by
    ``1 − β``: its velocity is an average of gradients, so its steps have the
    gradient's size, while heavy-ball steps grow towards ``α·g/(1 − β)``.
    Nesterov with the EMA form applies the same look-ahead (the next velocity
    if the gradient stayed ``g``), so both forms accept ``nesterov=True``.

    ``inspect(w)`` returns ``"velocity"`` (the ``v`` above; only when
    ``momentum > 0``) and ``"effective_learning_rate"``: ``α`` everywhere, the
    factor applied to the gradient (heavy ball) or to the averaged gradient (EMA).

    Args:
        learning_rate: α, a float >= 0, a ``LearningRateSchedule`` or a callable.
            Defaults to 0.01.
        momentum: β in [0, 1). 0 is plain gradient descent. Defaults to 0.0.
        nesterov: apply the Nesterov look-ahead. Defaults to False.
        momentum_form: ``"heavy_ball"`` (Keras's rule) or ``"ema"`` (the notes').
            Defaults to ``"heavy_ball"``.
        **kwargs: the other ``keras.optimizers.Optimizer`` arguments, passed on
            unchanged (the list is in :class:`NotesOptimizer`).

    Difference from ``keras.optimizers.SGD``: same numbers with the same
    arguments; adds ``momentum_form="ema"`` and ``inspect``; ``momentum`` may be
    an int and must be < 1 (Keras accepts 1, which never forgets a gradient).

    Example:
        >>> import keras, kerasnotes as kn
        >>> w = keras.Variable([1.0])
        >>> opt = kn.optimizers.SGD(learning_rate=0.1, momentum=0.9, momentum_form="ema")
        >>> opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
        >>> round(float(w.numpy()[0]), 4)  # v = 0.1, w = 1 - 0.1 * 0.1
        0.99
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        momentum_form: str = "heavy_ball",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            own_arguments={
                "momentum": _validation.in_range("momentum", momentum, 0, 1, include_high=False),
                "nesterov": _validation.boolean("nesterov", nesterov),
                "momentum_form": _validation.one_of("momentum_form", momentum_form, MOMENTUM_FORMS),
            },
            **kwargs,
        )

    def build(self, variables: list[keras.Variable]) -> None:
        """Creates one velocity per variable when ``momentum > 0`` (none otherwise)."""
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        """Applies one update to ``variable`` (the rule in the class docstring)."""
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.momentum == 0:
            self.assign_sub(variable, ops.multiply(gradient, lr))
            return
        v = self.momentums[self._get_variable_index(variable)]
        beta = ops.cast(self.momentum, variable.dtype)
        if self.momentum_form == "heavy_ball":
            # Same operations in the same order as keras.optimizers.SGD, so the
            # two agree bit for bit on TensorFlow and JAX.
            self.assign(v, ops.subtract(ops.multiply(v, beta), ops.multiply(gradient, lr)))
            if self.nesterov:
                self.assign_add(
                    variable,
                    ops.subtract(ops.multiply(v, beta), ops.multiply(gradient, lr)),
                )
            else:
                self.assign_add(variable, v)
            return
        one_minus_beta = ops.cast(1.0 - self.momentum, variable.dtype)
        self.assign(v, ops.add(ops.multiply(v, beta), ops.multiply(gradient, one_minus_beta)))
        if self.nesterov:
            look_ahead = ops.add(ops.multiply(v, beta), ops.multiply(gradient, one_minus_beta))
            self.assign_sub(variable, ops.multiply(look_ahead, lr))
        else:
            self.assign_sub(variable, ops.multiply(v, lr))

    def _eager_update_step(self, gradient: Any, variable: keras.Variable, scalars: dict) -> None:
        # In place, same operations and rounding as update_step (see base.py).
        scaled = gradient * scalars["lr"]
        if self.momentum == 0:
            self._subtract_from(variable, scaled)
            return
        velocity = self.momentums[self._get_variable_index(variable)].value
        beta = self.momentum
        if self.momentum_form == "heavy_ball":
            velocity *= beta
            velocity -= scaled  # v = β·v − α·g
            self._add_to(variable, velocity * beta - scaled if self.nesterov else velocity)
            return
        averaged = gradient * (1.0 - beta)
        velocity *= beta
        velocity += averaged  # v = β·v + (1 − β)·g
        direction = velocity * beta + averaged if self.nesterov else velocity
        self._subtract_from(variable, direction * scalars["lr"])

    def _state_slots(self) -> dict[str, list[Any]]:
        return {"velocity": self.momentums}

    def _effective_learning_rate(
        self, learning_rate: float, state: dict[str, np.ndarray], shape: tuple[int, ...]
    ) -> np.ndarray:
        return np.full(shape, learning_rate)
