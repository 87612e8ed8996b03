"""The scalar function whose Hessian the probe studies, written once in ``keras.ops``.

Every backend differentiates the same objective:

```
L_b(θ) = w_b · loss(y_b, f(x_b; θ), sample_weight_b) + r_b · Σ model.losses(θ)
```

where ``f`` is ``model.stateless_call`` (so the model's variables are never
touched), ``w_b`` is the batch's share of the full-data loss and ``r_b = n_b / N``
its share of the regularisation terms. Summing ``L_b`` over micro-batches gives
exactly the full-data training objective that ``model.fit`` minimises.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np
from keras import ops

BN_MODES = ("inference", "batch")
_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight")
#: Loss names ``model.compile`` resolves by the shapes of labels and outputs.
_SHAPE_RESOLVED = ("crossentropy", "ce")


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
        for layer in model._flatten_layers(include_self=False, recursive=True):
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


def resolve_loss(loss: Any, model: keras.Model) -> tuple[Callable, str]:
    """The loss callable and its reduction, from ``loss`` or the model's compiled loss.

    Returns ``(fn, reduction)`` where ``fn(y_true, y_pred, sample_weight)`` gives a
    scalar reduced with ``reduction``.
    """
    if loss is None:
        compiled = getattr(model, "loss", None) if getattr(model, "compiled", False) else None
        if compiled is None:
            raise ValueError(
                "loss=None and the model has no compiled loss; pass loss= (a keras loss "
                "object, its name, or a callable(y_true, y_pred)) or call model.compile(loss=...)."
            )
        if isinstance(compiled, (dict, list, tuple)):
            raise ValueError(
                f"the model was compiled with one loss per output ({type(compiled).__name__}); "
                "HessianProbe needs a single loss: pass loss= explicitly."
            )
        loss = compiled
    if isinstance(loss, str) and loss.lower() in _SHAPE_RESOLVED:
        return CompiledFunctionLoss(None, name=loss), "sum_over_batch_size"
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError as error:
            raise ValueError(f"loss={loss!r} is not a Keras loss name: {error}") from None
    if isinstance(loss, keras.losses.Loss):
        reduction = loss.reduction or "none"
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"loss has reduction={loss.reduction!r}; the Hessian needs a scalar loss, "
                f"so the reduction must be one of {_REDUCTIONS}."
            )
        return loss, reduction
    if callable(loss):
        return CompiledFunctionLoss(loss), "sum_over_batch_size"
    raise TypeError(
        f"loss must be a keras.losses.Loss, a loss name or a callable(y_true, y_pred); "
        f"got loss={loss!r} of type {type(loss).__name__}."
    )


def squeeze_or_expand_to_same_rank(a: Any, b: Any) -> tuple[Any, Any]:
    """Align the ranks of ``a`` and ``b`` when they differ by one trailing axis of size 1.

    ```
    rank(a) = rank(b) + 1, a.shape[-1] = 1:  b ← b[..., None] if rank(b) = 1, else a ← a[..., 0]
    (and symmetrically), otherwise unchanged
    ```

    The rule Keras applies to ``(y_true, y_pred)`` before a loss function, so
    labels of shape ``(N,)`` meet outputs of shape ``(N, 1)`` as ``(N, 1)``.
    """
    rank_a, rank_b = len(a.shape), len(b.shape)
    if rank_a == rank_b + 1 and a.shape[-1] == 1:
        if rank_b == 1:
            b = ops.expand_dims(b, axis=-1)
        else:
            a = ops.squeeze(a, axis=-1)
    elif rank_b == rank_a + 1 and b.shape[-1] == 1:
        if rank_a == 1:
            a = ops.expand_dims(a, axis=-1)
        else:
            b = ops.squeeze(b, axis=-1)
    return a, b


def _crossentropy_for(y_true: Any, y_pred: Any) -> Callable:
    """Keras's pick for the loss name "crossentropy": binary, sparse or categorical by shape."""
    if y_pred.shape[-1] == 1:
        return keras.losses.binary_crossentropy
    if len(y_true.shape) < len(y_pred.shape) or y_true.shape[-1] == 1:
        return keras.losses.sparse_categorical_crossentropy
    return keras.losses.categorical_crossentropy


