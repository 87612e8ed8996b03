"""What every kerasnotes optimizer shares: argument checks and ``inspect``.

The update rules themselves live one per file (``sgd.py``, ``adagrad.py``,
``rmsprop.py``, ``adam.py``). They subclass :class:`NotesOptimizer`, which is a
plain ``keras.optimizers.Optimizer``, so clipping, weight decay, EMA, gradient
accumulation, loss scaling and learning-rate schedules come from Keras unchanged.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation

# Private Keras API (whether ``variable.value`` is the stored tensor) lives in _compat.
from kerasnotes._compat import get_autocast_scope, in_stateless_scope


def _check_learning_rate(value: Any) -> Any:
    """A finite float >= 0, a ``LearningRateSchedule`` or a zero-argument callable."""
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule) or callable(value):
        return value
    if not _validation.is_real(value):
        raise TypeError(
            _validation.message(
                "learning_rate",
                value,
                "a float, a keras.optimizers.schedules.LearningRateSchedule or a callable",
            )
        )
    return _validation.non_negative_number("learning_rate", value)


class NotesOptimizer(keras.optimizers.Optimizer):
    """Base class: a Keras optimizer whose per-variable state can be read back.

    Subclasses name their state slots (``_state_slots``) and say how the state
    turns into a per-element step size (``_effective_learning_rate``); this
    class turns both into :meth:`inspect`.

    ```
    effective_learning_rate = the factor the rule multiplies the (averaged) gradient by
    ```

    Args:
        learning_rate: a float >= 0, a ``LearningRateSchedule`` or a callable.
        own_arguments: the subclass's own arguments, already checked (e.g.
            ``{"beta_1": 0.9}``): each is set as an attribute of that name and
            saved by ``get_config``.
        **kwargs: every other ``keras.optimizers.Optimizer`` argument
            (``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``,
            ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``,
            ``loss_scale_factor``, ``gradient_accumulation_steps``, ``name``).

    Example:
        >>> import keras, kerasnotes as kn
        >>> w = keras.Variable([1.0, 2.0])
        >>> opt = kn.optimizers.SGD(learning_rate=0.1)
        >>> opt.apply([keras.ops.convert_to_tensor([1.0, 1.0])], [w])
        >>> sorted(opt.inspect(w))
        ['effective_learning_rate']
    """

    def __init__(
        self,
        learning_rate: Any,
        *,
        own_arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=_check_learning_rate(learning_rate), **kwargs)
        # A subclass's own (already checked) arguments: each becomes an attribute
        # of the same name and goes into get_config beside Keras's arguments.
        own_arguments = dict(own_arguments or {})
        for name, value in own_arguments.items():
            setattr(self, name, value)
        self._config_names = tuple(own_arguments)
        # torch fast path: variable key -> (dtype name, native dtype of its tensor).
        self._eager_dtypes: dict[int, tuple[str, Any]] = {}

    # Subclasses fill these two in.
    def _state_slots(self) -> dict[str, list[Any]]:
        """Maps a state name to its optimizer variables, aligned with the model's."""
        return {}

    def _effective_learning_rate(
        self, learning_rate: float, state: dict[str, np.ndarray], shape: tuple[int, ...]
    ) -> np.ndarray:
        """Per-element step size from the current learning rate and state (float64)."""
        raise NotImplementedError

    # Per-step fast path for the PyTorch backend ---------------------------------
    #
    # On TensorFlow and JAX the update runs inside a compiled graph, where the
    # per-call cost of ``keras.ops`` vanishes; ``update_step`` is used as is and
    # matches Keras bit for bit. PyTorch runs eagerly, where every ``keras.ops``
    # call and every ``Variable.assign`` costs microseconds of Python
    # (conversion, dtype and shape checks, scope look-ups): with three assigns
    # per variable that made the update 2-3x slower than Keras's fused torch
    # optimizers. So on torch:
    #
    # - the step-wide scalars (learning rate, Adam's bias correction) are
    #   computed once per step and dtype, not once per variable;
    # - the element-wise rule uses the tensors' own arithmetic operators (the
    #   same formula and the same rounding, no framework import);
    # - the optimizer's state tensors are updated with in-place operators
    #   (``m *= β``, ``m += ...``), which skip ``assign``'s checks and copy; and
    #   the model variable too, when the caller has switched gradient tracking
    #   off (``fit`` does); otherwise torch refuses in place on a tensor that
    #   requires grad, and the step goes through ``self.assign``.
    #
    # Inside a ``StatelessScope`` or an autocast scope ``variable.value`` is not
    # the stored tensor, so there the plain ``update_step`` path is used.

    def _step_scalars(self, learning_rate: Any, dtype: str) -> dict[str, Any]:
        """Scalars shared by every variable in one update (learning rate, ...)."""
        return {"lr": ops.cast(learning_rate, dtype)}

    def _eager_update_step(self, gradient: Any, variable: keras.Variable, scalars: dict) -> None:
        """``update_step`` with precomputed scalars and in-place operator arithmetic."""
        raise NotImplementedError

    def _subtract_from(self, variable: keras.Variable, step: Any) -> None:
        """``variable ← variable − step``, in place when the backend allows it."""
        value = variable.value
        try:
            value -= step
        except RuntimeError:
            # torch: an in-place change of a leaf that requires grad while
            # gradients are being recorded. Raised before anything is written.
            self.assign(variable, value - step)

    def _add_to(self, variable: keras.Variable, step: Any) -> None:
        """``variable ← variable + step``, in place when the backend allows it."""
        value = variable.value
        try:
            value += step
        except RuntimeError:
            self.assign(variable, value + step)

    # Overrides private Keras API (kerasnotes._compat.BACKEND_UPDATE_STEP, checked
    # there): the hook Optimizer.apply calls for the update itself.
    def _backend_update_step(
        self, grads: list[Any], trainable_variables: list[keras.Variable], learning_rate: Any
    ) -> None:
        if (
            keras.backend.backend() != "torch"
            or in_stateless_scope()
            or get_autocast_scope() is not None
        ):
            super()._backend_update_step(grads, trainable_variables, learning_rate)
            return
        scalars_by_dtype: dict[str, dict[str, Any]] = {}
        dtypes = self._eager_dtypes
        for gradient, variable in zip(grads, trainable_variables, strict=True):
            # A variable's dtype never changes: look it up (and the stored
            # tensor's native dtype) once, not through two properties a step.
            key = self._var_key(variable)
            known = dtypes.get(key)
            if known is None:
                known = dtypes[key] = (variable.dtype, variable.value.dtype)
            dtype, native_dtype = known
            scalars = scalars_by_dtype.get(dtype)
            if scalars is None:
                scalars = scalars_by_dtype[dtype] = self._step_scalars(learning_rate, dtype)
            # Gradients handed to apply() may be numpy arrays, lists or another dtype.
            if getattr(gradient, "dtype", None) is not native_dtype:
                gradient = ops.cast(ops.convert_to_tensor(gradient), dtype)
            self._eager_update_step(gradient, variable, scalars)

    def _variable_index(self, variable: Any) -> int:
        if not self.built:
            raise ValueError(
                f"Optimizer {self.name!r} has not been built yet, so it holds no state; "
                "train for one step (or call optimizer.build(model.trainable_variables)) "
                "before calling inspect()."
            )
        known = self._trainable_variables
        if isinstance(variable, str):
            for index, candidate in enumerate(known):
                if candidate.path == variable:
                    return index
        else:
            try:
                key = self._var_key(variable)
            except AttributeError:  # TensorFlow's key reads variable.name: numpy has none
                key = None
            if key in self._trainable_variables_indices:
                return self._trainable_variables_indices[key]
        paths = [v.path for v in known]
        shown = ", ".join(paths[:8]) + (", ..." if len(paths) > 8 else "")
        raise ValueError(
            f"Argument `variable` must be one of the {len(paths)} variables optimizer "
            f"{self.name!r} was built with (or its path): {shown}. "
            f"Received: variable={variable!r}"
        )

    def inspect(self, variable: keras.Variable | str) -> dict[str, np.ndarray]:
        """Returns this optimizer's state for ``variable`` as numpy arrays.

        ```
        inspect(w) = {state name: array shaped like w, ...,
                      "effective_learning_rate": array shaped like w}
        ```

        The state names are the optimizer's own (``"velocity"``, ``"accumulator"``,
        ``"momentum"``, ...; see each class). ``"effective_learning_rate"`` is always
        present: the per-element factor the rule multiplies the gradient (or, for
        momentum methods, the averaged gradient) by, computed from the current
        learning rate (``optimizer.learning_rate``, a schedule evaluated at the
        current iteration) and the state stored now. With a constant learning
        rate it is exactly the factor the most recent update used.

        Cost: one device-to-host copy per state array of this one variable and a
        few numpy operations; nothing is compiled or traced, so a callback can
        call it every epoch.

        Args:
            variable: a trainable variable the optimizer was built with, or its
                ``path`` (e.g. ``"sequential/dense/kernel"``).

        Returns:
            dict from state name to a numpy array of ``variable``'s shape; the
            arrays are copies, so changing them changes nothing in training.

        Raises:
            ValueError: the optimizer is not built yet or does not own ``variable``.

        Example:
            >>> import keras, kerasnotes as kn
            >>> w = keras.Variable([1.0, 2.0])
            >>> opt = kn.optimizers.Adagrad(learning_rate=0.1)
            >>> opt.apply([keras.ops.convert_to_tensor([3.0, 4.0])], [w])
            >>> state = opt.inspect(w)
            >>> state["accumulator"]  # 0.1 + g**2
            array([ 9.1, 16.1], dtype=float32)
        """
        index = self._variable_index(variable)
        reference = self._trainable_variables[index]
        state: dict[str, np.ndarray] = {}
        for name, slots in self._state_slots().items():
            slot = slots[index] if slots else None
            if slot is not None:
                state[name] = np.array(keras.ops.convert_to_numpy(slot.value))
        learning_rate = float(keras.ops.convert_to_numpy(self.learning_rate))
        shape = tuple(reference.shape)
        effective = self._effective_learning_rate(
            learning_rate, {k: v.astype(np.float64) for k, v in state.items()}, shape
        )
        state["effective_learning_rate"] = np.broadcast_to(effective, shape).astype(
            keras.backend.standardize_dtype(reference.dtype)
        )
        return state

    def _iterations_now(self) -> int:
        """Number of updates applied so far (Keras's ``iterations``)."""
        return int(keras.ops.convert_to_numpy(self.iterations))

    def get_config(self) -> dict[str, Any]:
        """Keras's optimizer config plus the subclass's ``own_arguments``."""
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self._config_names})
        return config
