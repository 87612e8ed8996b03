"""Batch normalization (F11): batch statistics while training, moving averages at test time."""

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
    normalize,
    scale_and_shift,
    statistics_dtype,
)

_RENORM_KEYS = ("rmax", "rmin", "dmax")


def _check_renorm_clipping(clipping: Any) -> dict[str, float]:
    clipping = {} if clipping is None else clipping
    if not isinstance(clipping, dict) or set(clipping) - set(_RENORM_KEYS):
        raise ValueError(
            _validation.message(
                "renorm_clipping", clipping, f"a dict with keys among {_RENORM_KEYS}"
            )
        )
    rmin, rmax, dmax = (clipping.get(k) for k in ("rmin", "rmax", "dmax"))
    if rmin is not None and rmax is not None and rmax < rmin:
        raise ValueError(
            "rmax must be >= rmin in the `renorm_clipping` argument. "
            f"Received: rmax={rmax!r}, rmin={rmin!r}"
        )
    if dmax is not None and dmax < 0:
        raise ValueError(
            f"dmax must be >= 0 in the `renorm_clipping` argument. Received: dmax={dmax!r}"
        )
    return dict(clipping)


@keras.saving.register_keras_serializable(package="kerasnotes")
class BatchNormalization(keras.layers.Layer):
    """Normalizes each feature with the batch's mean and variance in training, moving averages after.

    ```
    F11 (training, per feature over the batch B and all non-feature axes):
        μ_B = mean(x),  σ²_B = mean((x − μ_B)²)
        x̂ = (x − μ_B) / √(σ²_B + ε),   y = γ x̂ + β
        moving_mean ← momentum · moving_mean + (1 − momentum) · μ_B
        moving_var  ← momentum · moving_var  + (1 − momentum) · σ²_B
    F11 (test time): the same y with μ_B, σ²_B replaced by moving_mean, moving_var
    ```

    Inference therefore does not depend on the rest of the batch: after ``fit``,
    predicting one sample gives the same output as predicting it within a
    batch. Setting ``layer.trainable = False`` freezes γ, β *and* the moving
    statistics and runs the layer in inference mode even inside ``fit``, as in
    Keras (the usual choice when fine-tuning).

    With a ``mask`` (shape of the input without the feature axis), masked
    positions do not contribute to μ_B and σ²_B. Under a ``mixed_float16``
    policy the statistics and normalization are computed in float32 and the
    output is cast back to float16.

    Batch renormalization (``renorm=True``, Ioffe 2017) corrects the batch
    statistics towards moving ones during training:
    ``y = γ (x̂ · r + d) + β`` with ``r = clip(σ_B / σ, rmin, rmax)``,
    ``d = clip((μ_B − μ) / σ, −dmax, dmax)`` (not differentiated), where μ, σ are
    averages kept with ``renorm_momentum``; inference is unchanged.

    Args:
        axis: The feature axis (e.g. ``1`` after a channels-first convolution).
        momentum: Weight of the old value in the moving averages, in [0, 1].
        epsilon: ε > 0 added to the variance.
        center: Whether to add the learned offset β.
        scale: Whether to multiply by the learned scale γ.
        beta_initializer: Initializer of β.
        gamma_initializer: Initializer of γ.
        moving_mean_initializer: Initializer of the moving mean.
        moving_variance_initializer: Initializer of the moving variance.
        beta_regularizer: Optional regularizer of β.
        gamma_regularizer: Optional regularizer of γ.
        beta_constraint: Optional constraint of β.
        gamma_constraint: Optional constraint of γ.
        renorm: Whether to use batch renormalization.
        renorm_clipping: Dict with optional ``"rmax"``, ``"rmin"``, ``"dmax"``
            (defaults inf, 0, inf).
        renorm_momentum: Momentum of the renormalization averages μ, σ.
        synchronized: TensorFlow only: compute μ_B, σ²_B over all replicas of a
            distribution strategy (the cross-replica sum is Keras's).
        **kwargs: Base layer arguments (``name``, ``dtype``, ``trainable``...).

    Example:
        >>> import numpy as np
        >>> from keras.ops import convert_to_numpy as to_numpy
        >>> from kerasnotes.layers import BatchNormalization
        >>> bn = BatchNormalization(momentum=0.0, epsilon=1e-6)
        >>> x = np.array([[1.0], [3.0]], "float32")
        >>> to_numpy(bn(x, training=True)).round(3).tolist()
        [[-1.0], [1.0]]
        >>> to_numpy(bn.moving_mean).tolist(), to_numpy(bn.moving_variance).tolist()
        ([2.0], [1.0])

    Difference from ``keras.layers.BatchNormalization``: same arguments,
    defaults, weights and numbers (to float32 rounding); arguments are
    validated at construction; with a mask and ``axis`` other than the last,
    the mask is aligned with the inputs by inserting the feature axis at ``axis``.
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        renorm: bool = False,
        renorm_clipping: dict[str, float] | None = None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        axis = _validation.integer("axis", axis)
        momentum = _validation.probability("momentum", momentum)
        epsilon = _validation.positive_number("epsilon", epsilon)
        affine = AffineParameters.from_arguments(locals())
        renorm = _validation.boolean("renorm", renorm)
        renorm_momentum = _validation.probability("renorm_momentum", renorm_momentum)
        clipping = _check_renorm_clipping(renorm_clipping) if renorm else renorm_clipping
        synchronized = _validation.boolean("synchronized", synchronized)
        if synchronized and keras.backend.backend() != "tensorflow":
            raise ValueError(
                "synchronized=True needs the TensorFlow backend (cross-replica statistics); "
                f"the active backend is {keras.backend.backend()!r}"
            )
        super().__init__(**kwargs)
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon
        self._affine = affine
        self.center, self.scale = affine.center, affine.scale
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.renorm = renorm
        self.renorm_clipping = clipping
        self.renorm_momentum = renorm_momentum
        self.synchronized = synchronized
        self.supports_masking = True
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape: tuple) -> None:
        rank = len(input_shape)
        self._feature_axis = canonical_axis(self.axis, rank, "BatchNormalization")
        channels = input_shape[self._feature_axis]
        if channels is None:
            raise ValueError(
                f"BatchNormalization: the feature axis {self.axis} of the input must have a "
                f"known size. Received: input_shape={tuple(input_shape)}"
            )
        shape = (channels,)
        self.gamma, self.beta = self._affine.build(self, shape)
        self.moving_mean = self._state("moving_mean", shape, self.moving_mean_initializer)
        self.moving_variance = self._state(
            "moving_variance", shape, self.moving_variance_initializer
        )
        if self.renorm:
            variance_init = self.moving_variance_initializer

            def stddev_init(shape: tuple, dtype: Any = None) -> Any:
                # A fresh initializer per variable: seeded ones must not repeat draws.
                fresh = variance_init.__class__.from_config(variance_init.get_config())
                return ops.sqrt(fresh(shape, dtype=dtype))

            mean_init = self.moving_mean_initializer
            self.moving_stddev = self._state("moving_stddev", shape, stddev_init)
            self.renorm_mean = self._state(
                "renorm_mean", shape, mean_init.__class__.from_config(mean_init.get_config())
            )
            self.renorm_stddev = self._state("renorm_stddev", shape, stddev_init)
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes={self.axis: channels})
        self._reduction_axes = [a for a in range(rank) if a != self._feature_axis]
        # (C,) statistics broadcast by themselves when the features are the last axis.
        self._broadcast_shape = None
        if self._feature_axis != rank - 1:
            self._broadcast_shape = [1] * rank
            self._broadcast_shape[self._feature_axis] = channels

    def _state(self, name: str, shape: tuple, initializer: Any) -> Any:
        return self.add_weight(
            shape=shape, name=name, initializer=initializer, trainable=False, autocast=False
        )

    def _batch_moments(self, x: Any, mask: Any) -> tuple[Any, Any, Any]:
        """x − μ_B, μ_B and σ²_B over the unmasked positions (statistics as size-1 axes)."""
        axes = self._reduction_axes
        if mask is None:
            if not self.synchronized:
                return centered_moments(x, axes)
            mean, variance = ops.moments(x, axes=axes, keepdims=True, synchronized=True)
            return x - mean, mean, variance
        weights = cast_to(ops.expand_dims(mask, self._feature_axis), x.dtype)
        # ε in the count keeps an all-masked batch at 0 instead of NaN (as Keras does).
        count = ops.sum(ops.broadcast_to(weights, ops.shape(x)), axis=axes, keepdims=True)
        count = count + keras.backend.epsilon()
        mean = ops.sum(x * weights, axis=axes, keepdims=True) / count
        centered = x - mean
        variance = ops.sum(ops.square(centered * weights), axis=axes, keepdims=True) / count
        return centered, mean, variance

    def _ema(self, variable: Any, value: Any, momentum: float) -> Any:
        dtype = keras.backend.standardize_dtype(value.dtype)
        new = cast_to(variable.value, dtype) * momentum + value * (1.0 - momentum)
        variable.assign(cast_to(new, variable.dtype))
        return new

    def _renorm_affine(self, mean: Any, variance: Any, gamma: Any, beta: Any) -> tuple[Any, Any]:
        """Folds the renorm correction into γ and β, and updates the renorm averages."""
        dtype = mean.dtype
        batch_std = ops.sqrt(variance + self.epsilon)
        floor = ops.sqrt(ops.cast(self.epsilon, dtype))
        run_mean = cast_to(self.renorm_mean.value, dtype)
        run_std = ops.maximum(cast_to(self.renorm_stddev.value, dtype), floor)
        r = batch_std / run_std
        d = (mean - run_mean) / run_std
        clip = self.renorm_clipping or {}
        if clip.get("rmin") is not None:
            r = ops.maximum(r, clip["rmin"])
        if clip.get("rmax") is not None:
            r = ops.minimum(r, clip["rmax"])
        if clip.get("dmax") is not None:
            d = ops.clip(d, -clip["dmax"], clip["dmax"])
        r, d = ops.stop_gradient(r), ops.stop_gradient(d)
        # γ (x̂ r + d) + β  =  x̂ (γ r) + (γ d + β)
        new_gamma = r if gamma is None else r * gamma
        new_beta = d if gamma is None else d * gamma
        if beta is not None:
            new_beta = new_beta + beta
        self._ema(self.renorm_mean, mean, self.renorm_momentum)
        self._ema(self.renorm_stddev, batch_std, self.renorm_momentum)
        self._ema(self.moving_mean, mean, self.momentum)
        moving_std = self._ema(self.moving_stddev, batch_std, self.momentum)
        # The inference variance follows from the tracked standard deviation.
        self.moving_variance.assign(ops.relu(ops.square(moving_std) - self.epsilon))
        return new_gamma, new_beta

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if mask is not None and len(mask.shape) != len(inputs.shape) - 1:
            raise ValueError(
                "BatchNormalization: the mask must have the input's shape without the "
                f"feature axis. Received: mask.shape={tuple(mask.shape)}, "
                f"inputs.shape={tuple(inputs.shape)}"
            )
        dtype = statistics_dtype(inputs.dtype)
        x = cast_to(inputs, dtype)
        gamma = None if self.gamma is None else cast_to(self.gamma.value, dtype)
        beta = None if self.beta is None else cast_to(self.beta.value, dtype)
        shape = self._broadcast_shape
        # A frozen layer (trainable=False) normalizes with its moving statistics.
        if training and self.trainable:
            centered, mean, variance = self._batch_moments(x, mask)
            mean_c, variance_c = ops.reshape(mean, (-1,)), ops.reshape(variance, (-1,))
            if self.renorm:
                gamma, beta = self._renorm_affine(mean_c, variance_c, gamma, beta)
            else:
                self._ema(self.moving_mean, mean_c, self.momentum)
                self._ema(self.moving_variance, variance_c, self.momentum)
            outputs = scale_and_shift(centered, variance, gamma, beta, self.epsilon, shape)
        else:
            mean = cast_to(self.moving_mean.value, dtype)
            variance = cast_to(self.moving_variance.value, dtype)
            if shape is not None:
                mean, variance = ops.reshape(mean, shape), ops.reshape(variance, shape)
            outputs = normalize(x, mean, variance, gamma, beta, self.epsilon, shape)
        return cast_to(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        canonical_axis(self.axis, len(input_shape), "BatchNormalization")
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "axis": self.axis,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                **self._affine.get_config(),
                "moving_mean_initializer": keras.initializers.serialize(
                    self.moving_mean_initializer
                ),
                "moving_variance_initializer": keras.initializers.serialize(
                    self.moving_variance_initializer
                ),
                "renorm": self.renorm,
                "renorm_clipping": self.renorm_clipping,
                "renorm_momentum": self.renorm_momentum,
                "synchronized": self.synchronized,
            }
        )
        return config
