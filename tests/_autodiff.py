"""Dense reference Hessians by the active backend's own autodiff, for the tests.

```
H = ∂²f/∂θ²   for f(θ) = loss_of(θ, split), θ one flat float32 vector
JAX: jax.hessian;  torch: torch.autograd.functional.hessian;  TF: jacobian of a tape's gradient
```

None of kerasnotes' HVP code runs here, so it checks the probe independently.
``split(θ)`` cuts θ into the pieces of ``sizes`` with the backend's own op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np


def backend_hessian(loss_of: Callable, flat0: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """The dense Hessian of ``loss_of(flat, split)`` at ``flat0``, as float64 numpy."""
    backend = keras.backend.backend()
    sizes = [int(s) for s in sizes]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        bounds = np.cumsum(sizes)[:-1].tolist()
        hess = jax.hessian(lambda f: loss_of(f, lambda v: jnp.split(v, bounds)))(jnp.asarray(flat0))
        return np.asarray(hess, np.float64)
    if backend == "torch":
        import torch

        def f(flat):
            return loss_of(flat, lambda v: torch.split(v, sizes))

        return torch.autograd.functional.hessian(f, torch.tensor(flat0)).numpy().astype(np.float64)
    import tensorflow as tf

    flat = tf.constant(flat0)
    with tf.GradientTape() as outer:
        outer.watch(flat)
        with tf.GradientTape() as inner:
            inner.watch(flat)
            loss = loss_of(flat, lambda v: tf.split(v, sizes))
        grad = inner.gradient(loss, flat)
    return outer.jacobian(grad, flat).numpy().astype(np.float64)
