"""The full-sample loss and gradient over a probe's micro-batches: what the probe and gate share.

```
L(θ) = Σ_b L_b(θ),   g = Σ_b ∇L_b(θ)   (summed in float64 on the host, then over processes)
```

``HessianProbe.loss()`` / ``gradient()`` and the gate (``GradientNorm``) both
call ``loss_and_gradient``, with one compiled function per engine, so they
give the same numbers bit for bit. Where the backend offers
``flat_gradient_function`` (JAX) each micro-batch's ``[vec(∇L_b), L_b]`` comes
back as one vector: one copy to the host instead of one per variable and one
for the loss, and one float64 buffer holds the sums. On TensorFlow and torch
one vector measured no faster on CPU (``benchmarks/bench_gate_call.py``).

Example:
    >>> import keras, numpy as np
    >>> from kerasnotes.curvature.engine import prepared
    >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    >>> m.set_weights([np.array([[2.0]], "float32")])
    >>> engine, batches, _ = prepared(m, np.ones((4, 1)), np.zeros((4, 1)), "mse", 3, None,
    ...                               "inference")
    >>> w = [keras.ops.convert_to_tensor(v.value) for v in m.trainable_variables]
    >>> loss_and_gradient(engine, w, [], batches, flat_gradient(engine))   # L = w², dL/dw = 2w
    (4.0, array([4.]))
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
from keras import ops

from kerasnotes import backends
from kerasnotes.curvature.flat import to_flat
from kerasnotes.curvature.placement import process_sum

# Each engine's compiled [vec(g), L] function (None where the backend offers none), built
# once and shared by the probe and every gate of one (model, loss, bn_mode).
_FLAT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def flat_gradient(engine: Any) -> Any:
    """The backend's ``flat_gradient_function`` of ``engine``'s objective, or None (TF, torch)."""
    if engine not in _FLAT:
        build = getattr(backends.active(), "flat_gradient_function", None)
        _FLAT[engine] = None if build is None else build(engine.objective)
    return _FLAT[engine]


def loss_and_gradient(
    engine: Any, trainable: list, non_trainable: list, batches: Any, flat: Any
) -> tuple[float, np.ndarray]:
    """``(L, g)`` at the given weights: a float and a flat float64 vector.

    Args:
        engine: the probe's compiled functions (``engine.prepared``).
        trainable, non_trainable: the weights' values as backend tensors.
        batches: the micro-batches (``sources.Batches``), read once.
        flat: ``flat_gradient(engine)``, or None for one copy per variable.
    """
    summed = None  # [Σ_b vec(∇L_b), Σ_b L_b] in float64
    for x, y, sw, w in batches.passing("gradient"):
        if flat is None:
            value, grads = engine.value_and_grad(trainable, non_trainable, x, y, sw, w)
            part = np.append(to_flat(grads), float(ops.convert_to_numpy(value)))
        else:
            part = ops.convert_to_numpy(flat(trainable, non_trainable, x, y, sw, w))
        # float64 sums on the host (float32 + float64 widens exactly): a float32 sum, or the
        # norm, on the device would save ~0.05 ms of a ~4 ms gate and change the last bits.
        if summed is None:
            summed = np.array(part, dtype=np.float64)  # a copy: the sums go into it
        else:
            summed += part
    # Several processes (placement.py): every shard's sums, added; else unchanged.
    summed = process_sum(summed)
    return float(summed[-1]), summed[:-1]
