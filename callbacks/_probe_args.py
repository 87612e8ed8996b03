"""What SaddlePointDetector and SharpnessMonitor share: argument checks, data sample, layer table."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation, summary


def _check_number(name: str, value: Any, *, positive: bool = False) -> float:
    expected = f"a finite number {'> 0' if positive else '>= 0'}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(_validation.message(name, value, expected))
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ValueError(_validation.message(name, value, expected))
    return number


def _check_int(name: str, value: Any, least: int) -> int:
    # ValueError for a non-integer too, as this check always raised (callers may catch it).
    return _validation.integer(name, value, minimum=least, wrong_type=ValueError)


def _check_loss(loss: Any) -> Any:
    """``loss=`` as HessianProbe takes it, checked at construction (None: the compiled loss)."""
    if loss is None:
        return None
    from kerasnotes.curvature.objective import resolve_loss

    if not (isinstance(loss, (str, keras.losses.Loss)) or callable(loss)):
        raise TypeError(
            _validation.message(
                "loss", loss, "None, a keras.losses.Loss, a loss name or a callable(y_true, y_pred)"
            )
        )
    resolve_loss(loss, None)  # an unknown name or a non-scalar reduction fails here
    return loss


def _check_bn_mode(bn_mode: Any) -> str:
    from kerasnotes.curvature.objective import BN_MODES

    if bn_mode not in BN_MODES:
        raise ValueError(_validation.message("bn_mode", bn_mode, f"one of {BN_MODES}"))
    return bn_mode


def write_layer_table(writer: Any, layers: list, seconds: float, step: int) -> None:
    """Log ``HessianProbe.layer_curvature``'s table at ``step`` (layout in ``kerasnotes.summary``).

    ```
    kerasnotes/layer_curvature        (L, 6)  [num_parameters, lambda_max, trace,
                                               trace_stderr, num_hvp, seconds] per layer
    kerasnotes/layer_curvature/names  (L,)    the layers' names, row for row
    ```
    """
    rows = [
        [
            float(layer.num_parameters),
            float(layer.lambda_max),
            float(layer.trace),
            float(layer.trace_stderr),
            float(layer.num_hvp),
            float(seconds),
        ]
        for layer in layers
    ]
    fields = summary.LAYER_CURVATURE_FIELDS
    writer.tensor(summary.TAG_LAYER_CURVATURE, rows, step, description=f"[{', '.join(fields)}]")
    writer.strings(summary.TAG_LAYER_NAMES, [layer.name for layer in layers], step)
