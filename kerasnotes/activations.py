"""Softmax and sigmoid written so that no logit, however large, overflows (F10).

Both functions attach the logits they were given to their output (where the
backend's tensors accept attributes, i.e. TensorFlow and PyTorch), exactly as
``keras.activations`` does, so that the cross-entropy losses of
``kerasnotes.losses`` can compute the loss from the logits instead of from
rounded probabilities.

Example:
    >>> import numpy as np
    >>> from kerasnotes import activations
    >>> p = activations.softmax(np.array([[1e4, 0.0, -1e4]], dtype="float32"))
    >>> np.asarray(p).round(3).tolist()
    [[1.0, 0.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from kerasnotes import _validation

__all__ = ["sigmoid", "softmax"]


def _attach_logits(output: Any, logits: Any) -> Any:
    # The losses look for `_keras_logits`, the attribute Keras's own activations
    # set, so a model built with either library's activations trains the same.
    # JAX arrays refuse new attributes; the loss then uses the probabilities.
    try:
        output._keras_logits = logits
    except AttributeError:
        pass
    return output


def _check_axis(axis: Any) -> None:
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
        raise TypeError(_validation.message("axis", axis, "an int or a non-empty tuple of ints"))


def softmax(x: Any, axis: int | Sequence[int] = -1) -> Any:
    """Softmax: turns logits into probabilities that sum to 1 along ``axis``.

    ```
    F10:  ŷ_c = e^{z_c} / Σ_k e^{z_k}
          computed as e^{z_c − m} / Σ_k e^{z_k − m},  m = max_k z_k
    ```

    Subtracting the maximum leaves the value unchanged (the factor e^{−m}
    cancels) but keeps every exponent ≤ 0, so logits of any size give finite
    probabilities; the largest term is exactly e^0 = 1, so the sum is never 0.
    The shift is excluded from differentiation because it cancels exactly.

    Args:
        x: Logits, a tensor or array of any floating dtype.
        axis: The axis (or tuple of axes) the probabilities sum to 1 over.

    Returns:
        A tensor of the shape and dtype of ``x``.

    Example:
        >>> import numpy as np
        >>> from kerasnotes.activations import softmax
        >>> np.asarray(softmax(np.array([0.0, np.log(3.0)], "float32"))).round(4).tolist()
        [0.25, 0.75]

    Difference from ``keras.activations.softmax``: the same values; this one
    spells out the max-subtraction instead of delegating to the backend kernel.
    """
    _check_axis(axis)
    x = ops.convert_to_tensor(x)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else axis
    shift = ops.stop_gradient(ops.max(x, axis=axes, keepdims=True))
    exps = ops.exp(x - shift)
    return _attach_logits(exps / ops.sum(exps, axis=axes, keepdims=True), x)


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid, the two-class softmax, without overflow for any logit.

    ```
    σ(z) = 1 / (1 + e^{−z})
         = 1 / (1 + e^{−|z|})            if z ≥ 0
         = e^{−|z|} / (1 + e^{−|z|})     if z < 0
    ```

    Only e^{−|z|} ≤ 1 is ever formed, so neither the value nor the gradient
    σ(z)(1 − σ(z)) becomes inf or NaN, even for |z| = 1e4.

    Args:
        x: Logits, a tensor or array of any floating dtype.

    Returns:
        A tensor of the shape and dtype of ``x`` with values in [0, 1].

    Example:
        >>> import numpy as np
        >>> from kerasnotes.activations import sigmoid
        >>> np.asarray(sigmoid(np.array([-1e4, 0.0, 1e4], "float32"))).tolist()
        [0.0, 0.5, 1.0]

    Difference from ``keras.activations.sigmoid``: the same values; this one
    shows the overflow-free branch form explicitly.
    """
    x = ops.convert_to_tensor(x)
    positive = x >= 0
    # e^{−|z|} spelled with where(): abs() has derivative 0 at z = 0 on some
    # backends, which would make σ'(0) come out as 0 instead of 1/4.
    small = ops.exp(ops.where(positive, -x, x))
    one = ops.ones_like(small)
    numerator = ops.where(positive, one, small)
    return _attach_logits(numerator / (one + small), x)


# Registered so that `Dense(activation=kerasnotes.activations.softmax)` survives a
# `.keras` save and load.
keras.saving.register_keras_serializable(package="kerasnotes", name="softmax")(softmax)
keras.saving.register_keras_serializable(package="kerasnotes", name="sigmoid")(sigmoid)
