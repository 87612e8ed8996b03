"""Sparse categorical cross-entropy (notes F9) on integer class ids, with ``ignore_class``.

``sparse_categorical_crossentropy`` and ``SparseCategoricalCrossentropy``; the
ignored elements are masked out of the average as Keras masks them.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

# Keras keeps the "this element does not count" mask of a tensor in a private
# attribute that `keras.losses.Loss.__call__` reads before reducing; setting it
# is the only way for `ignore_class` to be averaged exactly as Keras does
# (kerasnotes._compat holds the private import).
from .. import _validation
from .._compat import set_keras_mask
from ._checks import (
    _check_ignore_class,
    _check_sparse_labels,
    _shape,
    _shapes_agree,
)
from ._common import _CrossentropyLoss, _log_probabilities, _logits_of


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Any:
    """Categorical cross-entropy per sample, for integer class ids.

    ```
    F9 with a one-hot y:  ℓ_i = −log ŷ_{i, t_i},   t_i the class id of sample i
    log ŷ as in categorical_crossentropy (log-softmax of logits, or clipped ŷ)
    ignore_class k:       ℓ_i = 0 where t_i = k, and the mean is over the others
    ```

    Args:
        y_true: Integer class ids in [0, C), shape ``y_pred.shape`` without
            ``axis`` (a trailing axis of size 1 is allowed).
        y_pred: Probabilities, or logits when ``from_logits=True``; C along ``axis``.
        from_logits: Whether ``y_pred`` holds logits.
        ignore_class: A label value whose positions contribute no loss and are
            left out of the mean (e.g. a "void" class in segmentation).
        axis: The class axis.

    Returns:
        The loss per sample: ``y_pred``'s shape without ``axis``.

    Example:
        >>> import numpy as np
        >>> from kerasnotes.losses import sparse_categorical_crossentropy
        >>> loss = sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> [round(float(v), 4) for v in np.asarray(loss)]
        [0.0513, 2.3026]

    Difference from ``keras.losses.sparse_categorical_crossentropy``: same
    numbers; one-hot labels, wrong shapes and ids outside [0, C) raise a
    ``ValueError`` instead of a backend error or a silent NaN.
    """
    _validation.boolean("from_logits", from_logits)
    _check_ignore_class(ignore_class)
    _validation.integer("axis", axis)
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred, from_logits = _logits_of(
        y_pred, from_logits, "sparse_categorical_crossentropy", "softmax"
    )
    y_true = ops.convert_to_tensor(y_true)
    pred_shape = _shape(y_pred)
    if len(pred_shape) < 1:
        raise ValueError(
            "sparse_categorical_crossentropy: Argument `y_pred` must have a class axis "
            f"(rank >= 1). Received: y_pred.shape={pred_shape}"
        )
    rank = len(pred_shape)
    if not -rank <= axis < rank:
        # ``axis % rank`` would silently pick another axis (Keras raises too).
        raise ValueError(
            f"sparse_categorical_crossentropy: Argument `axis` must be in [{-rank}, {rank}) "
            f"for y_pred.shape={pred_shape}. Received: axis={axis}"
        )
    class_axis = axis % rank
    if len(y_true.shape) == len(pred_shape) and y_true.shape[class_axis] == 1:
        y_true = ops.squeeze(y_true, axis=class_axis)
    true_shape = _shape(y_true)
    expected = pred_shape[:class_axis] + pred_shape[class_axis + 1 :]
    if not _shapes_agree(true_shape, expected):
        hint = (
            "; one-hot labels need CategoricalCrossentropy"
            if _shapes_agree(true_shape, pred_shape)
            else ""
        )
        raise ValueError(
            "sparse_categorical_crossentropy: Argument `y_true` must have y_pred's shape "
            f"without the class axis {axis}, i.e. {expected}. Received: "
            f"y_true.shape={true_shape} and y_pred.shape={pred_shape}{hint}"
        )
    num_classes = pred_shape[class_axis]
    _check_sparse_labels(y_true, num_classes, ignore_class)

    if ignore_class is not None:
        valid = ops.not_equal(y_true, ops.cast(ignore_class, y_true.dtype))
        y_true = ops.where(valid, y_true, ops.zeros_like(y_true))
    if from_logits:
        # −log ŷ_t = log Σ_k e^{z_k − m} − (z_t − m), evaluated by Keras's own op,
        # which is the backend's fused kernel where there is one
        # (tf.nn.sparse_softmax_cross_entropy_with_logits, torch's cross_entropy):
        # one kernel and one backward instead of ten element-wise operations.
        # It takes the class axis last (TensorFlow only supports that).
        last = len(pred_shape) - 1
        if class_axis != last:
            y_pred = ops.moveaxis(y_pred, class_axis, last)
        # The ids were checked above; the op casts them to its integer type.
        losses = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    else:
        ids = ops.expand_dims(ops.cast(y_true, "int32"), class_axis)
        log_probs = _log_probabilities(y_pred, class_axis)
        losses = ops.squeeze(-ops.take_along_axis(log_probs, ids, axis=class_axis), class_axis)
    if ignore_class is not None:
        losses = ops.where(valid, losses, ops.zeros_like(losses))
        set_keras_mask(losses, mask=valid)
    return losses


@keras.saving.register_keras_serializable(package="kerasnotes")
class SparseCategoricalCrossentropy(_CrossentropyLoss):
    """Categorical cross-entropy (F9) for integer class ids: ℓ_i = −log ŷ_{i, t_i}.

    ```
    F9 with one-hot y:  ℓ_i = −log ŷ_{i, t_i}
    ignore_class k:     positions with t_i = k give 0 and are left out of the mean
    ```

    Args:
        from_logits: Whether ``y_pred`` holds logits (recommended: stable for any z).
        ignore_class: Optional label value to leave out of the loss and the mean.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or ``None``, as in Keras.
        axis: The class axis.
        name: Name of the loss instance.
        dtype: The dtype of the loss computation (default ``keras.backend.floatx()``).

    Example:
        >>> import numpy as np
        >>> from kerasnotes.losses import SparseCategoricalCrossentropy
        >>> scce = SparseCategoricalCrossentropy()
        >>> round(float(scce(np.array([1, 2]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))), 4)
        1.1769

    Difference from ``keras.losses.SparseCategoricalCrossentropy``: same arguments
    (in Keras's order), defaults and numbers; ``axis`` is also saved by
    ``get_config`` (Keras drops it); one-hot labels and ids outside [0, C) raise
    a ``ValueError``.
    """

    _fn = staticmethod(sparse_categorical_crossentropy)
    _options = ("from_logits", "ignore_class", "axis")

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        _validation.boolean("from_logits", from_logits)
        _check_ignore_class(ignore_class)
        _validation.integer("axis", axis)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.axis = int(axis)
