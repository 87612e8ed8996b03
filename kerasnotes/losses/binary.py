"""Binary cross-entropy (notes F8): ``binary_crossentropy`` and ``BinaryCrossentropy``."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .. import _validation
from ._checks import (
    _check_probability_labels,
    _shape,
    _shapes_agree,
)
from ._common import _logits_of, _SmoothedCrossentropyLoss


def _binary_terms(y_true: Any, y_pred: Any, from_logits: bool) -> Any:
    """Element-wise −[y log ŷ + (1 − y) log(1 − ŷ)]."""
    if from_logits:
        # −[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − z·y, spelled
        # max(z, 0) − z·y + log(1 + e^{−|z|}): nothing overflows, and for a hard
        # label the large terms cancel exactly (softplus(z) − z would lose the
        # small loss to rounding). With r = max(z, 0) taken by where() and
        # −|z| = z − 2r, both pieces differentiate through the same branch, so
        # the derivative at z = 0 is exactly σ(0) − y = 0.5 − y (relu and abs
        # would each contribute a subgradient of 0 there).
        #
        # Not keras.ops.binary_crossentropy: on torch that is
        # binary_cross_entropy_with_logits, which returns 0 instead of
        # log(1 + e^{−30}) ≈ 9.4e-14 for y = 0, z = −30 (measured); the composed
        # form here is within the speed target there too (benchmarks/).
        z = y_pred
        r = ops.where(z >= 0, z, 0.0)
        return r - z * y_true + ops.log1p(ops.exp(z - 2.0 * r))
    eps = keras.backend.epsilon()
    p = ops.clip(y_pred, eps, 1.0 - eps)
    return -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """Binary cross-entropy per sample, averaged over ``axis``.

    ```
    F8:  L = −1/N Σ [ y log ŷ + (1 − y) log(1 − ŷ) ],   ŷ = σ(z)
    from logits:       ℓ = softplus(z) − z·y = max(z, 0) − z·y + log(1 + e^{−|z|})
    from probabilities: ŷ clipped to [ε, 1 − ε]
    label smoothing s:  y ← y(1 − s) + s/2
    ```

    Args:
        y_true: Labels in [0, 1], shape ``[batch, d0, .., dN]``.
        y_pred: Probabilities, or logits when ``from_logits=True``; same shape.
        from_logits: Whether ``y_pred`` holds logits z instead of ŷ = σ(z).
        label_smoothing: s in [0, 1]; squeezes the labels towards 0.5.
        axis: The axis the element losses are averaged over.

    Returns:
        The loss per sample, shape ``[batch, d0, .., dN-1]``.

    Example:
        >>> import numpy as np
        >>> from kerasnotes.losses import binary_crossentropy
        >>> loss = binary_crossentropy([[0.0, 1.0]], [[0.4, 0.6]])
        >>> [round(float(v), 4) for v in np.asarray(loss)]
        [0.5108]

    Difference from ``keras.losses.binary_crossentropy``: same numbers; wrong
    shapes and labels outside [0, 1] raise a ``ValueError`` (values when concrete).
    """
    _validation.boolean("from_logits", from_logits)
    _validation.probability("label_smoothing", label_smoothing)
    _validation.integer("axis", axis)
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred, from_logits = _logits_of(y_pred, from_logits, "binary_crossentropy", "sigmoid")
    y_true = ops.convert_to_tensor(y_true)
    if not _shapes_agree(_shape(y_true), _shape(y_pred)):
        raise ValueError(
            "binary_crossentropy: Arguments `y_true` and `y_pred` must have the same "
            f"shape. Received: y_true.shape={_shape(y_true)} and y_pred.shape={_shape(y_pred)}"
        )
    _check_probability_labels(y_true, "binary_crossentropy")
    y_true = ops.cast(y_true, y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return ops.mean(_binary_terms(y_true, y_pred, from_logits), axis=axis)


@keras.saving.register_keras_serializable(package="kerasnotes")
class BinaryCrossentropy(_SmoothedCrossentropyLoss):
    """Binary cross-entropy (F8) between labels in [0, 1] and predicted probabilities or logits.

    ```
    F8:  L = −1/N Σ [ y log ŷ + (1 − y) log(1 − ŷ) ],   ŷ = σ(z)
    from logits: ℓ = softplus(z) − z·y = max(z, 0) − z·y + log(1 + e^{−|z|})  (finite for any z)
    ```

    Args:
        from_logits: Whether ``y_pred`` holds logits (recommended: stable for any z).
        label_smoothing: s in [0, 1]; labels become y(1 − s) + s/2.
        axis: The axis the element losses are averaged over.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or ``None``, as in Keras.
        name: Name of the loss instance.
        dtype: The dtype of the loss computation (default ``keras.backend.floatx()``).

    Example:
        >>> import numpy as np
        >>> from kerasnotes.losses import BinaryCrossentropy
        >>> bce = BinaryCrossentropy(from_logits=True)
        >>> round(float(bce(np.array([0.0, 1.0, 0.0, 0.0]), np.array([-18.6, 0.51, 2.94, -12.8]))), 4)
        0.8655

    Difference from ``keras.losses.BinaryCrossentropy``: same arguments, defaults
    and numbers; invalid arguments fail at construction; wrong label shapes or
    values raise a ``ValueError`` (see the module docstring for when).
    """

    _fn = staticmethod(binary_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)
