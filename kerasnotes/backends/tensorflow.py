"""Gradients and Hessian-vector products of a Keras objective on TensorFlow.

```
g = ∇L(θ),      Hv = ∇(g · v)  (reverse over reverse)  or  Hv = J_g(θ) v  (forward over reverse)
```

Both are compiled with ``tf.function(autograph=False)``: one trace per input
shape (a probe has at most two: full micro-batches and the remainder). Shapes
are never relaxed (no ``reduce_retracing``): the loss aligns labels with outputs
by their static ranks, as ``model.compile`` does, and a relaxed trace loses
them. The objective has no tensor-dependent Python control flow, so AutoGraph's
source conversion is skipped: converting the source costs time on every
first trace (e.g. ``SaddlePointDetector``'s first gate after a ``fit``) and
buys nothing here. Keras itself does not convert layers' ``call`` (a Python ``if`` on a tensor fails in
``fit`` too), so a model that trains with ``fit`` does not need it.

Reverse over reverse is the default (``HVP_MODE``): on TensorFlow
forward over reverse (``tf.autodiff.ForwardAccumulator``) measured no cheaper.
``linearized_hvp`` splits the reverse-over-reverse graph so that the forward
and first backward pass run once per probe, not once per product.
The measured ratios (HVP / gradient time, peak memory) are in
``benchmarks/README.md``, produced by ``benchmarks/bench_hvp.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import tensorflow as tf

from kerasnotes import _validation
from kerasnotes.backends import tensorflow_distribute, tensorflow_linearize
from kerasnotes.backends.tensorflow_distribute import (  # noqa: F401 - the backend's API
    data_parallel,
    num_replicas,
    per_replica,
)

HVP_MODES = ("reverse_over_reverse", "forward_over_reverse")
HVP_MODE = "reverse_over_reverse"


def _dot(a: list, b: list) -> tf.Tensor:
    return tf.add_n([tf.reduce_sum(x * y) for x, y in zip(a, b, strict=True)])


def _dense(tensors: list) -> list:
    """Gradients as dense tensors, one per variable.

    The gradient of a gather (``Embedding``, ``ops.take``) is an
    ``IndexedSlices`` (values, indices, shape): three graph outputs where the
    caller and the split HVP expect one tensor per variable. Converting sums
    repeated indices, as the dense gradient does.
    """
    return [tf.convert_to_tensor(t) for t in tensors]


def _compiled(fn: Callable) -> Callable:
    # Distributed data (tf.distribute PerReplica arguments) runs fn on every replica.
    return tensorflow_distribute.dispatching(fn, tf.function(fn, autograph=False))


def gradient_function(objective: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights) -> (loss, grads)``."""

    def value_and_grad(trainable, non_trainable, x, y, sample_weight, weights):
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            loss = objective(trainable, non_trainable, x, y, sample_weight, weights)
        grads = tape.gradient(loss, trainable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return loss, _dense(grads)

    return _compiled(value_and_grad)


def group_gradient_function(objective: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, rows, weights) -> [L_1..L_K, G (K·K)]``.

    ``rows`` (K × n ints) picks K groups of rows of ``x, y`` on the device
    (``tf.gather``); ``L_k`` and ``g_k`` are the objective and its gradient on
    group k, ``G_kl = g_k · g_l`` their Gram matrix (row-major). The K
    gradients are unrolled in one graph (one trace per K, one dispatch); only
    K + K² numbers leave the device.
    """
    zero = tf.UnconnectedGradients.ZERO

    def stats(trainable, non_trainable, x, y, rows, weights):
        losses, flat = [], []
        for k in range(rows.shape[0]):
            take = lambda a, k=k: tf.gather(a, rows[k], axis=0)  # noqa: E731
            xs, ys = tf.nest.map_structure(take, x), tf.nest.map_structure(take, y)
            with tf.GradientTape() as tape:
                tape.watch(trainable)
                loss = objective(trainable, non_trainable, xs, ys, None, weights)
            grads = tape.gradient(loss, trainable, unconnected_gradients=zero)
            losses.append(loss)
            flat.append(tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0))
        flat = tf.stack(flat)
        gram = tf.matmul(flat, flat, transpose_b=True)
        return tf.concat([tf.stack(losses), tf.reshape(gram, [-1])], axis=0)

    return _compiled(stats)


def _reverse_over_reverse(objective: Callable) -> Callable:
    """The uncompiled ``(trainable, non_trainable, x, y, sw, weights, v) -> Hv = ∇(g · v)``."""
    zero = tf.UnconnectedGradients.ZERO

    def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
        with tf.GradientTape() as outer:
            outer.watch(trainable)
            with tf.GradientTape() as inner:
                inner.watch(trainable)
                loss = objective(trainable, non_trainable, x, y, sample_weight, weights)
            grads = inner.gradient(loss, trainable, unconnected_gradients=zero)
            projected = _dot(grads, vectors)
        return _dense(outer.gradient(projected, trainable, unconnected_gradients=zero))

    return hvp


def hvp_function(objective: Callable, mode: str = HVP_MODE) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights, v) -> Hv`` (lists of tensors)."""
    zero = tf.UnconnectedGradients.ZERO

    if mode == "reverse_over_reverse":
        return _compiled(_reverse_over_reverse(objective))

    if mode == "forward_over_reverse":

        def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
            with tf.autodiff.ForwardAccumulator(trainable, vectors) as accumulator:
                with tf.GradientTape() as tape:
                    tape.watch(trainable)
                    loss = objective(trainable, non_trainable, x, y, sample_weight, weights)
                grads = tape.gradient(loss, trainable, unconnected_gradients=zero)
            return _dense(accumulator.jvp(grads, unconnected_gradients=zero))

        return _compiled(hvp)

    raise ValueError(_validation.message("mode", mode, f"one of {HVP_MODES}"))


def linearized_hvp(objective: Callable) -> Callable:
    """``prepare(trainable, non_trainable, x, y, sw, weights) -> apply(v) -> Hv``.

    The reverse-over-reverse graph split at its dependence on ``v``
    (``tensorflow_linearize``): ``prepare`` runs the forward and first backward
    pass once, each ``apply`` only the second-order ops. Valid because a
    probe's weights and data never change; the residuals (activations, masks)
    stay in memory as long as the probe keeps ``apply``.
    """
    hvp = _reverse_over_reverse(objective)
    split = tensorflow_linearize.linearized(tf.function(hvp, autograph=False))
    return tensorflow_distribute.linearized(split, _compiled(hvp))


def loss_function(objective: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights) -> loss`` (no gradient)."""
    return _compiled(objective)


def batched_loss_function(objective: Callable) -> Callable:
    """Compiled ``(stacked_trainable, non_trainable, x, y, sw, weights) -> losses``.

    ``tf.vectorized_map`` over a leading axis of every trainable array, inside
    one ``tf.function``: the loop over a chunk of weight settings (a
    landscape's grid points) is vectorised by pfor into batched kernels, one
    dispatch per chunk. Without the while-loop fallback (one point after another, in
    a graph loop) a model whose ops pfor cannot vectorise, such
    as Conv2D with a filter that differs per point, raises, and the landscape
    falls back to point by point (``landscape.evaluate_grid``).
    """

    def losses(trainable, non_trainable, x, y, sample_weight, weights):
        def one(params):
            return objective(list(params), non_trainable, x, y, sample_weight, weights)

        return tf.vectorized_map(one, tuple(trainable), fallback_to_while_loop=False)

    return _compiled(losses)


def ggn_function(forward: Callable, output_loss: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights, v) -> Jᵀ H_ℓ J v``.

    One forward pass under both a ``ForwardAccumulator`` (the JVP ``Jv``) and a
    ``GradientTape`` (kept for the VJP ``Jᵀu``); ``H_ℓ (Jv)`` is a
    reverse-over-reverse product in output space, on a stopped copy of the
    outputs so it does not flow back into the model.
    """
    zero = tf.UnconnectedGradients.ZERO

    def ggn(trainable, non_trainable, x, y, sample_weight, weights, vectors):
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            with tf.autodiff.ForwardAccumulator(trainable, vectors) as accumulator:
                y_pred = forward(trainable, non_trainable, x)
            jv = accumulator.jvp(y_pred, unconnected_gradients=zero)
        outputs = tf.nest.map_structure(tf.stop_gradient, y_pred)
        with tf.GradientTape() as outer:
            outer.watch(outputs)
            with tf.GradientTape() as inner:
                inner.watch(outputs)
                loss = output_loss(outputs, y, sample_weight, weights)
            grads = inner.gradient(loss, outputs, unconnected_gradients=zero)
        hjv = outer.gradient(grads, outputs, output_gradients=jv, unconnected_gradients=zero)
        return tape.gradient(y_pred, trainable, output_gradients=hjv, unconnected_gradients=zero)

    return _compiled(ggn)


@contextlib.contextmanager
def short_lived_graphs() -> Iterator[None]:
    """Run TensorFlow functions without Grappler, its graph optimiser, inside the block.

    Grappler rewrites every new function graph on its first call (constant
    folding, op fusion, layout, ...). That pays off for a model trained long;
    the tour traces one small model per configuration and runs it for a few
    hundred steps, where the rewriting costs more than it saves (the tour's
    time with and without it is in ``benchmarks/README.md``). The numbers do
    not change: Grappler only rewrites how a
    graph computes, not what. The previous setting comes back on exit, also
    when the block raises; functions first run inside the block stay
    unoptimised, except a probe's Hessian-vector products, which run many
    times and switch Grappler on for their own calls
    (``tensorflow_linearize._optimised``).
    """
    previous = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": previous})
