"""Argument and label checks of the cross-entropies: constructor arguments, shapes, label values.

Shapes are checked from the static shapes (also while a step is traced); label
values only when the labels are concrete arrays (see ``kerasnotes.losses``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from .. import _validation


def _check_ignore_class(ignore_class: Any) -> None:
    if ignore_class is not None and not _validation.is_integer(ignore_class):
        raise TypeError(_validation.message("ignore_class", ignore_class, "None or an integer"))


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
            f"{fn_name}: Argument `y_true` must hold labels (or label probabilities) in "
            f"[0, 1]. Received: values from {low} to {high} in y_true of shape {values.shape}"
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
            "sparse_categorical_crossentropy: Argument `y_true` must hold integer class "
            f"ids in {allowed}{extra} (C = y_pred.shape[axis] = {num_classes}). "
            f"Received: {values[bad][:5].tolist()} among its values"
        )
