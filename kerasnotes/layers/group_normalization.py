"""Group normalization (F12): statistics per sample over groups of channels."""

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
    scale_and_shift,
    statistics_dtype,
)


@keras.saving.register_keras_serializable(package="kerasnotes")
class GroupNormalization(keras.layers.Layer):
    """Splits the channels into groups and normalizes each sample over each group.

    ```
    F12 (per sample i and group g of C/G channels, over those channels and all
         other non-batch axes, e.g. height and width):
        μ_ig = mean(x_ig),  σ²_ig = mean((x_ig − μ_ig)²)
        y_ig = γ (x_ig − μ_ig) / √(σ²_ig + ε) + β       (γ, β per channel)
    groups = 1:  one group, like layer normalization over all non-batch axes
    groups = -1: one group per channel (instance normalization)
    ```

    Nothing depends on the batch, so small batches (2–4) normalize as well as
    large ones. Under a ``mixed_float16`` policy the statistics are computed in
    float32.

    Args:
        groups: The number G of groups; must divide the number of channels C.
            ``-1`` means G = C.
        axis: The channel axis.
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
        >>> from kerasnotes.layers import GroupNormalization
        >>> gn = GroupNormalization(groups=2, epsilon=1e-6)
        >>> x = np.array([[1.0, 3.0, 10.0, 30.0]], "float32")
        >>> to_numpy(gn(x)).round(3).tolist()
        [[-1.0, 1.0, -1.0, 1.0]]

    Difference from ``keras.layers.GroupNormalization``: same arguments,
    defaults, weights and numbers; ``groups=-1`` stays ``-1`` in ``get_config``
    (Keras saves the resolved channel count); invalid arguments fail at
    construction and a channel count not divisible by ``groups`` names both.
    """

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
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
        if not _validation.is_integer(groups) or (groups <= 0 and groups != -1):
            raise ValueError(
                _validation.message(
                    "groups", groups, "a positive int, or -1 for instance normalization"
                )
            )
        axis = _validation.integer("axis", axis)
        epsilon = _validation.positive_number("epsilon", epsilon)
        affine = AffineParameters.from_arguments(locals())
        super().__init__(**kwargs)
        self.groups = int(groups)
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
        if rank < 2:
            raise ValueError(
                "GroupNormalization: inputs need a batch and a channel axis (rank >= 2). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self._channel_axis = canonical_axis(self.axis, rank, "GroupNormalization")
        if self._channel_axis == 0:
            raise ValueError(
                "GroupNormalization: argument `axis` must not be the batch axis 0. "
                f"Received: axis={self.axis}"
            )
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"GroupNormalization: the channel axis {self.axis} must have a known size. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        groups = channels if self.groups == -1 else self.groups
        if channels % groups != 0:
            raise ValueError(
                f"GroupNormalization: the number of channels ({channels}, axis {self.axis} of "
                f"input_shape={tuple(input_shape)}) must be divisible by groups={self.groups}; "
                f"allowed groups: divisors of {channels} or -1"
            )
        self._num_groups = groups
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes={self.axis: channels})
        self.gamma, self.beta = self._affine.build(self, (channels,))
        # Grouped layout: the channel axis c becomes (G, C/G) at positions c, c+1.
        c = self._channel_axis
        self._param_shape = [1] * (rank + 1)
        self._param_shape[c], self._param_shape[c + 1] = groups, channels // groups
        self._reduction_axes = [a for a in range(1, rank + 1) if a != c]

    def call(self, inputs: Any) -> Any:
        x = cast_to(inputs, statistics_dtype(inputs.dtype))
        c = self._channel_axis
        dims = ops.shape(x)
        grouped_shape = [
            -1 if i == 0 else (d if d is not None else dims[i]) for i, d in enumerate(x.shape)
        ]
        grouped_shape[c : c + 1] = [self._num_groups, x.shape[c] // self._num_groups]
        grouped = ops.reshape(x, grouped_shape)
        centered, _, variance = centered_moments(grouped, self._reduction_axes)
        outputs = scale_and_shift(
            centered, variance, self.gamma, self.beta, self.epsilon, self._param_shape
        )
        return cast_to(ops.reshape(outputs, dims), self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        canonical_axis(self.axis, len(input_shape), "GroupNormalization")
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "groups": self.groups,
                "axis": self.axis,
                "epsilon": self.epsilon,
                **self._affine.get_config(),
            }
        )
        return config
