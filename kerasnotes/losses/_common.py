"""What the three cross-entropies share: Keras's rank alignment, the logits an activation
carries, log-probabilities, and the ``keras.losses.Loss`` plumbing of the classes.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
from keras import ops

from .. import _validation


def _align_ranks(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Keras's rule: when the ranks differ by one and the extra axis has size 1, fix it."""
    rank_true, rank_pred = len(y_true.shape), len(y_pred.shape)
    if rank_true == rank_pred + 1 and y_true.shape[-1] == 1:
        if rank_pred == 1:
            y_pred = ops.expand_dims(y_pred, -1)
        else:
            y_true = ops.squeeze(y_true, -1)
    elif rank_pred == rank_true + 1 and y_pred.shape[-1] == 1:
        if rank_true == 1:
            y_true = ops.expand_dims(y_true, -1)
        else:
            y_pred = ops.squeeze(y_pred, -1)
    return y_true, y_pred


def _logits_of(y_pred: Any, from_logits: bool, fn_name: str, activation: str) -> tuple[Any, bool]:
    """Use the logits a softmax/sigmoid output carries, as Keras does on TensorFlow.

    Taking log of a rounded probability loses everything below ε; the logits the
    activation attached (``_keras_logits``) give the exact loss and a gradient
    that does not vanish when the prediction saturates.
    """
    logits = getattr(y_pred, "_keras_logits", None)
    if logits is None:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(
            f"`{fn_name}` received `from_logits=True`, but `y_pred` was produced by a "
            f"{activation} activation and is not logits; using the logits it was computed from.",
            stacklevel=3,
        )
    return ops.cast(logits, y_pred.dtype), True


def _log_probabilities(y_pred: Any, axis: int) -> Any:
    """log ŷ along ``axis`` of probabilities: ŷ renormalised to sum 1, then clipped."""
    eps = keras.backend.epsilon()
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(p, eps, 1.0 - eps))


class _CrossentropyLoss(keras.losses.Loss):
    """Shared plumbing: Keras's rank alignment, then the function with the stored options."""

    _fn: Any = None
    #: The function's keyword arguments, each stored on the loss as an attribute of this name.
    _options: tuple[str, ...] = ()

    def _fn_kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._options}

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true, y_pred = _align_ranks(y_true, y_pred)
        return type(self)._fn(y_true, y_pred, **self._fn_kwargs())

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self._fn_kwargs())
        config["dtype"] = self._dtype_policy.name
        return config


class _SmoothedCrossentropyLoss(_CrossentropyLoss):
    """Shared constructor of the losses with ``from_logits``, ``label_smoothing`` and ``axis``.

    Subclasses keep their own ``__init__`` so each signature shows Keras's defaults.
    """

    _options = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits: bool,
        label_smoothing: float,
        axis: int,
        reduction: str | None,
        name: str,
        dtype: Any,
    ) -> None:
        _validation.boolean("from_logits", from_logits)
        _validation.probability("label_smoothing", label_smoothing)
        _validation.integer("axis", axis)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = int(axis)
