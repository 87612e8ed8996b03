"""Where a probe's micro-batches live: split over the devices of a Keras distribution.

With a distribution set (``keras.distribution.set_distribution(DataParallel())``,
on JAX), each micro-batch is split along its first axis over the mesh's batch
devices while the weights stay replicated, so every compiled product (loss,
gradient, HVP, GGN product) runs on all devices at once and the backend's
partitioner adds the reduction across them:

```
∇L = Σ_b Σ_{d ∈ devices} Σ_{i ∈ shard(b, d)} ∇ℓ_i        (an all-reduce over d)
```

The same sum in another order, so every result equals the one-device value to
round-off. A micro-batch whose size the devices do not divide is left whole
(replicated): the numbers are the same, only that batch is not split. Without a
distribution this is ``keras.ops.convert_to_tensor``.

Processes (PyTorch, ``torch.distributed`` initialised, e.g. under ``torchrun``):
each process holds its own shard of the data, and the probe adds its local sums
over its micro-batches, then sums them over the processes (``process_sum``, an
all-reduce in the backend):

```
w_bk = D_bk / Σ_ranks Σ_b D_bk,   r_b = n_b / Σ_ranks n        (global denominators)
L = Σ_ranks Σ_b L_b,   ∇L, Hv likewise                         (one all-reduce per product)
```

so every process sees the loss, gradient and products of all shards together,
identical on every rank, and the solvers (seeded alike) take identical steps.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import backends


def batch_devices() -> int:
    """How many devices a micro-batch is split over: the distribution's batch axis, else 1.

    Example:
        >>> batch_devices()   # no distribution set
        1
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    return int(mesh.shape[list(mesh.axis_names).index(distribution.batch_dim_name)])


def batch_tensor(array: np.ndarray) -> Any:
    """``array`` as a backend tensor, split along axis 0 over the distribution's batch devices.

    Args:
        array: one micro-batch's inputs, labels or sample weights (first axis: samples).

    Example:
        >>> import numpy as np
        >>> t = batch_tensor(np.ones((4, 2), "float32"))   # no distribution: one device
        >>> tuple(t.shape)
        (4, 2)
    """
    tensor = ops.convert_to_tensor(array)
    distribution = keras.distribution.distribution()
    devices = batch_devices()
    if distribution is None or devices == 1 or array.ndim == 0 or array.shape[0] % devices:
        return tensor
    return keras.distribution.distribute_tensor(
        tensor, distribution.get_data_layout(tuple(array.shape))
    )


# ---------------------------------------------------------------- processes


def process_count() -> int:
    """How many processes hold a shard of the probe's data: the backend's group, else 1.

    Example:
        >>> process_count()   # one process (no torch.distributed group)
        1
    """
    hook = getattr(backends.active(), "process_count", None)
    return 1 if hook is None else int(hook())


def process_sum(array: Any) -> np.ndarray:
    """``Σ_processes array`` in float64, the same on every process; ``array`` itself in one.

    A collective: under several processes every one must call it, in the same
    order, with the same shape.

    Example:
        >>> process_sum(np.array([1.5, 2.0]))   # one process: the array itself
        array([1.5, 2. ])
    """
    array = np.asarray(array, dtype=np.float64)
    if process_count() == 1:
        return array
    return backends.active().process_sum(array)
