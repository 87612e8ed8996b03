"""Classification cross-entropies of the notes (F8, F9) as drop-in Keras losses.

Each class is a ``keras.losses.Loss`` with exactly the arguments and defaults of
its Keras twin; each function has the signature of the Keras function of the
same name. The math, in ``keras.ops``:

- from logits, the stable forms ``softplus(z) − z·y = max(z, 0) − z·y + log(1 + e^{−|z|})``
  (binary) and ``log Σ e^{z_k} = m + log Σ e^{z_k − m}``, m = max z (categorical),
  finite for any z. The two softmax cross-entropies are evaluated by Keras's
  own ``keras.ops`` cross-entropies, which are the backend's fused kernels where
  it has them (``tf.nn.*softmax_cross_entropy_with_logits``, torch's
  ``cross_entropy``): one kernel and one backward pass instead of six to ten
  element-wise operations, the same stable form, and the same numbers as
  ``keras.losses``. The binary one is written out (see ``_binary_terms``);
- from probabilities, Keras's clipping of ŷ to ``[ε, 1 − ε]`` (ε =
  ``keras.backend.epsilon()``), so the numbers match Keras's.

What is checked, and when:

- Shapes, always, from the static shapes (so also while a training step is being
  traced): binary and categorical labels must have the prediction's shape after
  Keras's rank alignment; sparse labels the prediction's shape without the
  class axis. A mismatch is a ``ValueError`` naming both shapes, never a silent
  broadcast.
- Label values, whenever the labels are concrete arrays: every direct call,
  every training step on PyTorch (eager), and ``fit(..., run_eagerly=True)`` on
  TensorFlow and JAX. Inside a compiled step (``tf.function``, ``jax.jit``) the
  values are unknown and cannot be checked. Binary and categorical labels must
  lie in [0, 1]; sparse labels must be integers in [0, C) (or ``ignore_class``).

Example:
    >>> import numpy as np
    >>> from kerasnotes import losses
    >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> logits = np.array([[-1e4, 1e4], [3.0, -2.0]])
    >>> round(float(losses.CategoricalCrossentropy(from_logits=True)(y_true, logits)), 4)
    0.0034
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

# Keras keeps the "this element does not count" mask of a tensor in a private
# attribute that `keras.losses.Loss.__call__` reads before reducing; setting it
# is the only way for `ignore_class` to be averaged exactly as Keras does.
from kerasnotes._compat import set_keras_mask

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]


# --------------------------------------------------------------------------- checks


def _check_from_logits(from_logits: Any) -> None:
    if not isinstance(from_logits, (bool, np.bool_)):
        raise TypeError(
            f"from_logits must be True or False; got from_logits={from_logits!r} "
            f"of type {type(from_logits).__name__}"
        )


def _check_label_smoothing(label_smoothing: Any) -> None:
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, (int, float, np.floating, np.integer)
    ):
        raise TypeError(
            f"label_smoothing must be a float in [0, 1]; got label_smoothing={label_smoothing!r}"
        )
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(
            f"label_smoothing must be a float in [0, 1]; got label_smoothing={label_smoothing!r}"
        )


def _check_axis(axis: Any) -> None:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int; got axis={axis!r} of type {type(axis).__name__}")


def _check_ignore_class(ignore_class: Any) -> None:
    if ignore_class is not None and (
        isinstance(ignore_class, bool) or not isinstance(ignore_class, (int, np.integer))
    ):
        raise TypeError(f"ignore_class must be None or an int; got ignore_class={ignore_class!r}")


def _shape(x: Any) -> tuple:
    return tuple(None if d is None else int(d) for d in x.shape)


def _shapes_agree(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        p is None or q is None or p == q for p, q in zip(a, b, strict=True)
    )


def _concrete(x: Any) -> np.ndarray | None:
    """The values of ``x`` when it holds concrete numbers, None while being traced."""
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # noqa: BLE001 - symbolic tf.Tensor / jax Tracer: nothing to check
        return None


def _check_probability_labels(y_true: Any, fn_name: str) -> None:
    values = _concrete(y_true)
    if values is None or values.size == 0:
        return
    low, high = float(np.min(values)), float(np.max(values))
    if not (0.0 <= low and high <= 1.0):  # also catches NaN
        raise ValueError(
            f"{fn_name}: y_true must hold labels (or label probabilities) in [0, 1]; "
            f"got values from {low} to {high} in y_true of shape {values.shape}"
        )


def _check_sparse_labels(y_true: Any, num_classes: int | None, ignore_class: int | None) -> None:
    values = _concrete(y_true)
    if values is None or values.size == 0:
        return
    if values.dtype.kind in "iu" and ignore_class is None:
        # The common case, checked every eager step: two reductions suffice.
        if values.min() >= 0 and (num_classes is None or values.max() < num_classes):
            return
    values = np.asarray(values, dtype=np.float64)
    if ignore_class is not None:
        values = values[values != ignore_class]
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
    if num_classes is not None:
        bad |= values >= num_classes
    if bad.any():
        allowed = "[0, C)" if num_classes is None else f"0..{num_classes - 1}"
        extra = "" if ignore_class is None else f" or ignore_class={ignore_class}"
        raise ValueError(
            "sparse_categorical_crossentropy: y_true must hold integer class ids in "
            f"{allowed}{extra} (C = y_pred.shape[axis] = {num_classes}); got "
            f"{values[bad][:5].tolist()} among its values"
        )


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


# ------------------------------------------------------------------------- formulas


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


def _log_probabilities(y_pred: Any, axis: int) -> Any:
    """log ŷ along ``axis`` of probabilities: ŷ renormalised to sum 1, then clipped."""
    eps = keras.backend.epsilon()
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(p, eps, 1.0 - eps))


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
    _check_from_logits(from_logits)
    _check_label_smoothing(label_smoothing)
    _check_axis(axis)
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred, from_logits = _logits_of(y_pred, from_logits, "binary_crossentropy", "sigmoid")
    y_true = ops.convert_to_tensor(y_true)
    if not _shapes_agree(_shape(y_true), _shape(y_pred)):
        raise ValueError(
            "binary_crossentropy: y_true and y_pred must have the same shape; got "
            f"y_true.shape={_shape(y_true)} and y_pred.shape={_shape(y_pred)}"
        )
    _check_probability_labels(y_true, "binary_crossentropy")
    y_true = ops.cast(y_true, y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return ops.mean(_binary_terms(y_true, y_pred, from_logits), axis=axis)


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
    _check_from_logits(from_logits)
    _check_label_smoothing(label_smoothing)
    _check_axis(axis)
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
            "categorical_crossentropy: y_true and y_pred must have the same shape "
            f"(at least rank 1); got y_true.shape={true_shape} and "
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
    _check_from_logits(from_logits)
    _check_ignore_class(ignore_class)
    _check_axis(axis)
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred, from_logits = _logits_of(
        y_pred, from_logits, "sparse_categorical_crossentropy", "softmax"
    )
    y_true = ops.convert_to_tensor(y_true)
    pred_shape = _shape(y_pred)
    if len(pred_shape) < 1:
        raise ValueError(
            "sparse_categorical_crossentropy: y_pred must have a class axis (rank >= 1); "
            f"got y_pred.shape={pred_shape}"
        )
    rank = len(pred_shape)
    if not -rank <= axis < rank:
        # ``axis % rank`` would silently pick another axis (Keras raises too).
        raise ValueError(
            f"sparse_categorical_crossentropy: axis must be in [{-rank}, {rank}) for "
            f"y_pred.shape={pred_shape}. Received: axis={axis}"
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
            "sparse_categorical_crossentropy: y_true must have y_pred's shape without "
            f"the class axis {axis}, i.e. {expected}; got y_true.shape={true_shape} and "
            f"y_pred.shape={pred_shape}{hint}"
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


# --------------------------------------------------------------------------- classes


class _CrossentropyLoss(keras.losses.Loss):
    """Shared plumbing: Keras's rank alignment, then the function with the stored options."""

    _fn: Any = None

    def _fn_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

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

    def __init__(
        self,
        from_logits: bool,
        label_smoothing: float,
        axis: int,
        reduction: str | None,
        name: str,
        dtype: Any,
    ) -> None:
        _check_from_logits(from_logits)
        _check_label_smoothing(label_smoothing)
        _check_axis(axis)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = int(axis)

    def _fn_kwargs(self) -> dict[str, Any]:
        return {
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


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
        super().__init__(
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            reduction=reduction,
            name=name,
            dtype=dtype,
        )


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
        super().__init__(
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            reduction=reduction,
            name=name,
            dtype=dtype,
        )


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

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        _check_from_logits(from_logits)
        _check_ignore_class(ignore_class)
        _check_axis(axis)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.axis = int(axis)

    def _fn_kwargs(self) -> dict[str, Any]:
        return {
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }
