"""Layer normalization (F12): statistics per sample over its features, independent of the batch."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasnotes import _validation
from kerasnotes.layers._common import (
    AffineParameters,
    canonical_axis,
    cast_to,
    centered_moments,
    keras_keeps_dtype,
    scale_and_shift,
    statistics_dtype,
)


def _check_axes(axis: Any) -> int | list[int]:
    if _validation.is_integer(axis):
        return int(axis)
    if isinstance(axis, (list, tuple)) and axis and all(map(_validation.is_integer, axis)):
        return [int(a) for a in axis]
    raise TypeError(_validation.message("axis", axis, "an int or a non-empty list/tuple of ints"))


@keras.saving.register_keras_serializable(package="kerasnotes")
class LayerNormalization(keras.layers.Layer):
    """Normalizes each sample over its feature axes; the batch plays no part.

    ```
    F12 (per sample i, over the axes in `axis`):
        μ_i = mean(x_i),  σ²_i = mean((x_i − μ_i)²)
        y_i = γ (x_i − μ_i) / √(σ²_i + ε) + β
    ```

    Training and inference compute the same thing, so the output of a sample
    never depends on the other samples of its batch (unlike F11). γ and β have
    the shape of the normalized axes. Under a ``mixed_float16`` policy the
    statistics are computed in float32. On PyTorch, when the normalized axes are
    the trailing ones, the formula runs as torch's fused kernel (through
    ``keras.ops.layer_normalization``), whose statistics are accurate too
    (Welford's method, not E[x²] − μ²): within 2x of the two passes' error
    for |μ| ≫ σ.

    Args:
        axis: The axis or axes to normalize over (the features); the others are
            batch-like.
        epsilon: ε > 0 added to the variance.
        center: Whether to add the learned offset β.
        scale: Whether to multiply by the learned scale γ.
        beta_initializer: Initializer of β.
        gamma_initializer: Initializer of γ.
        beta_regularizer: Optional regularizer of β.
        gamma_regularizer: Optional regularizer of γ.
        beta_constraint: Optional constraint of β.
        gamma_constraint: Optional constraint of γ.
        **kwargs: Base layer arguments (``name``, ``dtype``...).

    Example:
        >>> import numpy as np
        >>> from keras.ops import convert_to_numpy as to_numpy
        >>> from kerasnotes.layers import LayerNormalization
        >>> ln = LayerNormalization(epsilon=1e-6)
        >>> to_numpy(ln(np.array([[1.0, 3.0], [10.0, 30.0]], "float32"))).round(3).tolist()
        [[-1.0, 1.0], [-1.0, 1.0]]

    Difference from ``keras.layers.LayerNormalization``: same arguments,
    defaults, weights and numbers; the deprecated ``rms_scaling=True`` (which
    Keras itself warns is wrong) is refused; use an RMS normalization layer.
    """

    def __init__(
        self,
        axis: int | list[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        # Keras's configs carry the deprecated flag; accept its default value.
        rms_scaling = kwargs.pop("rms_scaling", False)
        if rms_scaling:
            raise ValueError(
                "rms_scaling=True is not supported (Keras deprecates it: it divides by the "
                "variance, not the root mean square). Received: rms_scaling=True"
            )
        axis = _check_axes(axis)
        epsilon = _validation.positive_number("epsilon", epsilon)
        affine = AffineParameters.from_arguments(locals())
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon
        self._affine = affine
        self.center, self.scale = affine.center, affine.scale
        self.supports_masking = True
        # Inputs keep their dtype; the statistics are upcast explicitly below.
        self.autocast = False
        self.gamma = self.beta = None

    def build(self, input_shape: tuple) -> None:
        rank = len(input_shape)
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        self._axes = sorted({canonical_axis(a, rank, "LayerNormalization") for a in axes})
        if len(self._axes) != len(axes):
            raise ValueError(f"LayerNormalization: axis={self.axis} repeats an axis")
        shape = tuple(input_shape[a] for a in self._axes)
        if any(d is None for d in shape):
            raise ValueError(
                f"LayerNormalization: the normalized axes {self.axis} must have known sizes. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.gamma, self.beta = self._affine.build(self, shape)
        # γ, β broadcast by themselves when the normalized axes are the trailing ones.
        self._broadcast_shape = None
        if self._axes != list(range(rank - len(self._axes), rank)):
            self._broadcast_shape = [1] * rank
            for a in self._axes:
                self._broadcast_shape[a] = input_shape[a]
        # See call(): the fused kernel where the backend's own op is one.
        self._fused = keras.backend.backend() == "torch" and self._broadcast_shape is None

    def call(self, inputs: Any) -> Any:
        x = cast_to(inputs, statistics_dtype(inputs.dtype))
        if self._fused and keras_keeps_dtype(x.dtype):
            # PyTorch runs op by op, so ten element-wise ops and their backward cost
            # ~14% of a small training step more than one kernel. There
            # keras.ops.layer_normalization is torch's fused layer_norm, which computes
            # the same F12 with accurate (Welford) statistics. Elsewhere it uses
            # one-pass moments E[x²] − μ², which cancel when |μ| ≫ σ, so the two passes
            # are written out below (and compiled into one graph anyway).
            outputs = ops.layer_normalization(
                x, self.gamma, self.beta, axis=self._axes, epsilon=self.epsilon
            )
            return cast_to(outputs, self.compute_dtype)
        centered, _, variance = centered_moments(x, self._axes)
        outputs = scale_and_shift(
            centered, variance, self.gamma, self.beta, self.epsilon, self._broadcast_shape
        )
        return cast_to(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        for a in [self.axis] if isinstance(self.axis, int) else self.axis:
            canonical_axis(a, len(input_shape), "LayerNormalization")
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon, **self._affine.get_config()})
        return config
