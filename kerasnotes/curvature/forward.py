"""The model's forward pass as the probe runs it: stateless, in inference mode, BN's choice.

``stateless_forward(model, bn_mode)`` calls ``model.stateless_call`` (the model's
variables are never touched) with ``training=False``. With ``bn_mode="batch"``
every BatchNormalization layer normalises with the statistics of the batch it
sees (``batch_statistics``) instead of its moving averages; the objective
(``objective.make_objective``) and the Gauss–Newton split (``ggn.py``) both
run the model through it.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import keras
from keras import ops

from kerasnotes import _compat


def is_batch_normalization(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` normalises with batch statistics in training mode."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return True
    # kerasnotes' own (and users') BatchNormalization need not subclass Keras's.
    return hasattr(layer, "moving_mean") and hasattr(layer, "moving_variance")


@contextlib.contextmanager
def batch_statistics(model: keras.Model) -> Iterator[None]:
    """Let only the BatchNormalization layers see ``training=True``.

    The model itself is called with ``training=False`` so Dropout, noise and
    augmentation layers stay off; each BN layer's ``call`` is wrapped for the
    duration of the call so it normalises with the batch's statistics. The
    moving-average updates BN then makes are captured by ``stateless_call`` and
    discarded by the caller. The wrappers are removed on exit, even on error.
    """
    patched = []
    try:
        for layer in _compat.flatten_layers(model, include_self=False, recursive=True):
            if is_batch_normalization(layer) and "call" not in layer.__dict__:
                original = layer.call

                def call_in_training_mode(*args: Any, _original=original, **kwargs: Any) -> Any:
                    kwargs["training"] = True
                    return _original(*args, **kwargs)

                # object.__setattr__ bypasses Keras's attribute tracking: this is a
                # temporary instance override of a method, not new layer state.
                object.__setattr__(layer, "call", call_in_training_mode)
                patched.append((layer, "call"))
                if _has_keras_moments(layer):
                    object.__setattr__(layer, "_moments", _exact_moments(layer))
                    patched.append((layer, "_moments"))
        yield
    finally:
        for layer, name in patched:
            object.__delattr__(layer, name)


def _has_keras_moments(layer: keras.layers.Layer) -> bool:
    return (
        isinstance(layer, keras.layers.BatchNormalization)
        and "_moments" not in layer.__dict__
        and not getattr(layer, "synchronized", False)
        and isinstance(getattr(layer, "_reduction_axes", None), (list, tuple))
    )


def _exact_moments(layer: keras.layers.Layer) -> Callable:
    """Keras BN's ``_moments`` without the ``stop_gradient`` TensorFlow puts in it.

    ```
    μ = mean(x),   σ² = mean((x − μ)²)      (both differentiated through μ)
    ```

    ``tf.nn.moments`` computes ``σ² = mean((x − stop_gradient(μ))²)``: the
    same value and the same gradient (``Σ (x − μ) = 0``), but a wrong second
    derivative, so a reverse-over-reverse HVP with ``bn_mode="batch"`` missed
    the terms through μ (14% of ``‖Hv‖`` on a small Conv2D + BN model, measured
    against float64 finite differences of the gradient). Masked inputs keep
    Keras's own code, which has no ``stop_gradient``.
    """
    original, axes = layer._moments, list(layer._reduction_axes)

    def moments(inputs: Any, mask: Any) -> tuple[Any, Any]:
        if mask is not None:
            return original(inputs, mask)
        mean = ops.mean(inputs, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(inputs - mean), axis=axes)
        return ops.squeeze(mean, axis=axes), variance

    return moments


def stateless_forward(model: keras.Model, bn_mode: str) -> Callable:
    """``call(trainable, non_trainable, x, **kwargs)``: ``model.stateless_call`` as the probe sees it.

    Holds the model through a weak reference so a cache of compiled objectives
    never keeps a model alive.
    """
    model_ref = weakref.ref(model)
    pass_training = bool(getattr(model, "_call_has_training_arg", True))

    def call(trainable, non_trainable, x, **kwargs):
        model = model_ref()
        if model is None:
            raise RuntimeError("the model this HessianProbe was built for no longer exists")
        if pass_training:
            kwargs["training"] = False
        scope = batch_statistics(model) if bn_mode == "batch" else contextlib.nullcontext()
        with scope:
            return model.stateless_call(trainable, non_trainable, x, **kwargs)

    return call
