"""Argument and label checks of the cross-entropies: constructor arguments, shapes, label values.

Shapes are checked from the static shapes (also while a step is traced); label
values only when the labels are concrete arrays (see ``kerasnotes.losses``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops


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
