"""Gradients and Hessian-vector products of a Keras objective on TensorFlow.

```
g = ∇L(θ),      Hv = ∇(g · v)  (reverse over reverse)  or  Hv = J_g(θ) v  (forward over reverse)
```

Both are compiled with ``tf.function(reduce_retracing=True)``: one trace per
input shape (a probe has at most two: full micro-batches and the remainder).

Measured on the 2-core CPU this project targets (MLP 64-256-256-10, 85,002
parameters, all 1,797 digits, ``benchmarks/bench_hvp.py``, median of interleaved
repetitions, two runs on a machine shared with other jobs): gradient 14-39 ms;
HVP reverse-over-reverse 1.82x and 2.06x the gradient, forward-over-reverse
(``tf.autodiff.ForwardAccumulator``) 2.22x and 2.41x. Reverse over reverse is
the default (``HVP_MODE``). Peak memory of one HVP: 1.2-1.7x one gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

HVP_MODES = ("reverse_over_reverse", "forward_over_reverse")
HVP_MODE = "reverse_over_reverse"


def _dot(a: list, b: list) -> tf.Tensor:
    return tf.add_n([tf.reduce_sum(x * y) for x, y in zip(a, b, strict=True)])


def gradient_function(objective: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights) -> (loss, grads)``."""

    @tf.function(reduce_retracing=True)
    def value_and_grad(trainable, non_trainable, x, y, sample_weight, weights):
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            loss = objective(trainable, non_trainable, x, y, sample_weight, weights)
        grads = tape.gradient(loss, trainable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return loss, grads

    return value_and_grad


def hvp_function(objective: Callable, mode: str = HVP_MODE) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights, v) -> Hv`` (lists of tensors)."""
    zero = tf.UnconnectedGradients.ZERO

    if mode == "reverse_over_reverse":

        @tf.function(reduce_retracing=True)
        def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
            with tf.GradientTape() as outer:
                outer.watch(trainable)
                with tf.GradientTape() as inner:
                    inner.watch(trainable)
                    loss = objective(trainable, non_trainable, x, y, sample_weight, weights)
                grads = inner.gradient(loss, trainable, unconnected_gradients=zero)
                projected = _dot(grads, vectors)
            return outer.gradient(projected, trainable, unconnected_gradients=zero)

        return hvp

    if mode == "forward_over_reverse":

        @tf.function(reduce_retracing=True)
        def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
            with tf.autodiff.ForwardAccumulator(trainable, vectors) as accumulator:
                with tf.GradientTape() as tape:
                    tape.watch(trainable)
                    loss = objective(trainable, non_trainable, x, y, sample_weight, weights)
                grads = tape.gradient(loss, trainable, unconnected_gradients=zero)
            return accumulator.jvp(grads, unconnected_gradients=zero)

        return hvp

    raise ValueError(f"mode must be one of {HVP_MODES}; got mode={mode!r}")
