"""Pieces every normalization layer shares: argument checks and the γ/β parameters."""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import ops

from kerasnotes import _validation


def canonical_axis(axis: int, rank: int, layer: str) -> int:
    """``axis`` as a non-negative index into an input of rank ``rank``."""
    if not -rank <= axis < rank:
        raise ValueError(
            f"{layer}: argument `axis` must be in [{-rank}, {rank - 1}] for an input of "
            f"rank {rank}. Received: axis={axis}"
        )
    return axis % rank


@functools.cache
def _statistics_dtype(dtype: str) -> str:
    # Not result_type(dtype, "float32"): on torch Keras makes that float32 for float64.
    return "float64" if dtype == "float64" else "float32"


def statistics_dtype(dtype: Any) -> str:
    """float32 for half-precision (and integer) inputs, whose range is too small for
    variances; float32 and float64 inputs keep their own dtype."""
    return _statistics_dtype(keras.backend.standardize_dtype(dtype))


def cast_to(x: Any, dtype: str) -> Any:
    """``ops.cast`` only when the dtype differs (each skipped op counts on eager backends)."""
    if keras.backend.standardize_dtype(x.dtype) == dtype:
        return x
    return ops.cast(x, dtype)


def centered_moments(x: Any, axes: list[int]) -> tuple[Any, Any, Any]:
    """x − μ, μ and the (biased) variance σ² over ``axes`` (kept as size-1 axes).

    Two passes, σ² = mean((x − μ)²), rather than mean(x²) − μ², which cancels
    catastrophically when |μ| ≫ σ; x − μ is returned because the normalization
    needs it too.
    """
    mean = _mean(x, axes)
    centered = x - mean
    return centered, mean, _mean(ops.square(centered), axes)


def keras_keeps_dtype(dtype: Any) -> bool:
    """Whether Keras's reductions (mean, layer_normalization) compute in ``dtype``.

    Keras 3 promotes 64-bit to 32-bit in ``result_type`` (JAX's default); on torch
    that makes ``ops.mean`` of a float64 tensor a float32 sum cast back.
    """
    dtype = keras.backend.standardize_dtype(dtype)
    return keras.backend.result_type(dtype, "float32") == dtype


def _mean(x: Any, axes: list[int]) -> Any:
    """mean over ``axes`` (kept), in ``x``'s own dtype."""
    if keras_keeps_dtype(x.dtype):
        return ops.mean(x, axis=axes, keepdims=True)
    shape = ops.shape(x)
    count = functools.reduce(lambda a, b: a * b, [shape[a] for a in axes], 1)
    return ops.sum(x, axis=axes, keepdims=True) / ops.cast(count, x.dtype)


def scale_and_shift(
    centered: Any, variance: Any, gamma: Any, beta: Any, epsilon: float, shape: Any
) -> Any:
    """y = γ (x − μ) / √(σ² + ε) + β, from x − μ and σ² (as in training, F11/F12)."""
    dtype = keras.backend.standardize_dtype(centered.dtype)
    inv = ops.rsqrt(variance + epsilon)
    if gamma is not None:
        gamma = cast_to(gamma, dtype)
        inv = inv * (gamma if shape is None else ops.reshape(gamma, shape))
    outputs = centered * inv
    if beta is not None:
        beta = cast_to(beta, dtype)
        outputs = outputs + (beta if shape is None else ops.reshape(beta, shape))
    return outputs


class AffineParameters:
    """Holds the initializer/regularizer/constraint of γ (scale) and β (center)."""

    def __init__(
        self,
        center: Any,
        scale: Any,
        beta_initializer: Any,
        gamma_initializer: Any,
        beta_regularizer: Any,
        gamma_regularizer: Any,
        beta_constraint: Any,
        gamma_constraint: Any,
    ) -> None:
        self.center = _validation.boolean("center", center)
        self.scale = _validation.boolean("scale", scale)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = keras.constraints.get(beta_constraint)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)

    #: The layers' constructor arguments that configure γ and β.
    ARGUMENTS = (
        "center",
        "scale",
        "beta_initializer",
        "gamma_initializer",
        "beta_regularizer",
        "gamma_regularizer",
        "beta_constraint",
        "gamma_constraint",
    )

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> AffineParameters:
        """From a layer constructor's arguments (its ``locals()``), of which it takes
        the eight in :attr:`ARGUMENTS`: the layers keep Keras's signatures, so each
        lists them."""
        return cls(*(arguments[name] for name in cls.ARGUMENTS))

    def build(self, layer: keras.layers.Layer, shape: tuple) -> tuple[Any, Any]:
        """Creates γ then β on ``layer`` (Keras's order, so weights transfer 1:1)."""
        weights = {"gamma": None, "beta": None}
        for name, wanted in (("gamma", self.scale), ("beta", self.center)):
            if wanted:
                weights[name] = layer.add_weight(
                    shape=shape,
                    name=name,
                    initializer=getattr(self, f"{name}_initializer"),
                    regularizer=getattr(self, f"{name}_regularizer"),
                    constraint=getattr(self, f"{name}_constraint"),
                    trainable=True,
                    autocast=False,
                )
        return weights["gamma"], weights["beta"]

    def get_config(self) -> dict[str, Any]:
        return {
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": keras.initializers.serialize(self.beta_initializer),
            "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
            "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": keras.constraints.serialize(self.beta_constraint),
            "gamma_constraint": keras.constraints.serialize(self.gamma_constraint),
        }


def normalize(
    x: Any, mean: Any, variance: Any, gamma: Any, beta: Any, epsilon: float, shape: Any
) -> Any:
    """y = γ (x − μ) / √(σ² + ε) + β, folded into one multiply-add: y = x·a + (β − μ·a).

    ``mean``/``variance`` already broadcast against ``x``; γ and β are reshaped
    to ``shape`` (None: they already broadcast) and cast to ``x``'s dtype.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    inv = ops.rsqrt(variance + epsilon)
    if gamma is not None:
        gamma = cast_to(gamma, dtype)
        inv = inv * (gamma if shape is None else ops.reshape(gamma, shape))
    shift = -mean * inv
    if beta is not None:
        beta = cast_to(beta, dtype)
        shift = shift + (beta if shape is None else ops.reshape(beta, shape))
    return x * inv + shift
