"""The denominator of every HVP / gradient ratio: the gradient a user would write.

The backend's own compiled gradient of the same mean loss, with nothing of
kerasnotes in it: ``tf.function`` around a ``GradientTape`` (TensorFlow),
``jax.jit(jax.value_and_grad(...))`` over ``model.stateless_call`` (JAX), a
forward pass and ``torch.autograd.grad`` (PyTorch). Per-batch gradients are
summed with weights n_b/N in the framework and converted to one float64 numpy
vector at the end, as a probe's result is.
"""

from __future__ import annotations

import numpy as np


def plain_gradient(model, loss, batches, num_samples, training):
    """The backend's own compiled gradient of the mean loss over ``batches``.

    ``batches``: ``(x, y)`` tensors; returns a zero-argument function giving the
    flat float64 gradient. Keras is imported here, not at the top, so that a
    benchmark can set its thread environment before the framework loads.
    """
    import keras

    variables = model.trainable_variables
    shares = [len(x) / num_samples for x, _ in batches]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(x, y, share):
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=training)) * share
            return value, tape.gradient(value, variables)

        def total():
            grads = None
            for (x, y), share in zip(batches, shares, strict=True):
                _, g = step(x, y, tf.constant(share, tf.float32))
                grads = g if grads is None else [a + b for a, b in zip(grads, g, strict=True)]
            return grads

    elif keras.backend.backend() == "jax":
        import jax

        non_trainable = [v.value for v in model.non_trainable_variables]

        def objective(trainable, x, y, share):
            out, _ = model.stateless_call(trainable, non_trainable, x, training=training)
            return loss(y, out) * share

        step = jax.jit(jax.value_and_grad(objective))

        def total():
            trainable = [v.value for v in variables]
            grads = None
            for (x, y), share in zip(batches, shares, strict=True):
                _, g = step(trainable, x, y, share)
                grads = g if grads is None else [a + b for a, b in zip(grads, g, strict=True)]
            return grads

    else:
        import torch

        def total():
            params = [v.value for v in variables]
            grads = None
            for (x, y), share in zip(batches, shares, strict=True):
                value = loss(y, model(x, training=training)) * share
                g = torch.autograd.grad(value, params)
                grads = g if grads is None else [a + b for a, b in zip(grads, g, strict=True)]
            return grads

    def gradient():
        return np.concatenate(
            [np.asarray(keras.ops.convert_to_numpy(g), np.float64).ravel() for g in total()]
        )

    return gradient
