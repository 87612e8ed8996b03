"""Categorical cross-entropy (notes F9) on one-hot or probability labels.

``categorical_crossentropy`` and ``CategoricalCrossentropy``.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
from keras import ops

from .. import _validation
from ._checks import (
    _check_probability_labels,
    _shape,
    _shapes_agree,
)
from ._common import _log_probabilities, _logits_of, _SmoothedCrossentropyLoss


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """Categorical cross-entropy per sample, for one-hot (or soft) labels.

    ```
    F9:  L = −1/N Σ_i Σ_c y_ic log ŷ_ic,   ŷ = softmax(z)
    from logits:        log ŷ_c = z_c − m − log Σ_k e^{z_k − m},  m = max_k z_k
    from probabilities: ŷ ← ŷ / Σ_k ŷ_k, then clipped to [ε, 1 − ε]
    label smoothing s:  y ← y(1 − s) + s/C
    ```

    Args:
        y_true: One-hot labels (or label distributions), shape ``[..., C]``.
        y_pred: Probabilities, or logits when ``from_logits=True``; same shape.
        from_logits: Whether ``y_pred`` holds logits.
        label_smoothing: s in [0, 1]; moves s of the mass evenly onto all C classes.
        axis: The class axis.

    Returns:
        The loss per sample: ``y_pred``'s shape without ``axis``.

    Example:
        >>> import numpy as np
        >>> from kerasnotes.losses import categorical_crossentropy
        >>> loss = categorical_crossentropy([[0.0, 1.0, 0.0]], [[0.05, 0.95, 0.0]])
        >>> [round(float(v), 4) for v in np.asarray(loss)]
        [0.0513]

    Difference from ``keras.losses.categorical_crossentropy``: same numbers; wrong
    shapes (e.g. integer labels: use the sparse loss) and labels outside [0, 1]
    raise a ``ValueError``.
    """
    _validation.boolean("from_logits", from_logits)
    _validation.probability("label_smoothing", label_smoothing)
    _validation.integer("axis", axis)
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred, from_logits = _logits_of(y_pred, from_logits, "categorical_crossentropy", "softmax")
    y_true = ops.convert_to_tensor(y_true)
    true_shape, pred_shape = _shape(y_true), _shape(y_pred)
    if len(pred_shape) < 1 or not _shapes_agree(true_shape, pred_shape):
        hint = (
            "; integer class ids need SparseCategoricalCrossentropy"
            if len(true_shape) == len(pred_shape) - 1 or (true_shape and true_shape[-1] == 1)
            else ""
        )
        raise ValueError(
            "categorical_crossentropy: Arguments `y_true` and `y_pred` must have the "
            f"same shape (at least rank 1). Received: y_true.shape={true_shape} and "
            f"y_pred.shape={pred_shape}{hint}"
        )
    if pred_shape[-1] == 1:
        warnings.warn(
            "categorical_crossentropy: y_pred has a single class "
            f"(y_pred.shape={pred_shape}), so the loss is always 0; "
            "use binary_crossentropy for two classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    _check_probability_labels(y_true, "categorical_crossentropy")
    y_true = ops.cast(y_true, y_pred.dtype)
    if label_smoothing:
        num_classes = ops.cast(ops.shape(y_true)[axis], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    if from_logits:
        # −Σ_c y_c (z_c − m − log Σ_k e^{z_k − m}) by Keras's own op: the
        # backend's fused kernel where there is one
        # (tf.nn.softmax_cross_entropy_with_logits), a log-softmax elsewhere.
        return ops.categorical_crossentropy(y_true, y_pred, from_logits=True, axis=axis)
    return -ops.sum(y_true * _log_probabilities(y_pred, axis), axis=axis)


@keras.saving.register_keras_serializable(package="kerasnotes")
class CategoricalCrossentropy(_SmoothedCrossentropyLoss):
    """Categorical cross-entropy (F9) between one-hot labels and predicted probabilities or logits.

    ```
    F9:  L = −1/N Σ_i Σ_c y_ic log ŷ_ic,   ŷ = softmax(z)
    from logits: log ŷ_c = z_c − m − log Σ_k e^{z_k − m},  m = max_k z_k
    ```

    Args:
        from_logits: Whether ``y_pred`` holds logits (recommended: stable for any z).
        label_smoothing: s in [0, 1]; labels become y(1 − s) + s/C.
        axis: The class axis.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or ``None``, as in Keras.
        name: Name of the loss instance.
        dtype: The dtype of the loss computation (default ``keras.backend.floatx()``).

    Example:
        >>> import numpy as np
        >>> from kerasnotes.losses import CategoricalCrossentropy
        >>> cce = CategoricalCrossentropy()
        >>> y_true = np.array([[0, 1, 0], [0, 0, 1]])
        >>> round(float(cce(y_true, np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))), 4)
        1.1769

    Difference from ``keras.losses.CategoricalCrossentropy``: same arguments,
    defaults and numbers; invalid arguments fail at construction; integer labels
    or labels outside [0, 1] raise a ``ValueError``.
    """

    _fn = staticmethod(categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)