class CompiledFunctionLoss(keras.losses.Loss):
    """A loss function ``fn(y_true, y_pred)`` reduced exactly as ``model.compile`` reduces it.

    ```
    (y_true, y_pred) ← squeeze_or_expand_to_same_rank(y_true, y_pred)
    loss = Σ s_i · fn(y_true, y_pred)_i / #elements      ("sum_over_batch_size")
    ```

    ``model.compile`` wraps a loss name or function the same way, so the probe's
    loss of ``(N,)`` labels against ``(N, 1)`` outputs equals ``model.evaluate``'s.
    ``fn=None`` resolves the name "crossentropy" by the shapes, as Keras does.
    """

    def __init__(self, fn: Callable | None, name: str | None = None) -> None:
        # A scope name, so "<lambda>" becomes "lambda" (TensorFlow rejects "<").
        name = re.sub(r"[^A-Za-z0-9_.]", "", name or getattr(fn, "__name__", "") or "")
        super().__init__(name=name or None)
        self.fn = fn
        self._weighted = False

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        self._weighted = sample_weight is not None
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        fn = self.fn or _crossentropy_for(y_true, y_pred)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        values = ops.convert_to_tensor(fn(y_true, y_pred))
        if self._weighted and len(values.shape) == 0:
            # Keras would scale the mean by mean(s), which is no weighted loss at all.
            raise ValueError(
                "sample_weight was given but the loss callable returns a scalar, "
                "so samples cannot be weighted; return per-sample values instead."
            )
        return values


def batch_weights(
    reduction: str, batch_sizes: list[int], sample_weight: np.ndarray | None, bounds: list[tuple]
) -> list[np.ndarray]:
    """``[w_b, r_b]`` per micro-batch so that Σ_b L_b is the full-data objective."""
    total = sum(batch_sizes)
    weights = []
    for n_b, (start, stop) in zip(batch_sizes, bounds, strict=True):
        share = n_b / total
        if reduction == "sum":
            w_b = 1.0
        elif reduction == "mean_with_sample_weight" and sample_weight is not None:
            w_b = float(np.sum(sample_weight[start:stop])) / float(np.sum(sample_weight))
        else:
            w_b = share
        weights.append(np.array([w_b, share], dtype=np.float64))
    return weights


def make_objective(model: keras.Model, loss_fn: Callable, bn_mode: str) -> Callable:
    """``objective(trainable, non_trainable, x, y, sample_weight, weights) -> scalar``.

    Holds the model through a weak reference so a cache of compiled objectives
    never keeps a model alive.
    """
    model_ref = weakref.ref(model)
    pass_training = bool(getattr(model, "_call_has_training_arg", True))

    def objective(trainable, non_trainable, x, y, sample_weight, weights):
        model = model_ref()
        if model is None:
            raise RuntimeError("the model this HessianProbe was built for no longer exists")
        kwargs = {"training": False} if pass_training else {}
        scope = batch_statistics(model) if bn_mode == "batch" else contextlib.nullcontext()
        with scope:
            y_pred, _, extra_losses = model.stateless_call(
                trainable, non_trainable, x, return_losses=True, **kwargs
            )
        data_loss = loss_fn(y, y_pred, sample_weight=sample_weight)
        data_loss = ops.cast(data_loss, trainable[0].dtype)
        weights = ops.cast(weights, data_loss.dtype)
        total = weights[0] * data_loss
        if extra_losses:
            regular = ops.sum(ops.stack([ops.cast(v, data_loss.dtype) for v in extra_losses]))
            total = total + weights[1] * regular
        return total

    return objective
