"""Gradients and Hessian-vector products of a Keras objective on JAX.

```
g = ∇L(θ),      Hv = ∇(g · v)  (reverse over reverse)  or  Hv = jvp(∇L, θ, v)  (forward over reverse)
```

Both are ``jax.jit``-compiled: one trace per input shape.

Forward over reverse is the default (``HVP_MODE``): it skips the second
reverse pass's stored activations and measured cheaper than reverse over
reverse. The linearized product below runs ``jax.linearize`` once per probe,
then only the linear JVP for each vector, so it pays after the first product.
The measured ratios (HVP / gradient time, peak memory) are in
``benchmarks/README.md``, produced by ``benchmarks/bench_hvp.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import jax
import jax.numpy as jnp

from kerasnotes import _validation

HVP_MODES = ("reverse_over_reverse", "forward_over_reverse")
HVP_MODE = "forward_over_reverse"


def gradient_function(objective: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights) -> (loss, grads)``."""
    return jax.jit(jax.value_and_grad(objective))


def group_gradient_function(objective: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, rows, weights) -> [L_1..L_K, G (K·K)]``.

    ``rows`` (K × n ints) picks K groups of rows of ``x, y`` on the device; ``L_k``
    and ``g_k`` are the objective and its gradient on group k, ``G_kl = g_k · g_l``
    their Gram matrix (row-major). The K gradients are one ``jax.vmap``-ed
    gradient (one trace, one compile, one dispatch); only K + K² numbers leave
    the device.
    """
    value_and_grad = jax.value_and_grad(objective)

    def stats(trainable, non_trainable, x, y, rows, weights):
        def one_group(picked):
            take = lambda a: jnp.take(a, picked, axis=0)  # noqa: E731
            xs, ys = jax.tree.map(take, x), jax.tree.map(take, y)
            return value_and_grad(trainable, non_trainable, xs, ys, None, weights)

        losses, grads = jax.vmap(one_group)(rows)
        flat = jnp.concatenate([g.reshape(g.shape[0], -1) for g in grads], axis=1)
        return jnp.concatenate([losses, (flat @ flat.T).reshape(-1)])

    return jax.jit(stats)


def hvp_function(objective: Callable, mode: str = HVP_MODE) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights, v) -> Hv`` (lists of arrays)."""
    grad = jax.grad(objective)

    if mode == "forward_over_reverse":

        def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
            def grad_at(params):
                return grad(params, non_trainable, x, y, sample_weight, weights)

            return jax.jvp(grad_at, (trainable,), (vectors,))[1]

        return jax.jit(hvp)

    if mode == "reverse_over_reverse":

        def projected_grad(params, non_trainable, x, y, sample_weight, weights, vectors):
            grads = grad(params, non_trainable, x, y, sample_weight, weights)
            return sum(jnp.vdot(g, v) for g, v in zip(grads, vectors, strict=True))

        return jax.jit(jax.grad(projected_grad))

    raise ValueError(_validation.message("mode", mode, f"one of {HVP_MODES}"))


def linearized_hvp(objective: Callable) -> Callable:
    """``prepare(trainable, non_trainable, x, y, sw, weights) -> apply(v) -> Hv``.

    ``prepare`` runs ``jax.linearize`` on the gradient once (forward and
    backward pass, residuals kept); each ``apply`` is the compiled linear JVP
    alone. Valid because a probe's weights and data never change.
    """
    grad = jax.grad(objective)

    @jax.jit
    def linearize(trainable, non_trainable, x, y, sample_weight, weights):
        def grad_at(params):
            return grad(params, non_trainable, x, y, sample_weight, weights)

        return jax.linearize(grad_at, trainable)[1]

    @jax.jit
    def apply_linear(linear, vectors):
        return linear(vectors)

    def prepare(trainable, non_trainable, x, y, sample_weight, weights):
        linear = linearize(trainable, non_trainable, x, y, sample_weight, weights)

        def apply(vectors):
            return apply_linear(linear, vectors)

        # The linear map is a pytree whose leaves are the residuals it holds.
        apply.state_bytes = sum(int(leaf.nbytes) for leaf in jax.tree_util.tree_leaves(linear))
        return apply

    return prepare


def loss_function(objective: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights) -> loss`` (no gradient)."""
    return jax.jit(objective)


def batched_loss_function(objective: Callable) -> Callable:
    """Compiled ``(stacked_trainable, non_trainable, x, y, sw, weights) -> losses``.

    ``jax.vmap`` over a leading axis of every trainable array: one call
    evaluates the loss at a whole chunk of weight settings (a landscape's grid
    points), so the model's matrix products become batched ones.
    """
    return jax.jit(jax.vmap(objective, in_axes=(0, None, None, None, None, None)))


def ggn_function(forward: Callable, output_loss: Callable) -> Callable:
    """Compiled ``(trainable, non_trainable, x, y, sw, weights, v) -> Jᵀ H_ℓ J v``.

    ``jax.linearize`` runs the forward pass once and gives ``v -> Jv`` (the
    JVP); ``jax.linear_transpose`` of that map is the VJP ``u -> Jᵀu``, so no
    second forward pass is needed. ``H_ℓ`` acts in output space by forward
    over reverse on the loss of the outputs.
    """

    def ggn(trainable, non_trainable, x, y, sample_weight, weights, vectors):
        def outputs(params):
            return forward(params, non_trainable, x)

        def loss_grad(y_pred):
            return jax.grad(output_loss)(y_pred, y, sample_weight, weights)

        y_pred, jvp = jax.linearize(outputs, trainable)
        jv = jvp(vectors)
        hjv = jax.jvp(loss_grad, (y_pred,), (jv,))[1]
        return jax.linear_transpose(jvp, trainable)(hjv)[0]

    return jax.jit(ggn)


def short_lived_graphs() -> contextlib.AbstractContextManager[None]:
    """Settings for many short training runs (the tour): none on this backend.

    XLA compiles each function whole; there is no separate optimiser pass to
    skip for short runs.
    """
    return contextlib.nullcontext()
