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
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


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
